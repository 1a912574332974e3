"""Backup jobs: in-progress jobs (here and in other vaults) and the latest failed job's error."""

from __future__ import annotations

import re
from datetime import timedelta

from ..models import BackupJob, Evidence, Finding, JobError, Severity, VmObservation
from .article_steps import article_steps
from .catalogue import CatalogueEntry, Playbook, entry_for, finding_from_entry, match_error_text
from .evidence import ev
from .guest_steps import agent_steps, extension_steps, network_steps
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_failed_job", "check_jobs_in_progress", "classify_job_error", "nested_crp_message"]

_AGENT_CODES = ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError")
_EXTENSION_CODES = ("ExtensionOperationFailedForManagedDisks", "BackupExtensionFailed")
_CRP = "UserErrorCrpReportedUserError"
_IN_PROGRESS = "UserErrorBackupOperationInProgress"
# The generic first sentence of UserErrorCrpReportedUserError; what follows it is Compute's message.
_CRP_GENERIC = re.compile(
    r"backup failed due to an error\.?\s*(for details,? see job error message details\.?)?\s*", re.IGNORECASE
)


def _job_evidence(job: BackupJob) -> list[Evidence]:
    return [
        ev("job", job.ref.id),
        ev("operation", job.operation),
        ev("status", job.status),
        ev("started", job.start_time),
    ]


def _age(obs: VmObservation, job: BackupJob) -> timedelta | None:
    if obs.observed_at is None or job.start_time is None:
        return None
    try:
        return obs.observed_at - job.start_time
    except TypeError:  # naive and aware times mixed: no age rather than a guess
        return None


def _hours(age: timedelta) -> str:
    return f"{age.total_seconds() / 3600:.1f} h"


def _stuck_words(job: BackupJob, age: timedelta, options: CheckOptions) -> str:
    limit = f"{options.stuck_job_after.total_seconds() / 3600:g} h"
    lever = ("cancelling it needs --allow-disruptive" if job.cancellable
             else "it is past its snapshot phase and cannot be cancelled")
    return f"is stuck: running {_hours(age)}, past the {limit} threshold; not waited on; {lever}"


def _taking_long(obs: VmObservation, options: CheckOptions) -> list[Finding]:
    """Guide 001, "backup or restore takes time": a backup over 12 h (not yet stuck) gets its advice."""
    found = []
    for running in obs.in_progress_jobs:
        age = _age(obs, running)
        if age is None or not options.long_backup_after < age <= options.stuck_job_after or not running.is_backup:
            continue
        found.append(finding_from_entry(
            "BackupJobTakingLong", severity=Severity.WARNING,
            title=f"Backup job {running.ref.name} has been running {_hours(age)}, over the guide's 12 h: review "
                  "what lengthens backups (disk churn, size, schedule) and the backup best practices",
            evidence=[*_job_evidence(running), ev("vault", running.vault.id),
                      ev("running for (hours)", round(age.total_seconds() / 3600, 1)),
                      ev("long after (hours)", round(options.long_backup_after.total_seconds() / 3600, 1))],
        ))
    return found


