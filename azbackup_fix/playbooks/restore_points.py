"""clear-restore-point-limit: remove the locks that block cleanup (journaled), delete this VM's
restore point collections, put the locks back, then back up."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..ids import ScopeKind
from ..models import Lock, VmObservation
from ..steps import (
    DELETE_ATTEMPTS,
    DeleteLock,
    DeleteRestorePointCollection,
    RestoreLock,
    Step,
    TriggerBackup,
)
from .base import Plan, Playbook
from .common import TRIGGER_OPTIONS, failure_title, trigger_step
from .registry import register

__all__ = ["ClearRestorePointLimit"]

LIMIT_CODE = "UserErrorRpCollectionLimitReached"


def _blocking_locks(obs: VmObservation) -> tuple[tuple[Lock, ...], tuple[str, ...]]:
    """Locks the scope rules allow removing, and notes on the ones left alone (DESIGN §4)."""
    mine = {c.ref.id.casefold() for c in obs.vm_collections}
    groups = {c.ref.resource_group.casefold() for c in obs.vm_collections}
    keep: list[Lock] = []
    notes: list[str] = []
    for lock in obs.locks:
        if lock.scope_kind is ScopeKind.SUBSCRIPTION:
            continue  # refused by the caller
        rg = (lock.resource_group or "").casefold()
        in_rp_group = obs.is_restore_point_rg(lock.resource_group)
        in_vm_group_with_points = rg == obs.vm_ref.resource_group.casefold() and rg in groups
        if not (in_rp_group or in_vm_group_with_points):
            if rg == obs.vm_ref.resource_group.casefold():
                notes.append(f"lock '{lock.name}' on {lock.resource_group} does not block cleanup; left in place")
            continue
        if lock.scope_kind is ScopeKind.RESOURCE and lock.scope.id.casefold() not in mine:
            notes.append(f"lock '{lock.name}' on {lock.scope.name} guards another resource; left in place")
            continue
        keep.append(lock)
    ordered = sorted(keep, key=lambda lk: lk.ref.id.casefold())
    return tuple(ordered), tuple(notes)


@register
class ClearRestorePointLimit(Playbook):
    id = "clear-restore-point-limit"
    title = "Clear the restore point collection limit"
    error_codes = (LIMIT_CODE, "RestorePointResourceGroupLocked", "BackUpOperationFailed",
                   "BackUpOperationFailedV2")
    actions = (
        "Microsoft.Authorization/locks/read",
        "Microsoft.Authorization/locks/delete",
        "Microsoft.Authorization/locks/write",
        "Microsoft.Compute/restorePointCollections/read",
        "Microsoft.Compute/restorePointCollections/delete",
        "Microsoft.Compute/locations/operations/read",
        *TriggerBackup.actions,
    )
    destructive = True
    options = MappingProxyType({
        "restore_point_limit": (int, 18),
        "delete_attempts": (int, DELETE_ATTEMPTS),
        **TRIGGER_OPTIONS,
    })

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        if obs.vm is None:
            return Plan(cls.id, target, notes=("the VM does not exist; nothing to clean up",))
        if obs.in_progress_jobs_here:
            return Plan(cls.id, target, notes=(
                f"backup job {obs.in_progress_jobs_here[0].ref.name} is in progress; run again when it finishes",))
        count = obs.restore_point_count
        at_limit = count >= opts["restore_point_limit"] or (failure_title(obs) or "").casefold() == LIMIT_CODE.casefold()
        if not at_limit:
            return Plan(cls.id, target, notes=(
                f"{count} restore points of {opts['restore_point_limit']}; the limit is not reached",))
        if not obs.vm_collections:
            return Plan(cls.id, target, notes=("no restore point collection of this VM was found",))
        sub_locks = obs.subscription_locks
        if sub_locks:
            names = ", ".join(f"'{lk.name}'" for lk in sub_locks)
            return Plan(cls.id, target, refusals=(
                f"subscription lock(s) {names} block the cleanup; subscription locks are never removed here",))
        locks, notes = _blocking_locks(obs)
        steps: list[Step] = [DeleteLock(lk, why="it blocks restore point cleanup") for lk in locks]
        steps += [
            DeleteRestorePointCollection(c.ref, obs.vm_ref, len(c.restore_points), opts["delete_attempts"])
            for c in sorted(obs.vm_collections, key=lambda c: c.ref.id.casefold())
        ]
        steps += [RestoreLock(lk) for lk in reversed(locks)]
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps),
                    notes=(f"{count} restore points reach the limit of {opts['restore_point_limit']}", *notes))
