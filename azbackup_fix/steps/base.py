"""The Step base class and the context steps run in.

A step is a frozen dataclass naming one change with its exact target. ``describe()`` says
what it would do (for plans); ``run(ctx)`` does it and returns a
:class:`~azbackup_fix.models.StepOutcome`, or raises a library error the runner turns
into a failed or timed-out outcome. Steps never import ``azure``; they write through the
gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..models.events import EventSink, Interrupt, RunEvent
from ..models.rails import GuardRail
from ..models.report import DetailValue, StepOutcome, StepStatus

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..models import Lock

__all__ = ["Step", "StepContext"]


@dataclass
class StepContext:
    """What steps share during one run: the gateway, the journal and the locks removed so far.

    ``sleep`` is the gateway transport's (virtual in the sandbox), so domain waits cost no
    real time in tests. ``journal`` may be ``None`` only where no lock is touched.
    """

    gateway: Gateway
    journal: Any = None
    run_id: str | None = None
    sleep: Callable[[float], None] = time.sleep
    lock_entries: dict[str, Any] = field(default_factory=dict)  # folded lock id -> journal entry id
    removed_locks: dict[str, Lock] = field(default_factory=dict)  # folded lock id -> lock as it was
    triggered_jobs: list[str] = field(default_factory=list)  # job ids this run started
    events: EventSink | None = None  # progress (the CLI renders it); the library never prints
    interrupt: Interrupt = field(default_factory=Interrupt)  # the first Ctrl-C: start nothing new
    guest_probes: dict[str, Any] = field(default_factory=dict)  # folded VM id -> the latest guest probe

    def emit(self, event: RunEvent) -> None:
        if self.events is not None:
            self.events(event)

    def wait_kwargs(self, target: str) -> dict[str, Any]:
        """What every domain wait of a step passes on: progress, the interrupt, its target."""
        return {"events": self.events, "interrupt": self.interrupt, "target": target,
                "since": self.gateway.counter.server_time}  # ARM's clock (virtual in the sandbox)


@dataclass(frozen=True)
class Step:
    """One change with an exact target; subclasses set the class attributes."""

    kind: ClassVar[str]
    actions: ClassVar[tuple[str, ...]] = ()  # RBAC actions the step needs
    destructive: ClassVar[bool] = False  # deletes something
    disruptive: ClassVar[bool] = False  # interrupts the workload or changes protection
    always: ClassVar[bool] = False  # runs even after an earlier step failed (lock restore)
    rail: ClassVar[GuardRail | None] = None  # the guard rail that must be given to run it

    @property
    def target(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def run(self, ctx: StepContext) -> StepOutcome:
        raise NotImplementedError

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        """Facts about the target worth reporting in a plan (e.g. the lock's level and notes)."""
        return ()

    def rails(self) -> tuple[GuardRail, ...]:
        """Every guard rail this step needs: its class's ``rail``, plus any its target adds (a guest fix
        that restarts a service the workload uses also needs ``allow_disruptive``)."""
        return (self.rail,) if self.rail is not None else ()

    def outcome(self, status: StepStatus, *, reason: str | None = None, refused: bool = False,
                detail: tuple[tuple[str, DetailValue], ...] = ()) -> StepOutcome:
        return StepOutcome(self.kind, self.target, self.describe(), status, reason=reason, refused=refused,
                           detail=(*self.details(), *detail))

    def planned(self) -> StepOutcome:
        return self.outcome(StepStatus.PLANNED)
