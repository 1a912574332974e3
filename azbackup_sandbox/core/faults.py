"""Fault injection per route: error statuses, Retry-After, latency, dropped connections, lost answers,
failed LROs.

A rule matches by operation id (e.g. `VirtualMachineExtensions_Delete`), by HTTP method and/or a regex
on the path; it fires `times` times (-1 = forever) after letting `skip` matching requests through.
What it does when it fires (JSON fields of `POST /_sandbox/faults`):

    status, code, message, retry_after   answer this ARM error instead of the handler (nothing changes)
    latency_ms                           delay the answer (in-process: the virtual clock moves)
    drop: true (or "before")             drop the connection before the request is processed: nothing
                                         changes (in-process: azure-core ServiceResponseError; server:
                                         the socket closes without a byte of answer)
    drop_after: true (or drop: "after")  the lost answer: the request IS processed (a trigger creates its
                                         job, a PUT writes) and then the connection drops the same way,
                                         so a client cannot tell whether its non-idempotent call took
                                         effect -- the case a client must resolve by reading the state
                                         before it retries. The request log keeps the status the handler
                                         produced, flagged `fault`.
    lro_failure: {code, message}         the LRO this request starts ends Failed with this error
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FaultRule", "Faults"]


@dataclass
class FaultRule:
    operation: str | None = None
    method: str | None = None
    path: str | None = None  # regex, searched case-insensitively in the request path
    status: int | None = None  # answer this status with an ARM error envelope instead of the handler
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None  # virtual seconds, sent as Retry-After
    latency_ms: float = 0.0
    drop: bool = False  # drop the connection before processing (in-process: azure-core ServiceResponseError)
    drop_after: bool = False  # process the request, then drop the connection: the answer is lost
    lro_failure: dict[str, str] | None = None  # the LRO this request starts ends Failed with this error
    times: int = 1
    skip: int = 0
    fired: int = field(default=0)
    seen: int = field(default=0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        known = {f for f in cls.__dataclass_fields__ if f not in ("fired", "seen")}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        data = dict(data)
        when = data.get("drop")
        if isinstance(when, str):  # "drop": "before" | "after", the spelled-out form of drop / drop_after
            if when.lower() not in ("before", "after"):
                raise ValueError(f"drop must be true, false, 'before' or 'after', not '{when}'")
            data["drop"], data["drop_after"] = when.lower() == "before", when.lower() == "after"
        rule = cls(**data)
        if rule.path:
            re.compile(rule.path)
        if not (rule.status or rule.latency_ms or rule.drop or rule.drop_after or rule.lro_failure):
            raise ValueError("a fault rule needs one of status, latency_ms, drop, drop_after or lro_failure")
        if rule.drop_after and (rule.status or rule.drop):
            # The handler must run for its answer to be lost; an injected error or an early drop stops it.
            raise ValueError("drop_after cannot be combined with status or drop")
        return rule

    def matches(self, operation: str, method: str, path: str) -> bool:
        if self.operation and self.operation.lower() != operation.lower():
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.path and not re.search(self.path, path, re.IGNORECASE):
            return False
        return True

    @property
    def exhausted(self) -> bool:
        return self.times >= 0 and self.fired >= self.times

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._pending_lro: dict[str, str] | None = None

    def add(self, rule: FaultRule | dict[str, Any]) -> FaultRule:
        rule = rule if isinstance(rule, FaultRule) else FaultRule.from_dict(rule)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()
        self._pending_lro = None

    def pick(self, operation: str, method: str, path: str) -> FaultRule | None:
        """The first live rule for this request, counting it as fired; None lets the request through."""
        for rule in self.rules:
            if rule.exhausted or not rule.matches(operation, method, path):
                continue
            rule.seen += 1
            if rule.seen <= rule.skip:
                continue
            rule.fired += 1
            return rule
        return None

    def arm_lro_failure(self, error: dict[str, str] | None) -> None:
        self._pending_lro = error

    def take_lro_failure(self) -> dict[str, str] | None:
        error, self._pending_lro = self._pending_lro, None
        return error
