"""TriggerBackup (on-demand, explicit retention, never blindly retried), CancelJob, WaitForJobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..errors import AzureOperationError, GuardRailError, WaitInterruptedError
from ..ids import BackupJobRef, ProtectedItemRef, VaultRef, VmRef
from ..models import BackupJob
from ..models.rails import DISRUPTIVE
from ..models.report import DetailValue, StepOutcome, StepStatus
from ..waits import wait_until
from .base import Step, StepContext

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "SERVICE_DAILY_ON_DEMAND_MAX",
    "CANCEL_RETRY_AFTER",
    "CancelJob",
    "TriggerBackup",
    "WaitForJobs",
    "job_progress",
    "on_demand_jobs_today",
]

DEFAULT_RETENTION_DAYS = 30  # as `az backup protection backup-now` defaults
SERVICE_DAILY_ON_DEMAND_MAX = 9  # the service allows at most 9 on-demand backups a day (recommends 4)
_JOB_READ = "Microsoft.RecoveryServices/Vaults/backupJobs/read"
# Job polls: a bounded backoff that starts small (a fast server, such as the sandbox at a high clock
# rate, is seen at once) and settles at the pace of a real backup job (minutes).
JOB_POLL_FIRST = 5.0
JOB_POLL_MAX = 120.0
TRIGGER_ATTEMPTS = 3  # POSTs of one trigger step, each after checking that no job started
# Guide 001's jobs table: a cancel refused because the job "isn't in progress" is a transitory state:
# "wait a minute and retry the cancel operation" (once).
CANCEL_RETRY_AFTER = 60.0


def _not_in_progress(exc: AzureOperationError) -> bool:
    """The service's "can't cancel the job because it isn't in progress" refusal (by code, or its words)."""
    code = (exc.arm_code or "").casefold()
    text = str(exc).casefold().replace("\u2019", "'")
    return "notinprogress" in code or "isn't in progress" in text or "is not in progress" in text


def job_progress(job: BackupJob) -> str:
    """One line for a progress display: the job's status and phase (cancellable = still snapshotting)."""
    running = (job.status or "").casefold() == "inprogress"
    phase = ("snapshot phase" if job.cancellable else "transfer to vault") if running else None
    return f"job {job.ref.name}: {job.status}" + (f", {phase}" if phase else "")


def _ambiguous(exc: AzureOperationError) -> bool:
    """No answer, throttled or a server error: the POST may or may not have started a backup."""
    if exc.status_code is None:
        return exc.arm_code is None  # no HTTP answer at all (an operation that said Failed has a code)
    return exc.status_code == 429 or exc.status_code >= 500


def on_demand_jobs_today(jobs: tuple[BackupJob, ...], now: datetime) -> int:
    """On-demand Backup jobs started on ``now``'s UTC day (unknown kind counts, to stay under the limit)."""
    day = now.astimezone(timezone.utc).date()
    return sum(
        1 for j in jobs
        if j.is_backup and j.user_triggered is not False and j.start_time is not None
        and j.start_time.astimezone(timezone.utc).date() == day
    )


def _now(ctx: StepContext) -> datetime:
    # ARM's clock (virtual in the sandbox), else the local one.
    return ctx.gateway.counter.server_time or datetime.now(timezone.utc)


