"""Run every check and order the findings the way the guides walk through them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone

from ..models import Diagnosis, Finding, Severity, VmObservation
from .agent import check_agent
from .catalogue import entry_for, rank_of
from .disks import check_disk_sizes
from .extension_reinstall import check_backup_extension_keeps_failing
from .extensions import check_backup_extension, check_extensions
from .guest import guest_blockers
from .jobs import check_failed_job, check_jobs_in_progress
from .keyvault import check_key_vault_access
from .network import check_network_path
from .options import DEFAULT_OPTIONS, CheckOptions
from .policy import check_policy_denial
from .policy_migration import check_policy_migration
from .protection import check_protection_state
from .restore_points import check_locks, check_orphaned_collections, check_restore_point_limit
from .vm_health import check_deleted_vm, check_vm_health

__all__ = ["STATE_CHECKS", "Check", "backup_blockers", "diagnose", "diagnosis_for"]

Check = Callable[[VmObservation, CheckOptions], tuple[Finding, ...]]

# State checks, in the guides' order; the failed job's finding is folded in afterwards.
STATE_CHECKS: tuple[Check, ...] = (
    check_deleted_vm,
    check_vm_health,
    check_agent,
    check_network_path,
    check_extensions,
    check_backup_extension,
    check_backup_extension_keeps_failing,
    check_restore_point_limit,
    check_locks,
    check_orphaned_collections,
    check_disk_sizes,
    check_key_vault_access,
    check_jobs_in_progress,
    check_protection_state,
    check_policy_denial,
    check_policy_migration,
)


def _merge(state: Finding, job: Finding) -> Finding:
    """One finding per code: the state finding, plus what the job said."""
    evidence = tuple(dict.fromkeys((*state.evidence, *job.evidence)))
    return replace(
        state,
        severity=min(state.severity, job.severity, key=lambda s: s.rank),
        evidence=evidence,
        playbooks=tuple(dict.fromkeys((*state.playbooks, *job.playbooks))),
        guest_steps=tuple(dict.fromkeys((*state.guest_steps, *job.guest_steps))),
    )


def diagnose(observation: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """All findings for one VM: step 1 VM health, step 2 agent, step 3 extensions, step 4
    backup extension, then the job error rows in guide 000's order. Pure and read-only."""
    findings: list[Finding] = [f for check in STATE_CHECKS for f in check(observation, options)]
    for job_finding in check_failed_job(observation, options):
        # Compare catalogue entries, not spellings: the job's errorTitle may be an alias of a state code
        # (UserErrorVmNotFoundV2 is VmNotFoundButProtected).
        entry = entry_for(job_finding.code)
        same = next((i for i, f in enumerate(findings)
                     if f.code == job_finding.code or (entry is not None and entry_for(f.code) is entry)), None)
        if same is None:
            findings.append(job_finding)
        else:
            findings[same] = _merge(findings[same], job_finding)
    return tuple(sorted(findings, key=lambda f: rank_of(f.code)))  # stable: check order within a code


def diagnosis_for(
    observation: VmObservation,
    *,
    request_count: int = 0,
    generated_at: datetime | None = None,
    options: CheckOptions = DEFAULT_OPTIONS,
) -> Diagnosis:
    """A :class:`Diagnosis` report for the observation (time defaults to when it was observed)."""
    when = generated_at or observation.observed_at or datetime.now(timezone.utc)
    return Diagnosis(
        target=observation.vm_ref.id,
        findings=diagnose(observation, options),
        request_count=request_count,
        generated_at=when,
    )


# A lock on the restore-point group only stops the service's pruning: below the limit a backup succeeds.
_NOT_BLOCKING = frozenset({"RestorePointResourceGroupLocked"})


def backup_blockers(observation: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """Error findings of the current state (not of past jobs) that make any backup fail while they last:
    an on-demand backup started now would be wasted (the day allows few). Jobs in progress are left to
    the trigger step, which refuses to start a second one."""
    state = tuple(f for check in STATE_CHECKS if check is not check_jobs_in_progress
                  for f in check(observation, options)
                  if f.severity is Severity.ERROR and f.code not in _NOT_BLOCKING)
    return state + guest_blockers(observation)  # what the guest probe (if one ran) still sees
