"""Helpers the playbooks' pure plans share: the current failure, trigger options, a trigger step."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..models import BackupJob, VmObservation
from ..steps import DEFAULT_RETENTION_DAYS, SERVICE_DAILY_ON_DEMAND_MAX, TriggerBackup

__all__ = ["TRIGGER_OPTIONS", "current_failure", "failure_title", "trigger_step"]

# Options every playbook that ends in an on-demand backup takes.
TRIGGER_OPTIONS: dict[str, tuple[type, Any]] = {
    "trigger_backup": (bool, True),
    "retention_days": (int, DEFAULT_RETENTION_DAYS),
    "wait": (bool, True),
    "wait_timeout_minutes": (int, 240),
    "daily_limit": (int, SERVICE_DAILY_ON_DEMAND_MAX),
}

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def _start(job: BackupJob) -> datetime:
    return job.start_time or _EPOCH


def current_failure(obs: VmObservation) -> BackupJob | None:
    """The latest failed backup job of the protecting vault, unless a later backup succeeded.

    This is what makes a second apply a no-op: once the triggered backup completes, the
    old failure is history.
    """
    vault = obs.vault
    jobs = [j for j in obs.jobs if j.is_backup and (vault is None or j.vault == vault)]
    failed = [j for j in jobs if j.is_failed]
    if obs.latest_failed_job is not None and obs.latest_failed_job not in failed:
        failed.append(obs.latest_failed_job)
    if not failed:
        return None
    latest = max(failed, key=_start)
    done = [j for j in jobs if (j.status or "").casefold().startswith("completed") and _start(j) > _start(latest)]
    return None if done else latest


def failure_title(obs: VmObservation) -> str | None:
    job = current_failure(obs)
    return job.primary_error.error_title if job is not None and job.primary_error else None


def trigger_step(obs: VmObservation, options: Mapping[str, Any]) -> TriggerBackup | None:
    """The on-demand backup that ends a fix, when asked for and the VM can be backed up."""
    item = obs.protected_item
    if not options.get("trigger_backup", True) or item is None or obs.vm is None:
        return None
    return TriggerBackup(
        item=item.ref,
        vm=obs.vm_ref,
        retention_days=int(options["retention_days"]),
        wait=bool(options["wait"]),
        timeout=float(options["wait_timeout_minutes"]) * 60.0,
        daily_limit=int(options["daily_limit"]),
    )
