"""Per-resource-group lock coordination for fix-all: several VMs share a restore-point resource group
(and its lock), so the fleet removes each blocking lock once, runs every VM that needed it, and puts
it back once, after the last of them is done (and in a ``finally``, whatever happened).

The coordinator uses the same steps as a single run (:class:`~azbackup_fix.steps.DeleteLock` /
:class:`~azbackup_fix.steps.RestoreLock`) under its own journal run, so every removal is journaled
before the delete and ``recover`` restores it after a crash. While the coordinator's run is active,
the per-VM runs see the lock gone (their plans then skip lock steps) and never claim its entry.

Order and lock policy are a single run's: a lock comes back only once every VM that needed it has
finished its run, verification backup included (the scanner waits for those backups), and a lock
whose plans said ``leave-lock-removed`` (``restore_locks: false``) is left removed, journaled as such.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import AzBackupFixError
from ..gateway import Gateway
from ..ids import ScopeKind
from ..models import Lock, VmObservation
from ..models.report import StepStatus
from ..playbooks import Plan
from ..steps import DeleteLock, LeaveLockRemoved, RestoreLock, StepContext

__all__ = ["LockCoordinator", "LockAction", "left_by_plans", "shared_locks"]


@dataclass(frozen=True, slots=True)
class LockAction:
    step: str  # delete-lock | restore-lock | leave-lock-removed
    status: str
    lock_id: str
    detail: str | None = None


def _allowed(lock: Lock, obs: VmObservation) -> bool:
    """The runner's guard rail for lock steps: restore-point RG or the VM's own RG, never a subscription lock."""
    if lock.scope_kind is ScopeKind.SUBSCRIPTION:
        return False
    rg = (lock.resource_group or "").casefold()
    return obs.is_restore_point_rg(lock.resource_group) or rg == obs.vm_ref.resource_group.casefold()


def shared_locks(plans: Mapping[str, tuple[VmObservation, Iterable[Plan]]]) -> dict[str, tuple[Lock, set[str]]]:
    """Locks that planned DeleteLock steps would remove, with the VMs (folded ids) needing each."""
    out: dict[str, tuple[Lock, set[str]]] = {}
    for vm_key, (obs, vm_plans) in plans.items():
        for plan in vm_plans:
            if plan.refusals:
                continue
            for step in plan.steps:
                if isinstance(step, DeleteLock) and _allowed(step.lock, obs):
                    entry = out.setdefault(step.lock.ref.id.casefold(), (step.lock, set()))
                    entry[1].add(vm_key)
    return out


def left_by_plans(plans: Mapping[str, tuple[VmObservation, Iterable[Plan]]]) -> set[str]:
    """Folded ids of locks some plan leaves removed (``restore_locks: false``): the lock policy the
    coordinator follows for them."""
    return {step.lock.ref.id.casefold() for _, vm_plans in plans.values() for plan in vm_plans
            for step in plan.steps if isinstance(step, LeaveLockRemoved)}


class LockCoordinator:
    """Removes shared locks once and restores each after its last VM is done. Thread-safe."""

    def __init__(self, gateways: Mapping[str, Gateway], journal: object, run_id: str,
                 locks: Mapping[str, tuple[Lock, set[str]]], *, leave: Iterable[str] = ()) -> None:
        self._gateways = {k.casefold(): g for k, g in gateways.items()}
        self._journal = journal
        self._run_id = run_id
        self._locks = {k: lock for k, (lock, _) in locks.items()}
        self._waiting = {k: set(vms) for k, (_, vms) in locks.items()}
        self._leave = {k.casefold() for k in leave}
        self._contexts: dict[str, StepContext] = {}
        self._mutex = threading.Lock()
        self.actions: list[LockAction] = []

    def _ctx(self, lock: Lock) -> StepContext:
        sub = lock.ref.scope.subscription.casefold()
        if sub not in self._contexts:
            gw = self._gateways[sub]
            self._contexts[sub] = StepContext(gateway=gw, journal=self._journal, run_id=self._run_id, sleep=gw.sleep)
        return self._contexts[sub]

    def _record(self, step: str, status: StepStatus | str, lock: Lock, detail: str | None = None) -> None:
        value = status.value if isinstance(status, StepStatus) else status
        self.actions.append(LockAction(step, value, lock.ref.id, detail))

    def remove_all(self) -> None:
        """Remove every shared lock once (journaled first). A failure leaves that lock to the VMs' own runs."""
        with self._mutex:
            for key, lock in self._locks.items():
                try:
                    outcome = DeleteLock(lock, why="shared by VMs of this fleet run").run(self._ctx(lock))
                    self._record("delete-lock", outcome.status, lock, outcome.reason)
                except AzBackupFixError as exc:
                    self._record("delete-lock", "failed", lock, str(exc))
                    if key not in self._ctx(lock).removed_locks:  # still there: the VMs' runs handle it
                        self._waiting.pop(key, None)

    def vm_done(self, vm_key: str) -> None:
        """This VM no longer needs its locks gone; restore the locks it was the last user of."""
        with self._mutex:
            for key in [k for k, vms in self._waiting.items() if vm_key in vms]:
                vms = self._waiting[key]
                vms.discard(vm_key)
                if not vms:
                    del self._waiting[key]
                    self._restore(self._locks[key])

    def _restore(self, lock: Lock) -> None:
        step = LeaveLockRemoved(lock) if lock.ref.id.casefold() in self._leave else RestoreLock(lock)
        try:
            outcome = step.run(self._ctx(lock))
            warning = outcome.detail_value("warning")  # a ReadOnly lock back: the next backup fails
            self._record(step.kind, outcome.status, lock, outcome.reason or (str(warning) if warning else None))
        except AzBackupFixError as exc:  # the journal keeps it pending: `recover` puts it back
            self._record(step.kind, "failed", lock, str(exc))

    def restore_remaining(self) -> None:
        """Put back (or leave, as planned) every lock still removed (the run's ``finally``)."""
        with self._mutex:
            for key in list(self._waiting):
                del self._waiting[key]
                self._restore(self._locks[key])
