"""Results of a remediation run: one outcome per step, per playbook, per target; a versioned JSON form.

JSON form of a :class:`RunReport` (``RUN_SCHEMA`` = ``azbackup-fix/run/v1``)::

    {
      "schema": "azbackup-fix/run/v1",
      "mode": "dry-run" | "apply",
      "target": "/subscriptions/.../virtualMachines/vm1",
      "generated_at": "2025-01-05T02:52:09Z",
      "request_count": 21, "write_count": 0,
      "exit_code": 4,
      "summary": {"planned": 3, "changed": 0, ...},
      "recovered_locks": [...],
      "refusals": ["..."],
      "rails_needed": ["allow_disruptive"],      # guard rails the fix needs that were not given
      "report_only": ["UserErrorUnsupportedDiskSize"],   # causes no step here changes (exit code 5)
      "playbooks": [
        {"playbook": "clear-restore-point-limit", "reason_codes": [...], "notes": [...],
         "verified": true | false | null, "verification": "...",
         "steps": [{"step": "delete-lock", "target": "...", "description": "...", "status": "planned",
                    "reason": null, "error_code": null, "request_id": null, "detail": {...}}]}
      ]
    }

New optional keys may be added within v1; a breaking change bumps the version.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import AzBackupFixError, AzureOperationError, GuardRailError
from .exit_codes import CHANGES_PLANNED, FAILURE, OK, PERMISSION, REPORT_ONLY
from .timestamps import format_timestamp

__all__ = [
    "RUN_SCHEMA",
    "PlaybookResult",
    "RunReport",
    "StepOutcome",
    "StepStatus",
]

RUN_SCHEMA = "azbackup-fix/run/v1"

DetailValue = str | int | float | bool | None


class StepStatus(enum.Enum):
    PLANNED = "planned"  # dry-run: would change this
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # already in the wanted state
    SKIPPED = "skipped"  # not run; ``reason`` says why
    FAILED = "failed"  # ARM said no; ``error_code`` and ``request_id`` say what
    TIMED_OUT = "timed-out"  # a domain wait ran out of time

    @property
    def is_failure(self) -> bool:
        return self in (StepStatus.FAILED, StepStatus.TIMED_OUT)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What happened to one planned step."""

    step: str  # the step kind, e.g. "delete-lock"
    target: str  # the exact ARM id it acts on
    description: str
    status: StepStatus
    reason: str | None = None  # why skipped, failed or timed out
    error_code: str | None = None  # ARM error.code of a failure
    request_id: str | None = None  # x-ms-request-id of a failure
    refused: bool = False  # skipped by a guard rail or a missing permission
    detail: tuple[tuple[str, DetailValue], ...] = ()
    rail: str | None = None  # the guard rail (e.g. "allow_disruptive") whose absence refused it

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", tuple(self.detail))

    def detail_value(self, key: str) -> DetailValue:
        return next((v for k, v in self.detail if k == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "target": self.target,
            "description": self.description,
            "status": self.status.value,
            "reason": self.reason,
            "error_code": self.error_code,
            "request_id": self.request_id,
            "refused": self.refused,
            "rail": self.rail,
            "detail": dict(self.detail),
        }

    @classmethod
    def failure(cls, step: str, target: str, description: str, exc: BaseException,
                detail: tuple[tuple[str, DetailValue], ...] = ()) -> StepOutcome:
        """A failed (or timed-out) outcome from a library error, with ARM's code and request id."""
        from ..errors import WaitTimeoutError

        status = StepStatus.TIMED_OUT if isinstance(exc, WaitTimeoutError) else StepStatus.FAILED
        code = request_id = None
        if isinstance(exc, AzureOperationError):
            code, request_id = exc.arm_code, exc.request_id
        elif _is_permission(exc) and getattr(exc, "arm_code", None):
            code, request_id = exc.arm_code, exc.request_id  # type: ignore[attr-defined]
        elif isinstance(exc, AzBackupFixError):
            code = type(exc).__name__
        return cls(step, target, description, status, reason=str(exc), error_code=code,
                   request_id=request_id, refused=isinstance(exc, GuardRailError) or _is_permission(exc),
                   detail=detail)


def _is_permission(exc: BaseException) -> bool:
    from ..errors import PermissionDeniedError

    return isinstance(exc, PermissionDeniedError)


@dataclass(frozen=True, slots=True)
class PlaybookResult:
    """One playbook's run for one target: its steps' outcomes and the verification."""

    playbook: str
    steps: tuple[StepOutcome, ...] = ()
    reason_codes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the plan found, e.g. "no lock blocks cleanup"
    verified: bool | None = None  # None: not verified (dry-run, or nothing to verify)
    verification: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "reason_codes", "notes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def failed(self) -> tuple[StepOutcome, ...]:
        return tuple(s for s in self.steps if s.status.is_failure)

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "reason_codes": list(self.reason_codes),
            "notes": list(self.notes),
            "verified": self.verified,
            "verification": self.verification,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class RunReport:
    """A plan (dry-run) or an apply for one target: one outcome per step, every playbook's result."""

    target: str
    applied: bool
    playbooks: tuple[PlaybookResult, ...] = ()
    refusals: tuple[str, ...] = ()  # guard rails that stopped a whole playbook or the run
    recovered_locks: tuple[str, ...] = ()  # pending locks from an earlier run, put back first
    request_count: int = 0
    write_count: int = 0
    generated_at: datetime | None = None
    diagnosis_codes: tuple[str, ...] = ()
    extra: Mapping[str, DetailValue] = field(default_factory=dict)
    withheld_rails: tuple[str, ...] = ()  # rails a routing rule needed but was not given
    report_only: tuple[str, ...] = ()  # causes of failing backups that no step here changes
    interrupted: bool = False  # a Ctrl-C stopped the run: steps not started are skipped, locks put back
    pending_locks: tuple[str, ...] = ()  # JournalLockPending: locks a journal holds removed, with `recover`

    def __post_init__(self) -> None:
        for name in ("playbooks", "refusals", "recovered_locks", "diagnosis_codes", "withheld_rails",
                     "report_only", "pending_locks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def mode(self) -> str:
        return "apply" if self.applied else "dry-run"

    @property
    def steps(self) -> tuple[StepOutcome, ...]:
        return tuple(s for p in self.playbooks for s in p.steps)

    @property
    def failures(self) -> tuple[StepOutcome, ...]:
        return tuple(s for s in self.steps if s.status.is_failure)

    @property
    def changed(self) -> tuple[StepOutcome, ...]:
        return tuple(s for s in self.steps if s.status is StepStatus.CHANGED)

    @property
    def planned(self) -> tuple[StepOutcome, ...]:
        return tuple(s for s in self.steps if s.status is StepStatus.PLANNED)

    @property
    def refused(self) -> bool:
        return bool(self.refusals) or bool(self.withheld_rails) or any(s.refused for s in self.steps)

    @property
    def rails_needed(self) -> tuple[str, ...]:
        """The guard rails (keyword names) that would let the fix go ahead, first need first."""
        return tuple(dict.fromkeys((*(s.rail for s in self.steps if s.refused and s.rail), *self.withheld_rails)))

    @property
    def exit_code(self) -> int:
        """The exit-code table (models/exit_codes.py): 1 a step failed (or the fix was not verified),
        3 refusal (a missing permission, or a guard rail not given: see ``rails_needed``), 4 changes
        planned, 5 report-only (backups fail for a cause no step here changes: see ``report_only``),
        0 nothing to do or fixed."""
        if self.failures and not all(s.refused for s in self.failures):
            return FAILURE
        if self.refused:
            return PERMISSION  # a refusal (missing permission) is the cause even when it left the fix unverified
        if self.unverified:
            return FAILURE  # changed, but fresh state does not show it fixed (or could not be read)
        if self.planned:
            return CHANGES_PLANNED
        if self.report_only:
            return REPORT_ONLY
        return OK

    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in StepStatus}
        for step in self.steps:
            counts[step.status.value] += 1
        return counts

    @property
    def unverified(self) -> tuple[PlaybookResult, ...]:
        """Playbooks whose verification on fresh state failed."""
        return tuple(p for p in self.playbooks if p.verified is False)

    def raise_for_failures(self) -> None:
        """Raise AzureOperationError (or GuardRailError) naming the failed steps, if any."""
        real = [s for s in self.failures if not s.refused]
        if real:
            first = real[0]
            names = "; ".join(f"{s.step} {s.target.rsplit('/', 1)[-1]}: {s.reason}" for s in real)
            raise AzureOperationError(f"{len(real)} step(s) failed: {names}", arm_code=first.error_code,
                                      request_id=first.request_id)
        if self.unverified:
            names = "; ".join(f"{p.playbook}: {p.verification}" for p in self.unverified)
            raise AzureOperationError(f"not verified: {names}")
        if self.refused:
            reasons = list(self.refusals) + [s.reason or s.step for s in self.steps if s.refused]
            raise GuardRailError("refused: " + "; ".join(reasons))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RUN_SCHEMA,
            "mode": self.mode,
            "target": self.target,
            "generated_at": format_timestamp(self.generated_at),
            "request_count": self.request_count,
            "write_count": self.write_count,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "diagnosis_codes": list(self.diagnosis_codes),
            "recovered_locks": list(self.recovered_locks),
            "refusals": list(self.refusals),
            "rails_needed": list(self.rails_needed),
            "report_only": list(self.report_only),
            "playbooks": [p.to_dict() for p in self.playbooks],
            **({"extra": dict(self.extra)} if self.extra else {}),
            **({"interrupted": True} if self.interrupted else {}),
            **({"pending_locks": list(self.pending_locks)} if self.pending_locks else {}),
        }