@dataclass(frozen=True)
class TriggerBackup(Step):
    """Start one on-demand backup; optionally wait for its job and report status and errorTitle.

    Refuses when a backup job for the VM is running (the service would fail the new one with
    UserErrorBackupOperationInProgress) or when today's on-demand count reached ``daily_limit``.
    The POST is sent at most once.
    """

    item: ProtectedItemRef
    vm: VmRef
    retention_days: int = DEFAULT_RETENTION_DAYS
    wait: bool = True
    timeout: float = 4 * 3600.0  # hard limit on waiting for the job, seconds
    daily_limit: int = SERVICE_DAILY_ON_DEMAND_MAX
    # Other vaults that know the VM (it was protected there before): a job running there also makes the
    # service fail a new backup with UserErrorBackupOperationInProgress (guide 000).
    other_vaults: tuple[VaultRef, ...] = ()

    kind = "trigger-backup"
    actions = (
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/operationsStatus/read",
        _JOB_READ,
    )

    @property
    def target(self) -> str:
        return self.item.id

    def describe(self) -> str:
        then = " and wait for its job" if self.wait else ""
        return (f"trigger an on-demand backup of {self.vm.name} in vault {self.item.vault.name}, "
                f"kept {self.retention_days} days{then}")

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("retention_days", self.retention_days), ("wait", self.wait))

    def _jobs(self, ctx: StepContext) -> tuple[BackupJob, ...]:
        # Fresh jobs: this decides whether a non-idempotent POST is sent (the network path is no part of it).
        ctx.gateway.invalidate(keep_network=True)
        return ctx.gateway.jobs_for_vm(self.item.vault, self.vm)

    def _running_elsewhere(self, ctx: StepContext) -> list[BackupJob]:
        return [j for vault in self.other_vaults if vault != self.item.vault
                for j in ctx.gateway.jobs_for_vm(vault, self.vm) if j.is_in_progress]

    def _trigger_once(self, ctx: StepContext, expiry: datetime, known: set[str]) -> BackupJobRef:
        """POST the trigger; after an ambiguous failure (no answer, 429, 5xx) look for the job the
        POST may have started before sending it again, so one item never gets two backups."""
        for attempt in range(1, TRIGGER_ATTEMPTS + 1):
            try:
                return ctx.gateway.trigger_backup(self.item, expiry)
            except AzureOperationError as exc:
                if not _ambiguous(exc) or attempt == TRIGGER_ATTEMPTS:
                    raise
                ctx.sleep(30.0 * attempt)  # let the service settle (and a throttle refill)
                started = [j for j in self._jobs(ctx) if j.ref.name.casefold() not in known]
                if started:
                    return started[0].ref  # the POST got through: adopt its job, do not resend
        raise AssertionError("unreachable")  # pragma: no cover

    def run(self, ctx: StepContext) -> StepOutcome:
        if not 1 <= self.retention_days <= 99 * 365:
            raise GuardRailError(f"retention of {self.retention_days} days is out of range")
        jobs = self._jobs(ctx)
        running = [j for j in jobs if j.is_in_progress] or self._running_elsewhere(ctx)
        if running:
            where = "" if running[0].vault == self.item.vault else f" in vault {running[0].vault.name}"
            return self.outcome(StepStatus.SKIPPED, refused=True,
                                reason=f"backup job {running[0].ref.name} is {running[0].status}{where}; "
                                       "not starting another")
        today = on_demand_jobs_today(jobs, _now(ctx))
        if today >= min(self.daily_limit, SERVICE_DAILY_ON_DEMAND_MAX):
            return self.outcome(StepStatus.SKIPPED, refused=True,
                                reason=f"{today} on-demand backups today reach the daily limit of {self.daily_limit}")
        expiry = (_now(ctx) + timedelta(days=self.retention_days)).replace(microsecond=0)
        job_ref = self._trigger_once(ctx, expiry, {j.ref.name.casefold() for j in jobs})
        ctx.triggered_jobs.append(job_ref.name)
        facts: tuple[tuple[str, DetailValue], ...] = (("job_id", job_ref.name), ("expiry", expiry.isoformat()))
        if not self.wait:
            return self.outcome(StepStatus.CHANGED, detail=(*facts, ("job_status", "InProgress")))
        try:
            job = wait_until(lambda: ctx.gateway.get_job(job_ref), lambda j: not j.is_in_progress,
                             timeout=self.timeout, sleep=ctx.sleep, what=f"backup job {job_ref.name} to finish",
                             interval=JOB_POLL_FIRST, max_interval=JOB_POLL_MAX, progress=job_progress,
                             **ctx.wait_kwargs(self.target))
        except WaitInterruptedError:
            # Interrupted: the backup was started and runs on; the step is done, its job not waited for.
            return self.outcome(StepStatus.CHANGED, detail=(*facts, ("job_status", "InProgress")))
        title = job.primary_error.error_title if job.primary_error else None
        facts = (*facts, ("job_status", job.status), ("error_title", title))
        if job.is_failed or (job.status or "").casefold() == "cancelled":
            outcome = self.outcome(StepStatus.FAILED, reason=f"backup job {job_ref.name} {job.status}: {title}",
                                   detail=facts)
            return StepOutcome(outcome.step, outcome.target, outcome.description, outcome.status,
                               reason=outcome.reason, error_code=title, detail=outcome.detail)
        return self.outcome(StepStatus.CHANGED, detail=facts)


