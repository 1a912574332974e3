"""One failure kind per row of the troubleshooting catalogue, applied to a protected VM.

Scenarios and the fleet generator share these, and the job history is not invented: after seeding,
the estate's backups really run through the sandbox's job engine, so each failed job carries the
errorTitle the physics yields for that state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from ..providers.backup.models import BackupJob, BackupPolicy, JobTask, ProtectedItem, Vault
from ..providers.compute.models import AgentState, VirtualMachine
from .estate import Estate

__all__ = ["Placement", "FAILURE_KINDS", "KIND_DESCRIPTIONS", "apply_kind", "seed_history", "run_backups"]

RP_LIMIT = 18
LOCK_NOTES = "Protect production resources from accidental deletion. Owner: platform team."


@dataclass
class Placement:
    """Where one VM sits: what the kind functions may change."""

    estate: Estate
    vm: VirtualMachine
    vault: Vault
    policy: BackupPolicy
    item: ProtectedItem


def _healthy(p: Placement) -> None:
    p.estate.restore_points(p.vm, p.policy, 2)


def _rp_limit_locked(p: Placement) -> None:
    rpc = p.estate.restore_points(p.vm, p.policy, RP_LIMIT)
    p.estate.lock(p.estate.group_id(rpc.subscription_id, rpc.resource_group), "rg-no-delete",
                  "CanNotDelete", LOCK_NOTES)


def _rp_limit_custom_rg(p: Placement) -> None:
    custom = p.estate.sb.backup.policies.get((p.vault.id.lower(), "enhancedpolicy-customrg"))
    if custom is None:
        custom = p.estate.policy(p.vault, "EnhancedPolicy-CustomRG", retention_days=5,
                                 rg_prefix="rg-vmbackup-rp-", rg_suffix="-eus")
    p.item.policy = custom
    rpc = p.estate.restore_points(p.vm, custom, RP_LIMIT)
    p.estate.lock(p.estate.group_id(rpc.subscription_id, rpc.resource_group), "keep-backup-rg",
                  "CanNotDelete", LOCK_NOTES)


def _failed_backup_extension(p: Placement) -> None:
    p.estate.restore_points(p.vm, p.policy, 2)
    ext = p.vm.backup_extension()
    if ext is not None:
        p.vm.extensions.pop(ext.name.lower())
    p.estate.backup_extension(
        p.vm,
        failed_message="Enable failed: the VMSnapshot extension could not be loaded (handler exited with code "
                       "-2147024891). Snapshot operation failed.",
    )


def _agent_not_ready(p: Placement) -> None:
    p.estate.restore_points(p.vm, p.policy, 2)
    p.vm.agent = AgentState(status="Not Ready", version="Unknown", message="VM Agent is unresponsive.",
                            revived_by_restart=True)


def _deallocated(p: Placement) -> None:
    p.estate.restore_points(p.vm, p.policy, 2)
    p.vm.power_state = "deallocated"
    p.vm.agent = AgentState(status="", version=p.vm.agent.version, message="")


def _in_progress(p: Placement) -> None:
    p.estate.restore_points(p.vm, p.policy, 2)
    started = p.estate.now - timedelta(hours=26)
    job = BackupJob(vault=p.vault, job_id=p.estate.sb.new_guid(), item=p.item,
                    entity_friendly_name=p.vm.name, start=started, activity_id=p.estate.sb.new_guid(),
                    tasks=[JobTask("Take Snapshot", "InProgress", started), JobTask("Transfer data to vault")],
                    stuck=True)
    p.estate.sb.backup.add_job(job)


def _protection_stopped(p: Placement) -> None:
    p.estate.restore_points(p.vm, p.policy, 2)
    p.item.protection_state = "ProtectionStopped"
    p.item.protection_status = "Unhealthy"
    p.item.health_status = "ActionRequired"


def _disk_too_large(p: Placement) -> None:
    p.estate.restore_points(p.vm, p.policy, 2)
    p.vm.data_disks[0].size_gb = 33_792  # > 32 TB (32,767 GiB is the supported maximum)


def _vm_deleted(p: Placement) -> None:
    p.estate.restore_points(p.vm, p.policy, 2)
    p.estate.sb.compute.delete_vm(p.vm)


FAILURE_KINDS: dict[str, Callable[[Placement], None]] = {
    "healthy": _healthy,
    "rp-limit-locked": _rp_limit_locked,
    "rp-limit-custom-rg": _rp_limit_custom_rg,
    "failed-vmsnapshot": _failed_backup_extension,
    "agent-not-ready": _agent_not_ready,
    "vm-deallocated": _deallocated,
    "backup-in-progress": _in_progress,
    "protection-stopped": _protection_stopped,
    "disk-too-large": _disk_too_large,
    "vm-deleted": _vm_deleted,
}

KIND_DESCRIPTIONS: dict[str, str] = {
    "healthy": "protected, agent ready, backups succeed",
    "rp-limit-locked": "18 restore points, CanNotDelete lock on AzureBackupRG_<geo>_1 (UserErrorRpCollectionLimitReached)",
    "rp-limit-custom-rg": "policy names its own restore-point RG (prefix/suffix), locked, at the limit",
    "failed-vmsnapshot": "backup extension Failed, VM provisioning Failed (UserErrorVmProvisioningStateFailed)",
    "agent-not-ready": "VM agent Not Ready, version Unknown (UserErrorGuestAgentStatusUnavailable)",
    "vm-deallocated": "VM deallocated, no agent status",
    "backup-in-progress": "a backup job stuck InProgress for 26 h (UserErrorBackupOperationInProgress)",
    "protection-stopped": "protection stopped, data retained (UserErrorBcmDatasourceNotPresent)",
    "disk-too-large": "a data disk over 32 TB (UserErrorUnsupportedDiskSize)",
    "vm-deleted": "VM deleted, still protected in the vault",
}


def apply_kind(kind: str, placement: Placement) -> None:
    try:
        FAILURE_KINDS[kind](placement)
    except KeyError:
        raise ValueError(f"unknown failure kind '{kind}'; known: {', '.join(FAILURE_KINDS)}") from None


def seed_history(estate: Estate, item: ProtectedItem, days: int = 2) -> None:
    """Completed nightly jobs of the previous days, as a real vault lists them."""
    sb = estate.sb
    for day in range(days, 0, -1):
        start = estate.now.replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=day)
        start += timedelta(seconds=sb.rng.randrange(0, 1800))
        snap_end = start + timedelta(seconds=sb.config.backup_snapshot_seconds)
        end = snap_end + timedelta(seconds=sb.config.backup_transfer_seconds)
        sb.backup.add_job(BackupJob(
            vault=item.vault, job_id=sb.new_guid(), item=item, entity_friendly_name=item.vm_name,
            status="Completed", start=start, end=end, activity_id=sb.new_guid(), cancellable=False,
            tasks=[JobTask("Take Snapshot", "Completed", start, snap_end),
                   JobTask("Transfer data to vault", "Completed", snap_end, end)],
        ))
        item.last_backup_time, item.last_recovery_point = end, snap_end


def run_backups(estate: Estate, items: list[ProtectedItem]) -> None:
    """Let tonight's backups run through the job engine, then move the clock past them."""
    from ..providers.backup.physics import trigger_backup

    for item in items:
        trigger_backup(estate.sb, item, None)
    sb = estate.sb
    sb.advance(sb.config.backup_snapshot_seconds + sb.config.backup_transfer_seconds
               + sb.config.backup_fail_seconds + 600)