def check_jobs_in_progress(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """A running job blocks new backups; one in another vault means backup was reconfigured (or the VM was
    protected there before: the service counts jobs in any vault)."""
    findings: list[Finding] = []
    job = obs.failed_job
    blocked = job is not None and job.primary_error is not None and (
        (entry_for(job.primary_error.error_title) or match_error_text(job.primary_error.error_string))
        == entry_for(_IN_PROGRESS)
    )
    for running in obs.in_progress_jobs_here:
        age = _age(obs, running)
        stuck = age is not None and age > options.stuck_job_after
        evidence = [*_job_evidence(running), ev("cancellable", running.cancellable)]
        if age is not None:
            evidence.append(ev("running for (hours)", round(age.total_seconds() / 3600, 1)))
        if stuck or blocked:
            why = _stuck_words(running, age, options) if stuck and age is not None else "blocked the last backup"
            findings.append(
                finding_from_entry(
                    "BackupJobInProgress",
                    severity=Severity.WARNING,
                    title=f"Backup job {running.ref.name} ({running.status}) {why}",
                    evidence=evidence,
                )
            )
        else:
            findings.append(
                finding_from_entry(
                    "BackupJobInProgress",
                    severity=Severity.INFO,
                    title=f"Backup job {running.ref.name} is {running.status}; wait for it before backing up again",
                    evidence=evidence,
                    playbooks=(),
                )
            )
    for running in obs.in_progress_jobs_elsewhere:
        age = _age(obs, running)
        stuck = age is not None and age > options.stuck_job_after
        evidence = [*_job_evidence(running), ev("vault", running.vault.id), ev("cancellable", running.cancellable)]
        if age is not None:
            evidence.append(ev("running for (hours)", round(age.total_seconds() / 3600, 1)))
        extra = f" and {_stuck_words(running, age, options)}" if stuck and age is not None else ""
        findings.append(
            finding_from_entry(
                "BackupJobInProgressElsewhere",
                severity=Severity.WARNING,
                title=f"Backup job {running.ref.name} for this VM is {running.status} in vault {running.vault.name}, "
                f"not the vault protecting it now (it was protected there before){extra}",
                evidence=evidence,
            )
        )
    findings += _taking_long(obs, options)
    return tuple(findings)


def classify_job_error(error: JobError) -> CatalogueEntry | None:
    """By ``errorTitle`` (case-insensitive), falling back to the message text."""
    return entry_for(error.error_title) or match_error_text(error.error_string)


def nested_crp_message(job: BackupJob) -> str | None:
    """The underlying Compute error of a UserErrorCrpReportedUserError job, if reported."""
    parts: list[str] = []
    for error in job.errors:
        entry = entry_for(error.error_title)
        if entry is not None and entry.code == _CRP:
            rest = _CRP_GENERIC.sub("", error.error_string or "", count=1).strip()
            if rest:
                parts.append(rest)
        else:
            text = ": ".join(p for p in (error.error_title, error.error_string) if p)
            if text:
                parts.append(text)
    return " | ".join(parts) or None


def _derived_playbooks(obs: VmObservation, entry: CatalogueEntry | None) -> tuple[str, ...]:
    """Refine the catalogue's playbooks with what the VM's state says the cause is."""
    if entry is None:
        return ()
    vm = obs.vm
    backup_ext = vm.backup_extension if vm is not None else None
    backup_ext_failed = backup_ext is not None and (backup_ext.is_failed or backup_ext.is_deleting)
    if entry.code == "BackUpOperationFailed":
        # "Internal error": the cause is the agent, the extension or a lock; name what we saw.
        derived = []
        if backup_ext_failed:
            derived.append(Playbook.REINSTALL_BACKUP_EXTENSION)
        if obs.restore_point_rg_locks:
            derived.append(Playbook.CLEAR_RESTORE_POINT_LIMIT)
        return tuple(derived)
    if entry.code == "UserErrorVmProvisioningStateFailed" and vm is not None and vm.provisioning_failed:
        return (Playbook.REINSTALL_BACKUP_EXTENSION,) if backup_ext_failed else (Playbook.RECOVER_VM_PROVISIONING,)
    return entry.playbooks


def _guest_steps(obs: VmObservation, entry: CatalogueEntry | None) -> tuple[str, ...]:
    if entry is None:
        return ()
    os_family = obs.vm.os_family if obs.vm is not None else None
    if entry.code in _AGENT_CODES:
        return agent_steps(os_family)
    if entry.code == "ExtensionSnapshotFailedNoNetwork":
        return network_steps(os_family)
    if entry.code in _EXTENSION_CODES:
        return extension_steps(os_family)
    return article_steps(entry.code)


def check_failed_job(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """The latest failed job's error: its documented code, guide section and fix."""
    del options
    job = obs.current_failed_job
    if job is None:
        return ()
    error = job.primary_error or JobError()
    entry = classify_job_error(error)
    if entry is not None and entry_for(error.error_title) is entry:
        code = error.error_title or entry.code
    elif entry is not None:
        code = entry.code  # matched by message text
    else:
        code = (error.error_title or "").strip() or "BackupJobFailed"
    evidence = _job_evidence(job) + [
        ev("error code", error.error_code),
        ev("error title", error.error_title),
        ev("error message", error.error_string),
    ]
    evidence += [ev("recommendation", r) for r in error.recommendations]
    message = error.error_string or (entry.description if entry else "no error details reported")
    title = f"Last backup job failed with {code}: {message}"
    if entry is not None and entry.code == _CRP:
        nested = nested_crp_message(job)
        evidence.append(ev("underlying error", nested))
        title = f"Last backup job failed with {code}: " + (nested or "no underlying error reported")
    if entry is not None and entry.code == "UserErrorKeyvaultPermissionsNotConfigured" and obs.vm is not None:
        evidence.append(ev("vm encrypted", obs.vm.encrypted))
    return (
        finding_from_entry(
            code,
            severity=Severity.ERROR,
            title=title,
            evidence=evidence,
            playbooks=_derived_playbooks(obs, entry),
            guest_steps=_guest_steps(obs, entry),
        ),
    )