@dataclass(frozen=True)
class CancelJob(Step):
    job: BackupJobRef
    started: str | None = None  # for the description
    timeout: float = 1800.0

    kind = "cancel-job"
    actions = ("Microsoft.RecoveryServices/Vaults/backupJobs/cancel/action", _JOB_READ)
    disruptive = True  # abandons a backup in flight
    rail = DISRUPTIVE

    @property
    def target(self) -> str:
        return self.job.id

    def describe(self) -> str:
        since = f" (running since {self.started})" if self.started else ""
        return f"cancel backup job {self.job.name} in vault {self.job.vault.name}{since} and wait until it stops"

    def _cancel(self, ctx: StepContext) -> BackupJob | None:
        """Send the cancel; refused as "not in progress", wait a minute and send it once more. ``None``
        when the job finished meanwhile (nothing left to cancel)."""
        try:
            ctx.gateway.cancel_job(self.job)
        except AzureOperationError as exc:
            if not _not_in_progress(exc):
                raise
            ctx.sleep(CANCEL_RETRY_AFTER)
            job = ctx.gateway.get_job(self.job)
            if not job.is_in_progress:
                return job
            ctx.gateway.cancel_job(self.job)  # a second refusal is the run's error
        return None

    def run(self, ctx: StepContext) -> StepOutcome:
        finished = self._cancel(ctx)
        if finished is not None:
            return self.outcome(StepStatus.UNCHANGED, reason=f"job {self.job.name} ended ({finished.status}) "
                                "before it could be cancelled", detail=(("job_status", finished.status),))
        job = wait_until(lambda: ctx.gateway.get_job(self.job), lambda j: not j.is_in_progress,
                         timeout=self.timeout, sleep=ctx.sleep, what=f"job {self.job.name} to stop",
                         interval=JOB_POLL_FIRST, max_interval=15.0, **ctx.wait_kwargs(self.target))
        return self.outcome(StepStatus.CHANGED, detail=(("job_status", job.status),))


@dataclass(frozen=True)
class WaitForJobs(Step):
    """Wait (bounded) until the VM's running backup jobs finish; no change is made."""

    jobs: tuple[BackupJobRef, ...]
    vm: VmRef
    timeout: float = 3600.0

    kind = "wait-for-jobs"
    actions = (_JOB_READ,)

    @property
    def target(self) -> str:
        return self.jobs[0].id if self.jobs else self.vm.id

    def describe(self) -> str:
        names = ", ".join(j.name for j in self.jobs)
        return f"wait up to {self.timeout / 60:.0f} min for running backup job(s) {names} of {self.vm.name} to finish"

    def run(self, ctx: StepContext) -> StepOutcome:
        statuses: list[str] = []
        for ref in self.jobs:
            job = wait_until(lambda ref=ref: ctx.gateway.get_job(ref), lambda j: not j.is_in_progress,
                             timeout=self.timeout, sleep=ctx.sleep, what=f"backup job {ref.name} to finish",
                             interval=JOB_POLL_FIRST, max_interval=JOB_POLL_MAX, progress=job_progress,
                             **ctx.wait_kwargs(self.target))
            statuses.append(f"{ref.name}={job.status}")
        ctx.gateway.invalidate()
        return self.outcome(StepStatus.UNCHANGED, detail=(("jobs", ", ".join(statuses)),))
