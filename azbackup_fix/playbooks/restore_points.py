"""clear-restore-point-limit and delete-orphaned-restore-points.

clear-restore-point-limit, in the order that makes the fix hold (guide 000, UserErrorRpCollectionLimitReached):

1. remove the locks that guard this VM's restore points (journaled first): CanNotDelete ones when the
   visible points reach the limit (they stop the service's pruning), ReadOnly ones always (they block
   every backup write, below the limit too);
2. delete this VM's collections, wherever they are, only when the visible points reach the limit;
3. trigger the verification backup and wait for it;
4. only then put the locks back (or, with ``restore_locks: false``, leave them removed, journaled).

A job that claims the limit while fewer points are visible is refused, naming what was searched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from ..ids import ScopeKind
from ..models import Lock, LockLevel, VmObservation
from ..models.options import Option
from ..models.rails import PROTECTION
from ..steps import (
    DELETE_ATTEMPTS,
    READ_ONLY_BACK_WARNING,
    DeleteLock,
    DeleteRestorePointCollection,
    LeaveLockRemoved,
    RestoreLock,
    Step,
    TriggerBackup,
)
from .base import Plan, Playbook, Verification
from .common import TRIGGER_OPTIONS, failure_title, trigger_step
from .registry import register

__all__ = ["ClearRestorePointLimit", "DeleteOrphanedRestorePoints", "limit_outlook"]

LIMIT_CODE = "UserErrorRpCollectionLimitReached"
SERVICE_LIMIT = 18  # instant restore points per VM, across collections and groups (guide 000)

_LOCK_ACTIONS = (
    "Microsoft.Authorization/locks/read",
    "Microsoft.Authorization/locks/delete",
    "Microsoft.Authorization/locks/write",
)
_RPC_ACTIONS = (
    "Microsoft.Compute/restorePointCollections/read",
    "Microsoft.Compute/restorePointCollections/delete",
    "Microsoft.Compute/locations/operations/read",
)
_LOCK_OPTIONS: dict[str, Option] = {
    # Guide 000 recommends not locking the backup service's group: a lock put back makes the limit return.
    "restore_locks": Option(bool, True, help="put removed locks back after the verification backup; false "
                                             "leaves them removed, journaled (CLI --leave-locks-removed)"),
    "delete_attempts": Option(int, DELETE_ATTEMPTS, minimum=1, maximum=10,
                              help="tries per collection delete: the first and up to three retries, as guide 000 says a "
                                   "timed-out delete \"usually succeeds after two or three retries\""),
}


def _removable(obs: VmObservation, locks: tuple[Lock, ...]) -> tuple[tuple[Lock, ...], tuple[str, ...]]:
    """Locks the scope rules allow removing (DESIGN §4), and notes on the ones left alone."""
    keep: list[Lock] = []
    notes: list[str] = []
    vm_rg = obs.vm_ref.resource_group.casefold()
    for lock in locks:
        rg = (lock.resource_group or "").casefold()
        if not (obs.is_restore_point_rg(lock.resource_group) or rg == vm_rg):
            notes.append(f"lock '{lock.name}' on {lock.resource_group} guards this VM's restore points but the "
                         "group is neither a restore-point group nor the VM's; left in place")
            continue
        keep.append(lock)
    guarded = {lk.ref.id.casefold() for lk in locks}
    for lock in obs.locks:
        if lock.ref.id.casefold() in guarded or lock.scope_kind is ScopeKind.SUBSCRIPTION:
            continue
        if (lock.resource_group or "").casefold() == vm_rg or obs.is_restore_point_rg(lock.resource_group):
            notes.append(f"{lock.level.value} lock '{lock.name}' on {lock.scope.name} guards none of this VM's "
                         "restore points; left in place")
    return tuple(keep), tuple(notes)


def limit_outlook(obs: VmObservation, *, points_after: int, limit: int, locked: bool) -> str | None:
    """When the limit comes back, from the policy's schedule and instant-restore retention (or None)."""
    policy = obs.policy
    per_day = policy.backups_per_day if policy is not None else None
    if not per_day:
        return None
    if locked:
        # With pruning stopped again, every scheduled backup adds a point that stays.
        days = max(0, math.ceil((limit - points_after) / per_day))
        when = ""
        if obs.observed_at is not None:
            when = f", around {(obs.observed_at + timedelta(days=days)).date().isoformat()}"
        return (f"the fix is temporary: with the lock(s) back the service cannot prune old restore points, so at "
                f"{per_day:g} scheduled backup(s) a day the limit of {limit} returns in about {days} day(s){when}; "
                "guide 000 recommends not locking the backup service's resource group (restore_locks: false, "
                "--leave-locks-removed)")
    retention = policy.instant_rp_retention_days if policy is not None else None
    if retention and per_day * retention >= limit:
        return (f"{per_day:g} backup(s) a day kept {retention} day(s) as instant restore points reach the limit "
                f"of {limit} even without locks; back up once a day or shorten the instant-restore retention")
    return None


