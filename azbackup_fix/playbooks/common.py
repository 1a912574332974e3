"""Helpers the playbooks' pure plans share: the current failure's title, trigger options, a trigger step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import VmObservation
from ..models.options import Option
from ..steps import DEFAULT_RETENTION_DAYS, SERVICE_DAILY_ON_DEMAND_MAX, TriggerBackup

__all__ = ["TRIGGER_OPTIONS", "failure_title", "trigger_step"]

# Options every playbook that ends in an on-demand backup takes.
TRIGGER_OPTIONS: dict[str, Option] = {
    "trigger_backup": Option(bool, True, help="end with an on-demand backup that proves the fix"),
    # The service keeps an on-demand recovery point 1 to 99 years' worth of days.
    "retention_days": Option(int, DEFAULT_RETENTION_DAYS, minimum=1, maximum=99 * 365,
                             help="days the on-demand recovery point is kept"),
    "wait": Option(bool, True, help="wait for the backup job (CLI --no-wait turns it off)"),
    "wait_timeout_minutes": Option(int, 240, minimum=1, maximum=24 * 60),
    "daily_limit": Option(int, SERVICE_DAILY_ON_DEMAND_MAX, minimum=1, maximum=SERVICE_DAILY_ON_DEMAND_MAX,
                          help="on-demand backups a day at most (the service allows 9)"),
}

def failure_title(obs: VmObservation) -> str | None:
    job = obs.current_failed_job
    return job.primary_error.error_title if job is not None and job.primary_error else None


def trigger_step(obs: VmObservation, options: Mapping[str, Any]) -> TriggerBackup | None:
    """The on-demand backup that ends a fix, when asked for and the VM can be backed up."""
    item = obs.protected_item
    if not options.get("trigger_backup", True) or item is None or obs.vm is None:
        return None
    # Vaults that hold jobs of this VM besides its own: it was protected there before.
    others = {j.vault.id.casefold(): j.vault for j in obs.jobs if j.vault != item.vault}
    return TriggerBackup(
        item=item.ref,
        vm=obs.vm_ref,
        other_vaults=tuple(others[k] for k in sorted(others)),
        retention_days=int(options["retention_days"]),
        wait=bool(options["wait"]),
        timeout=float(options["wait_timeout_minutes"]) * 60.0,
        daily_limit=int(options["daily_limit"]),
    )
