"""Restore points for this VM against the limit, and the locks that stop their cleanup."""

from __future__ import annotations

from datetime import timedelta

from ..models import Finding, Lock, LockLevel, Severity, VmObservation
from .catalogue import Playbook, entry_for, finding_from_entry
from .evidence import ev, ev_list
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_locks", "check_restore_point_limit"]

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
    ]


def check_locks(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """Locks on the restore-point groups, on the VM's group, and inherited from the subscription.

    A lock in a restore-point group always stops the service's cleanup, so it is at
    least a warning; it is an error once the limit is reached or a job failed for it.
    Locks on the VM's group matter only where this VM's collections live there (the
    safety model allows removing those), or when read-only (it blocks writes to the VM).
    """
    failing = _limit_reached(obs, options) or _job_blames_cleanup(obs)
    blocking = Severity.ERROR if failing else Severity.WARNING
    findings: list[Finding] = []
    naming = obs.restore_point_rg_naming.describe()

    for lock in obs.restore_point_rg_locks:
        findings.append(
            finding_from_entry(
                "RestorePointResourceGroupLocked",
                severity=blocking,
                title=f"{lock.level.value} lock '{lock.name}' on restore-point group {lock.resource_group} "
                "stops Azure Backup's cleanup of old restore points",
                evidence=[*_lock_evidence(lock), ev("resource group", lock.resource_group), ev("naming", naming)],
            )
        )

    vm_rg = obs.vm_ref.resource_group.casefold()
    holds_points = any(c.ref.resource_group.casefold() == vm_rg for c in obs.vm_collections)
    for lock in obs.vm_resource_group_locks:
        evidence = [*_lock_evidence(lock), ev("resource group", lock.resource_group),
                    ev("holds this VM's restore points", holds_points)]
        if holds_points:
            severity, playbooks = blocking, (Playbook.CLEAR_RESTORE_POINT_LIMIT,)
            why = "holds this VM's restore points and blocks their cleanup"
        elif lock.level is LockLevel.READ_ONLY:
            severity, playbooks = Severity.WARNING, ()
            why = "is read-only, which blocks writes to the VM such as installing the backup extension"
        elif failing:
            severity, playbooks = Severity.WARNING, ()
            why = "is named by the guide for this failure but holds none of this VM's restore points"
        else:
            severity, playbooks = Severity.INFO, ()
            why = "does not affect backups"
        findings.append(
            finding_from_entry(
                "VmResourceGroupLocked",
                severity=severity,
                title=f"{lock.level.value} lock '{lock.name}' on the VM's resource group {why}",
                evidence=evidence,
                playbooks=playbooks,
            )
        )

    for lock in obs.subscription_locks:
        # Inherited by every group, the restore-point ones included; never removed by us.
        findings.append(
            finding_from_entry(
                "SubscriptionLocked",
                severity=blocking,
                title=f"{lock.level.value} lock '{lock.name}' on the subscription is inherited by the "
                "restore-point groups and stops cleanup; it is not removed automatically",
                evidence=_lock_evidence(lock),
            )
        )
    return tuple(findings)
