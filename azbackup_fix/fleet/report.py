"""The fleet report: one :class:`VmResult` per examined VM, counts by error code, outcome and subscription.

JSON form (``FLEET_SCHEMA`` = ``azbackup-fix/fleet/v1``)::

    {
      "schema": "azbackup-fix/fleet/v1",
      "scan_id": "scan-...", "resumed": false, "mode": "diagnose" | "apply",
      "discovery": {"source": "resource-graph" | "vault-listing", "fallback_reason": null,
                    "vms_seen": 10000, "candidates": 1400},
      "shard": "1/1", "request_count": 123, "throttled": 0, "elapsed_seconds": 12.3,
      "exit_code": 4,
      "counts": {"by_error_code": {...}, "by_outcome": {...}, "by_subscription": {...}},
      "vms": [{"vm": "/subscriptions/...", "subscription": "...", "outcome": "needs-fix",
               "reasons": [...], "confirmed": true, "error_code": "UserError...", "findings": [...],
               "playbooks": [...], "steps": [{"step": ..., "status": ..., "target": ...}], "detail": "..."}]
    }

New optional keys may be added within v1; a breaking change bumps the version.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FLEET_SCHEMA", "FleetReport", "Outcome", "VmResult", "render_fleet"]

FLEET_SCHEMA = "azbackup-fix/fleet/v1"


class Outcome:
    """Per-VM outcomes (strings, stable in the JSON schema)."""

    HEALTHY = "healthy"  # a signal, but the confirmation and diagnosis found nothing wrong
    NEEDS_FIX = "needs-fix"  # diagnose: a documented Azure-side fix applies
    REPORT_ONLY = "report-only"  # a problem with no Azure-side fix (guest steps, disk size, ...)
    FIXED = "fixed"
    NOTHING_TO_DO = "nothing-to-do"  # apply: the plan was empty by then
    FAILED = "failed"  # a step failed or timed out
    REFUSED = "refused"  # a guard rail or permission stopped it
    THROTTLED = "throttled"  # ARM asked to wait longer than the cap: the VM was left for a later run
    ERROR = "error"  # could not be examined (not found, forbidden, ...)

    ALL = (HEALTHY, NEEDS_FIX, REPORT_ONLY, FIXED, NOTHING_TO_DO, FAILED, REFUSED, THROTTLED, ERROR)
    PROBLEMS = (NEEDS_FIX, REPORT_ONLY, FAILED, REFUSED, THROTTLED, ERROR)


@dataclass(frozen=True, slots=True)
class VmResult:
    vm: str
    subscription: str
    outcome: str
    reasons: tuple[str, ...] = ()
    confirmed: bool | None = None  # the job details confirmed the failure (None: no job to confirm)
    error_code: str | None = None
    findings: tuple[str, ...] = ()  # finding codes, in the guides' order
    playbooks: tuple[str, ...] = ()
    steps: tuple[tuple[str, str, str], ...] = ()  # (step, status, target)
    detail: str | None = None
    requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"vm": self.vm, "subscription": self.subscription, "outcome": self.outcome,
                "reasons": list(self.reasons), "confirmed": self.confirmed, "error_code": self.error_code,
                "findings": list(self.findings), "playbooks": list(self.playbooks),
                "steps": [{"step": s, "status": st, "target": t} for s, st, t in self.steps],
                "detail": self.detail, "requests": self.requests}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VmResult:
        return cls(vm=data["vm"], subscription=data["subscription"], outcome=data["outcome"],
                   reasons=tuple(data.get("reasons") or ()), confirmed=data.get("confirmed"),
                   error_code=data.get("error_code"), findings=tuple(data.get("findings") or ()),
                   playbooks=tuple(data.get("playbooks") or ()),
                   steps=tuple((s["step"], s["status"], s["target"]) for s in data.get("steps") or ()),
                   detail=data.get("detail"), requests=int(data.get("requests") or 0))


@dataclass(frozen=True, slots=True)
class FleetReport:
    scan_id: str
    mode: str  # diagnose | apply
    source: str
    vms_seen: int
    candidates: int
    vms: tuple[VmResult, ...]
    request_count: int
    throttled: int
    elapsed_seconds: float
    shard: str = "1/1"
    resumed: bool = False
    fallback_reason: str | None = None
    lock_actions: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (step, status, lock id)

    def by_outcome(self) -> dict[str, int]:
        return dict(sorted(Counter(v.outcome for v in self.vms).items()))

    def by_error_code(self) -> dict[str, int]:
        return dict(sorted(Counter(v.error_code or "(none)" for v in self.vms
                                   if v.outcome != Outcome.HEALTHY).items()))

    def by_subscription(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for v in self.vms:
            out.setdefault(v.subscription, Counter())[v.outcome] += 1
        return {sub: dict(sorted(c.items())) for sub, c in sorted(out.items())}

    @property
    def problems(self) -> tuple[VmResult, ...]:
        return tuple(v for v in self.vms if v.outcome in Outcome.PROBLEMS)

    @property
    def exit_code(self) -> int:
        """1 a step failed / a VM could not be examined, 3 refused, 4 fixes planned, 0 otherwise."""
        outcomes = {v.outcome for v in self.vms}
        if outcomes & {Outcome.FAILED, Outcome.ERROR, Outcome.THROTTLED}:
            return 1
        if Outcome.REFUSED in outcomes:
            return 3
        if Outcome.NEEDS_FIX in outcomes:
            return 4
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": FLEET_SCHEMA, "scan_id": self.scan_id, "resumed": self.resumed, "mode": self.mode,
            "discovery": {"source": self.source, "fallback_reason": self.fallback_reason,
                          "vms_seen": self.vms_seen, "candidates": self.candidates},
            "shard": self.shard, "request_count": self.request_count, "throttled": self.throttled,
            "elapsed_seconds": round(self.elapsed_seconds, 3), "exit_code": self.exit_code,
            "counts": {"by_error_code": self.by_error_code(), "by_outcome": self.by_outcome(),
                       "by_subscription": self.by_subscription()},
            "lock_actions": [{"step": s, "status": st, "lock": t} for s, st, t in self.lock_actions],
            "vms": [v.to_dict() for v in self.vms],
        }


def _text(report: FleetReport) -> str:
    lines = [f"scan {report.scan_id} ({report.mode}{', resumed' if report.resumed else ''}, shard {report.shard})",
             f"discovery: {report.source}, {report.vms_seen} VMs seen, {report.candidates} candidates"]
    if report.fallback_reason:
        lines.append(f"  {report.fallback_reason}")
    lines.append(f"requests: {report.request_count}, 429s: {report.throttled}, {report.elapsed_seconds:.1f} s")
    lines.append("by outcome: " + ", ".join(f"{k} {n}" for k, n in report.by_outcome().items()))
    if report.by_error_code():
        lines.append("by error code:")
        lines.extend(f"  {code}: {n}" for code, n in report.by_error_code().items())
    lines.append("by subscription:")
    for sub, counts in report.by_subscription().items():
        lines.append(f"  {sub}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    for step, status, lock in report.lock_actions:
        lines.append(f"lock {step} {status}: {lock}")
    for v in report.vms:
        if v.outcome == Outcome.HEALTHY:
            continue
        name = v.vm.rsplit("/", 1)[-1]
        lines.append(f"- {name} [{v.outcome}] {v.error_code or ''} {'; '.join(v.reasons)}".rstrip())
        if v.playbooks:
            lines.append(f"    playbooks: {', '.join(v.playbooks)}")
        for step, status, _ in v.steps:
            lines.append(f"    {step}: {status}")
        if v.detail:
            lines.append(f"    {v.detail}")
    return "\n".join(lines) + "\n"


def _markdown(report: FleetReport) -> str:
    out = [f"## azbackup-fix scan `{report.scan_id}` ({report.mode})", "",
           f"{report.vms_seen} VMs seen via {report.source}, {report.candidates} candidates, "
           f"{report.request_count} requests, {report.throttled} throttled.", "",
           "| Outcome | VMs |", "|---|---|"]
    out += [f"| {k} | {n} |" for k, n in report.by_outcome().items()]
    out += ["", "| Error code | VMs |", "|---|---|"]
    out += [f"| {k} | {n} |" for k, n in report.by_error_code().items()]
    out += ["", "| VM | Outcome | Error code | Playbooks |", "|---|---|---|---|"]
    out += [f"| `{v.vm.rsplit('/', 1)[-1]}` | {v.outcome} | {v.error_code or ''} | {', '.join(v.playbooks)} |"
            for v in report.vms if v.outcome != Outcome.HEALTHY]
    return "\n".join(out) + "\n"


def render_fleet(report: FleetReport, output: str) -> str:
    if output == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if output == "markdown":
        return _markdown(report)
    return _text(report)
