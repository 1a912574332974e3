"""Tunable behaviour of the sandbox: paging, timings of the physics, throttling and RBAC switches."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["SandboxConfig"]


@dataclass
class SandboxConfig:
    seed: int = 1
    page_size: int = 100  # items per page of list operations before a nextLink
    job_page_size: int = 50  # backup job listings page sooner, as the service does
    throttling: bool = False  # enforce ARM's token buckets (429 SubscriptionRequestsThrottled)
    rbac: bool = False  # enforce principals' actions (403 AuthorizationFailed)
    latency_ms: tuple[float, float] = (0.0, 0.0)  # per-request latency range (server: real; in-process: virtual)
    # Physics timings, in virtual seconds.
    extension_delete_seconds: float = 45.0
    rpc_delete_seconds: float = 20.0
    rpc_delete_batch: int = 100  # restore points one delete attempt removes before it times out
    restore_point_create_seconds: float = 120.0  # RestorePoints_Create until the point is Succeeded
    vm_action_seconds: float = 60.0  # restart / reapply / start
    run_command_seconds: float = 30.0
    # Linux Run Command scripts run for real under bash on this host (against a fake root): off refuses them.
    run_guest_scripts: bool = True
    backup_snapshot_seconds: float = 300.0  # "Take Snapshot" phase
    backup_transfer_seconds: float = 900.0  # "Transfer data to vault" phase
    backup_fail_seconds: float = 120.0  # when a precondition fails, the job fails after this long
    cancel_seconds: float = 30.0
    # Azure Backup's "up to nine on-demand backups per day" per item (support matrix) [D].
    on_demand_backups_per_day: int = 9
    retry_after_seconds: float = 10.0  # hint on compute LROs in server mode (clock rate > 0)
    # Microsoft.Automation (providers/automation): fair share unloads a cloud job after 3 hours; the
    # account's concurrent jobs and job submissions are limited (Automation's limits page).
    automation_fair_share_seconds: float = 3 * 3600.0
    automation_max_concurrent_jobs: int = 50
    automation_submissions_per_window: int = 100
    automation_submission_window_seconds: float = 30.0
    automation_python: str = ""  # interpreter of Python runbook jobs (default: the sandbox's own)

    def update(self, values: dict[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown sandbox setting(s): {', '.join(sorted(unknown))}")
        for key, value in values.items():
            setattr(self, key, tuple(value) if key == "latency_ms" else value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
