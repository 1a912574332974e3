"""Restore points for this VM against the limit, and the locks that stop their cleanup."""

from __future__ import annotations

from datetime import timedelta

from ..ids import ScopeKind
from ..models import Finding, Lock, LockLevel, Severity, VmObservation
from .catalogue import entry_for, finding_from_entry
from .evidence import ev, ev_list
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["LEVEL_EFFECT", "check_locks", "check_orphaned_collections", "check_restore_point_limit"]

# Job errors whose cause can be a lock that stops restore-point cleanup (guide 000).
_LOCK_CAUSED = ("UserErrorRpCollectionLimitReached", "BackUpOperationFailed")


def _limit_reached(obs: VmObservation, options: CheckOptions) -> bool:
    return obs.restore_point_count >= options.restore_point_limit


def _job_blames_cleanup(obs: VmObservation) -> bool:
    job = obs.current_failed_job  # a failure a later backup superseded blames nothing any more
    error = job.primary_error if job is not None else None
    entry = entry_for(error.error_title if error else None)
    return entry is not None and entry.code in _LOCK_CAUSED


def _recent(obs: VmObservation) -> int | None:
    """Restore points created in the 24 h before the newest one (or the observation)."""
    times = [p.time_created for c in obs.vm_collections for p in c.restore_points if p.time_created]
    if not times:
        return None
    try:
        end = obs.observed_at or max(times)
        return sum(1 for t in times if timedelta(0) <= end - t <= timedelta(hours=24))
    except TypeError:  # naive and aware times mixed: leave the figure out rather than guess
        return None


def check_restore_point_limit(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """Restore points of this VM across collections (matched by source id) against the limit."""
    count = obs.restore_point_count
    if count < options.restore_point_limit:
        return ()
    collections = obs.vm_collections
    evidence = [
        ev("restore points", count),
        ev("limit", options.restore_point_limit),
        ev_list("collections", (c.ref.id for c in collections)),
        ev_list("resource groups", sorted({c.ref.resource_group for c in collections}, key=str.casefold)),
        ev("restore point group naming", obs.restore_point_rg_naming.describe()),
    ]
    recent = _recent(obs)
    if recent is not None:
        evidence.append(ev("restore points in the last 24 h", recent))
    return (
        finding_from_entry(
            "UserErrorRpCollectionLimitReached",
            severity=Severity.ERROR,
            title=f"{count} restore points for this VM reach the limit of {options.restore_point_limit}",
            evidence=evidence,
        ),
    )


def _lock_evidence(lock: Lock) -> list:
    return [
        ev("lock", lock.ref.id),
        ev("level", lock.level),
        ev("scope", lock.scope_kind),
        ev("notes", lock.notes),
        ev("owners", ",".join(lock.owners) or None),
    ]


# What each level does to Azure Backup (guide 000 and the ARM lock semantics).
LEVEL_EFFECT = {
    LockLevel.CAN_NOT_DELETE: "stops Azure Backup's cleanup of old restore points, so they pile up to the limit",
    LockLevel.READ_ONLY: "blocks every backup write (new restore points fail even below the limit)",
}


def check_locks(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """Locks that guard this VM's restore points (wherever they are), the VM group's other locks, and
    the subscription's.

    A lock guards the points when it sits on a collection of this VM, on a group holding one, or
    (ReadOnly) on a restore-point group the service writes to. CanNotDelete is an error once the
    limit is reached or a job failed for it (a warning before); ReadOnly is always an error: every
    backup fails on it. Locks on the VM's group that guard none of its points are context only.
    """
    if obs.vm is None:
        return ()  # no VM, no backups to block: its collections' locks belong to the orphan finding
    failing = _limit_reached(obs, options) or _job_blames_cleanup(obs)
    findings: list[Finding] = []
    naming = obs.restore_point_rg_naming.describe()
    blocking = obs.blocking_locks
    keys = {lk.ref.id.casefold() for lk in blocking}

    for lock in blocking:
        read_only = lock.level is LockLevel.READ_ONLY
        severity = Severity.ERROR if read_only or failing else Severity.WARNING
        where = (f"collection {lock.scope.name}" if lock.scope_kind is ScopeKind.RESOURCE
                 else f"resource group {lock.resource_group}")
        held = sum(len(c.restore_points) for c in obs.vm_collections
                   if c.ref.resource_group.casefold() == (lock.resource_group or "").casefold())
        findings.append(
            finding_from_entry(
                "RestorePointResourceGroupLocked",
                severity=severity,
                title=f"{lock.level.value} lock '{lock.name}' on {where} {LEVEL_EFFECT[lock.level]}",
                evidence=[*_lock_evidence(lock), ev("resource group", lock.resource_group),
                          ev("this VM's restore points there", held), ev("naming", naming)],
            )
        )

    groups = obs.restore_point_groups
    for lock in obs.vm_resource_group_locks:
        if lock.ref.id.casefold() in keys:
            continue
        # Looked at, not assumed: where this VM's restore points are, and where new ones go.
        where = (f"this VM's restore points are in {', '.join(groups)}" if groups
                 else "this VM has no restore point collection yet")
        evidence = [*_lock_evidence(lock), ev("resource group", lock.resource_group),
                    ev("holds this VM's restore points", False),
                    ev_list("this VM's restore point groups", groups), ev("new restore points go to", naming)]
        if lock.level is LockLevel.READ_ONLY:
            severity = Severity.WARNING
            why = (f"is read-only, which blocks writes to the VM such as installing the backup extension; "
                   f"{where}")
        elif failing:
            severity = Severity.WARNING
            why = (f"is named by the guide for this failure but guards none of this VM's restore points ({where}, "
                   f"new ones go to {naming}); left alone")
        else:
            severity = Severity.INFO
            why = (f"stops deleting resources in that group only: {where} and new ones go to {naming}, so it does "
                   "not block their cleanup")
        findings.append(
            finding_from_entry("VmResourceGroupLocked", severity=severity,
                               title=f"{lock.level.value} lock '{lock.name}' on the VM's resource group {why}",
                               evidence=evidence)
        )

    for lock in obs.subscription_locks:
        # Inherited by every group, the restore-point ones included; never removed by us.
        read_only = lock.level is LockLevel.READ_ONLY
        findings.append(
            finding_from_entry(
                "SubscriptionLocked",
                severity=Severity.ERROR if read_only or failing else Severity.WARNING,
                title=f"{lock.level.value} lock '{lock.name}' on the subscription is inherited by the "
                f"restore-point groups and {LEVEL_EFFECT[lock.level]}; it is not removed automatically",
                evidence=_lock_evidence(lock),
            )
        )
    return tuple(findings)


def check_orphaned_collections(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """Collections whose source VM is gone still hold snapshots (guide 000, clean up restore point collection)."""
    if obs.vm is not None or not obs.vm_collections:
        return ()
    points = obs.restore_point_count
    return (
        finding_from_entry(
            "OrphanedRestorePointCollection",
            severity=Severity.WARNING,
            title=f"{len(obs.vm_collections)} restore point collection(s) of deleted VM {obs.vm_ref.name} "
            f"still hold {points} instant restore point(s)",
            evidence=[ev_list("collections", (c.ref.id for c in obs.vm_collections)),
                      ev("instant restore points", points),
                      ev_list("resource groups", obs.restore_point_groups),
                      ev_list("locks guarding them", (lk.ref.id for lk in obs.blocking_locks))],
        ),
    )
