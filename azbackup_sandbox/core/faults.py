"""Fault injection per route: error statuses, Retry-After, latency, dropped connections, failed LROs.

A rule matches by operation id (e.g. `VirtualMachineExtensions_Delete`), by HTTP method and/or a regex
on the path; it fires `times` times (-1 = forever) after letting `skip` matching requests through."""

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
    drop: bool = False  # drop the connection (in-process: azure-core ServiceResponseError)
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
        rule = cls(**data)
        if rule.path:
            re.compile(rule.path)
        if not (rule.status or rule.latency_ms or rule.drop or rule.lro_failure):
            raise ValueError("a fault rule needs one of status, latency_ms, drop or lro_failure")
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