_GONE_WITH = ("its collection is deleted by this fix, and Azure deletes a resource's locks with it; "
              "it can go back only on a collection of that name")


def _on_deleted(lock: Lock, deleted: frozenset[str]) -> bool:
    return lock.scope_kind is ScopeKind.RESOURCE and lock.scope.id.casefold() in deleted


def _lock_steps(locks: tuple[Lock, ...], restore: bool, deleted: frozenset[str] = frozenset()) -> list[Step]:
    steps: list[Step] = []
    for lock in reversed(locks):
        if _on_deleted(lock, deleted):
            steps.append(LeaveLockRemoved(lock, reason=_GONE_WITH))  # recorded, never silently lost
        elif restore:
            steps.append(RestoreLock(lock))
        else:
            steps.append(LeaveLockRemoved(lock))
    return steps


def _lock_notes(locks: tuple[Lock, ...], restore: bool, deleted: frozenset[str] = frozenset()) -> list[str]:
    notes = []
    for lock in locks:
        if _on_deleted(lock, deleted):
            notes.append(f"lock '{lock.name}' (notes, owners kept in the journal) is on collection {lock.scope.name}: "
                         f"{_GONE_WITH}")
            continue
        if restore and lock.level is LockLevel.READ_ONLY:
            notes.append(f"warning: ReadOnly lock '{lock.name}' is put back after the backup; {READ_ONLY_BACK_WARNING}")
        if not restore:
            notes.append(f"lock '{lock.name}' stays removed, as asked; the journal keeps it (level, notes, owners) "
                         "and `azbackup-fix recover --restore-left-locks` puts it back")
    return notes


