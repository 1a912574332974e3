"""resolve-backup-in-progress and trigger-backup."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from ..models import VmObservation
from ..models.options import Option
from ..models.rails import DISRUPTIVE
from ..models.timestamps import format_timestamp
from ..steps import CancelJob, Step, TriggerBackup, WaitForJobs, on_demand_jobs_today
from .base import Plan, Playbook, Verification
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["ResolveBackupInProgress", "TriggerBackupPlaybook"]


@register
class ResolveBackupInProgress(Playbook):
    id = "resolve-backup-in-progress"
    title = "Resolve a backup already in progress"
    error_codes = ("UserErrorBackupOperationInProgress", "BackupJobInProgress", "BackupJobInProgressElsewhere")
    rail = DISRUPTIVE
    actions = (
        "Microsoft.RecoveryServices/Vaults/backupJobs/read",
        "Microsoft.RecoveryServices/Vaults/backupJobs/cancel/action",
        *TriggerBackup.actions,
    )
    options = MappingProxyType({
        "wait_minutes": Option(int, 60, minimum=0, maximum=24 * 60),
        # A cancellable job older than this is stuck: cancelled, which needs the run's allow_disruptive.
        "cancel_older_than_hours": Option(int, 24, minimum=1),
        **TRIGGER_OPTIONS,
    })

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        running = sorted(obs.in_progress_jobs, key=lambda j: j.ref.id.casefold())
        if not running:
            return Plan(cls.id, target, notes=("no backup job of this VM is in progress",))
        threshold = timedelta(hours=opts["cancel_older_than_hours"])
        steps: list[Step] = []
        waits = []
        notes: list[str] = []
        stuck_uncancellable = False
        for job in running:
            age = (obs.observed_at - job.start_time) if obs.observed_at and job.start_time else None
            old = age is not None and age >= threshold
            where = "" if job.vault == obs.vault else f" in vault {job.vault.name}"
            if old:
                # Past the threshold a job is stuck: never waited on (an hour's silent wait on a job that
                # will not finish); the plan says so and names the lever.
                hours = f"{age.total_seconds() / 3600:.1f} h"
                stuck = (f"backup job {job.ref.name}{where} is stuck: running {hours}, past the "
                         f"{opts['cancel_older_than_hours']} h threshold; not waited on")
                if job.cancellable:
                    notes.append(f"{stuck}; cancelling it needs --allow-disruptive (allow_disruptive)")
                    steps.append(CancelJob(job.ref, format_timestamp(job.start_time)))
                else:
                    stuck_uncancellable = True
                    notes.append(f"{stuck}; it is past its snapshot phase and cannot be cancelled (guide 001: "
                                 "wait until the job finishes); run again once it has")
            else:
                waits.append(job.ref)
        if stuck_uncancellable:
            # A backup now would fail with UserErrorBackupOperationInProgress: no wait, no trigger.
            return Plan(cls.id, target, notes=tuple(notes))
        if waits and not opts["wait"]:
            # Without waiting (--no-wait) a run must not block on a job that may take hours, and a
            # backup cannot be triggered while one runs: say so, and let a later run finish the fix.
            names = ", ".join(j.name for j in waits)
            notes.append(f"backup job(s) {names} still running: not waited for (wait is off); run again once "
                         "they finish")
            return Plan(cls.id, target, steps=tuple(steps), notes=tuple(notes))
        if waits:
            steps.insert(0, WaitForJobs(tuple(waits), obs.vm_ref, float(opts["wait_minutes"]) * 60))
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps), notes=tuple(notes))


@register
class TriggerBackupPlaybook(Playbook):
    id = "trigger-backup"
    title = "Back up on demand and report the job's result"
    error_codes = ("BackUpOperationFailed", "BackUpOperationFailedV2")
    actions = TriggerBackup.actions
    options = MappingProxyType({"force": (bool, False), **TRIGGER_OPTIONS})

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        item = obs.protected_item
        if obs.vm is None or item is None:
            return Plan(cls.id, target, notes=("no VM or no protected item to back up",))
        if item.is_inactive and not opts["force"]:
            return Plan(cls.id, target, notes=(f"protection is {item.protection_state}; a backup would fail",))
        failure = obs.current_failed_job
        if failure is None and not opts["force"]:
            return Plan(cls.id, target, notes=("no failed backup since the last success; nothing to retry",))
        today = on_demand_jobs_today(obs.jobs, obs.observed_at) if obs.observed_at else 0
        if today >= opts["daily_limit"]:
            return Plan(cls.id, target, refusals=(
                f"{today} on-demand backups today reach the daily limit of {opts['daily_limit']}",))
        step = trigger_step(obs, {**opts, "trigger_backup": True})
        return Plan(cls.id, target, steps=(step,) if step else ())

    @classmethod
    def verify(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Verification:
        failure = observation.current_failed_job
        if failure is None:
            return Verification(True, "the latest backup did not fail")
        title = failure.primary_error.error_title if failure.primary_error else failure.status
        return Verification(False, f"the latest backup job {failure.ref.name} failed: {title}")