@register
class ClearRestorePointLimit(Playbook):
    id = "clear-restore-point-limit"
    title = "Clear the restore point collection limit"
    error_codes = (LIMIT_CODE, "RestorePointResourceGroupLocked", "BackUpOperationFailed",
                   "BackUpOperationFailedV2")
    actions = (*_LOCK_ACTIONS, *_RPC_ACTIONS, *TriggerBackup.actions)
    destructive = True
    options = MappingProxyType({
        "restore_point_limit": Option(int, SERVICE_LIMIT, minimum=1, maximum=SERVICE_LIMIT,
                                      help="instant restore points per VM that count as the limit"),
        **_LOCK_OPTIONS,
        **TRIGGER_OPTIONS,
    })

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        limit = opts["restore_point_limit"]
        if obs.vm is None:
            return Plan(cls.id, target, notes=("the VM does not exist; its collections are orphans "
                                               "(delete-orphaned-restore-points)",))
        if (busy := cls.busy(obs)) is not None:
            return busy
        count = obs.restore_point_count
        at_limit = count >= limit
        guarding = obs.blocking_locks
        read_only = tuple(lk for lk in guarding if lk.level is LockLevel.READ_ONLY)
        claims = (failure_title(obs) or "").casefold() == LIMIT_CODE.casefold()
        # A claim our own journaled deletions explain (an earlier run deleted, or began deleting, this
        # VM's collections and stopped): finish that fix rather than refuse it.
        journaled = {cid.casefold() for cid in obs.journaled_deletions}
        resumed = claims and not at_limit and bool(journaled)
        if not at_limit and not read_only and not resumed:
            if claims:
                groups = ", ".join(obs.restore_point_groups) or "none"
                return Plan(cls.id, target, refusals=(
                    f"the failed job says {LIMIT_CODE}, but only {count} of {limit} restore points of this VM are "
                    f"visible: searched {obs.collections_searched if obs.collections_searched is not None else 'the'} "
                    f"restore point collection(s) across subscription {obs.vm_ref.subscription_id}, every resource "
                    f"group, matched by source.id (groups holding this VM's points: {groups}); nothing is deleted",))
            notes = [f"{count} restore points of {limit}; the limit is not reached"]
            notes += [f"CanNotDelete lock '{lk.name}' will stop cleanup once the limit is reached" for lk in guarding]
            retry = trigger_step(obs, opts) if _failed_on_a_lock(obs) else None
            if retry is not None:
                # The lock the backup failed on is gone (removed by hand, or by the fleet's coordinator).
                notes.append("the latest backup failed on a lock (ScopeLocked) that no longer guards this VM's "
                             "restore points; backing up shows the fix")
                return Plan(cls.id, target, steps=(retry,), notes=tuple(notes))
            return Plan(cls.id, target, notes=tuple(notes))
        ordered = sorted(obs.vm_collections, key=lambda c: c.ref.id.casefold())
        doomed = ordered if at_limit else [c for c in ordered if c.ref.id.casefold() in journaled]
        sub_locks = obs.subscription_locks if doomed else tuple(
            lk for lk in obs.subscription_locks if lk.level is LockLevel.READ_ONLY)
        if sub_locks:
            names = ", ".join(f"'{lk.name}'" for lk in sub_locks)
            return Plan(cls.id, target, refusals=(
                f"subscription lock(s) {names} block the fix; subscription locks are never removed here",))
        # Without deletions only ReadOnly locks stand in the way; CanNotDelete ones can stay.
        needed = guarding if doomed else read_only
        locks, notes = _removable(obs, needed)
        stuck = [lk for lk in needed if lk not in locks]
        if stuck:  # a delete or backup behind a lock we may not remove would only fail
            names = ", ".join(f"'{lk.name}' on {lk.resource_group}" for lk in stuck)
            return Plan(cls.id, target, notes=notes, refusals=(
                f"lock(s) {names} guard this VM's restore points outside the restore-point groups and the VM's "
                "group; the scope rules do not allow removing them",))
        notes = list(notes)
        if resumed:
            notes.append(f"the failed job's {LIMIT_CODE} predates this tool's own journaled deletion of this VM's "
                         f"collection(s); finishing that fix ({len(doomed)} collection(s) still to delete)")
        restore = bool(opts["restore_locks"])
        steps: list[Step] = [DeleteLock(lk, why=f"it {_why(lk)}") for lk in locks]
        steps += [DeleteRestorePointCollection(c.ref, obs.vm_ref, len(c.restore_points), opts["delete_attempts"])
                  for c in doomed]
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)  # the verification backup runs while the locks are still off
            if not trigger.wait and restore and any(lk.level is LockLevel.READ_ONLY for lk in locks):
                notes.append("wait is off: the ReadOnly lock comes back while the backup still runs and will fail it")
        elif locks:
            notes.append("trigger_backup is off: the locks come back before any backup shows the fix")
        deleted = frozenset(c.ref.id.casefold() for c in doomed)
        steps += _lock_steps(locks, restore, deleted)
        plan_notes = [f"{count} restore points of this VM across {len(obs.vm_collections)} collection(s) in "
                      f"{', '.join(obs.restore_point_groups) or 'no group'}"
                      + (f" reach the limit of {limit}" if at_limit else f" (limit {limit})"),
                      *notes, *_lock_notes(locks, restore, deleted)]
        if doomed:
            plan_notes.append("vault-tier recovery points are kept; only instant restore points (snapshots) go")
        kept = (len(guarding) > len(locks)) or (restore and any(not _on_deleted(lk, deleted) for lk in locks))
        left = count - sum(len(c.restore_points) for c in doomed)
        outlook = limit_outlook(obs, points_after=left + 1, limit=limit, locked=kept)
        if outlook:
            plan_notes.append(outlook)
        return Plan(cls.id, target, steps=tuple(steps), notes=tuple(plan_notes))

    @classmethod
    def verify(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Verification:
        """Fixed when the points are below the limit and the latest backup did not fail (a ReadOnly lock put
        back on purpose is reported, not re-planned)."""
        opts = cls.resolve(options)
        obs = observation
        if obs.vm is None:
            return Verification(True, "the VM does not exist")
        count = obs.restore_point_count
        failed = obs.current_failed_job
        if count < opts["restore_point_limit"] and failed is None:
            back = [lk for lk in obs.blocking_locks if lk.level is LockLevel.READ_ONLY]
            extra = f"; ReadOnly lock '{back[0].name}' is back: {READ_ONLY_BACK_WARNING}" if back else ""
            return Verification(True, f"{count} restore point(s) of {opts['restore_point_limit']}, the latest "
                                      f"backup succeeded{extra}")
        if failed is not None:
            error = failed.primary_error.error_title if failed.primary_error else failed.status
            return Verification(False, f"the latest backup job {failed.ref.name} failed: {error}")
        return Verification(False, f"{count} restore points still reach the limit")


def _failed_on_a_lock(obs: VmObservation) -> bool:
    """The current failure is Compute's ScopeLocked passed through (UserErrorCrpReportedUserError)."""
    job = obs.current_failed_job
    error = job.primary_error if job is not None else None
    if error is None or (error.error_title or "").casefold() != "usererrorcrpreportedusererror":
        return False
    return "scopelocked" in (error.error_string or "").casefold()


def _why(lock: Lock) -> str:
    if lock.level is LockLevel.READ_ONLY:
        return "blocks every backup write"
    return "stops the service's cleanup of old restore points"


@register
class DeleteOrphanedRestorePoints(Playbook):
    """Guide 000 ("clean up restore point collection"): a deleted VM's collections still hold snapshots."""

    id = "delete-orphaned-restore-points"
    title = "Delete the restore point collections of a deleted VM"
    error_codes = ("OrphanedRestorePointCollection",)
    actions = (*_LOCK_ACTIONS, *_RPC_ACTIONS)
    destructive = True
    rail = PROTECTION  # gives up the deleted VM's instant restore points: a protection change
    options = MappingProxyType(dict(_LOCK_OPTIONS))

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        if obs.vm is not None:
            return Plan(cls.id, target, notes=("the VM exists; its collections are not orphans",))
        if not obs.vm_collections:
            return Plan(cls.id, target, notes=("no restore point collection of this VM was found",))
        locks, notes = _removable(obs, obs.blocking_locks)
        restore = bool(opts["restore_locks"])
        steps: list[Step] = [DeleteLock(lk, why="it guards the deleted VM's restore points") for lk in locks]
        steps += [DeleteRestorePointCollection(c.ref, obs.vm_ref, len(c.restore_points), opts["delete_attempts"],
                                               orphaned=True)
                  for c in sorted(obs.vm_collections, key=lambda c: c.ref.id.casefold())]
        deleted = frozenset(c.ref.id.casefold() for c in obs.vm_collections)
        steps += _lock_steps(locks, restore, deleted)
        return Plan(cls.id, target, steps=tuple(steps), notes=(
            f"{obs.restore_point_count} instant restore point(s) of deleted VM {obs.vm_ref.name}; vault-tier "
            "recovery points are kept", *notes, *_lock_notes(locks, restore, deleted)))
