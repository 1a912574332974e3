"""Recovery Services JSON (backupStatus, protected item, policy, job) and locks to frozen models."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidResourceIdError
from ..ids import BackupJobRef, LockRef, ProtectedItemRef, ResourceId, VaultRef
from ..models import BackupJob, BackupPolicy, BackupStatus, JobError, Lock, ProtectedItem
from .wire import arm_time, dig

__all__ = [
    "backup_status_from_wire",
    "job_from_wire",
    "lock_from_wire",
    "policy_from_wire",
    "protected_item_from_wire",
]


def _maybe_id(text: Any) -> ResourceId | None:
    if not text:
        return None
    try:
        return ResourceId.parse(str(text))
    except InvalidResourceIdError:
        return None


def backup_status_from_wire(data: dict[str, Any]) -> BackupStatus:
    protected = str(dig(data, "protectionStatus", default="")).casefold() == "protected"
    vault_id = dig(data, "vaultId")
    vault = None
    if vault_id:
        try:
            vault = VaultRef.parse(str(vault_id))
        except InvalidResourceIdError:
            vault = None
    return BackupStatus(
        protected=protected,
        vault=vault,
        container_name=dig(data, "containerName"),
        item_name=dig(data, "protectedItemName"),
        policy_name=dig(data, "policyName"),
    )


def protected_item_from_wire(data: dict[str, Any]) -> ProtectedItem:
    props = dig(data, "properties", default={})
    return ProtectedItem(
        ref=ProtectedItemRef.parse(str(data.get("id"))),
        friendly_name=dig(props, "friendlyName"),
        vm_id=_maybe_id(dig(props, "virtualMachineId") or dig(props, "sourceResourceId")),
        protection_state=dig(props, "protectionState"),
        protection_status=dig(props, "protectionStatus"),
        health_status=dig(props, "healthStatus"),
        last_backup_status=dig(props, "lastBackupStatus"),
        last_backup_time=arm_time(dig(props, "lastBackupTime")),
        policy_id=dig(props, "policyId") or None,
        policy_name=dig(props, "policyName") or None,
    )


def policy_from_wire(data: dict[str, Any]) -> BackupPolicy:
    props = dig(data, "properties", default={})
    return BackupPolicy(
        id=str(data.get("id")),
        name=str(data.get("name")),
        instant_rp_retention_days=dig(props, "instantRpRetentionRangeInDays"),
        rg_prefix=dig(props, "instantRpDetails", "azureBackupRGNamePrefix") or None,
        rg_suffix=dig(props, "instantRpDetails", "azureBackupRGNameSuffix") or None,
        backups_per_day=_backups_per_day(dig(props, "schedulePolicy", default={}) or {}),
        policy_type=dig(props, "policyType") or None,
    )


def _backups_per_day(schedule: dict[str, Any]) -> float | None:
    """Scheduled backups a day: Daily (V1 and V2), Weekly (days run / 7) and Hourly (window / interval)."""
    frequency = str(schedule.get("scheduleRunFrequency") or "").casefold()
    if frequency == "daily":
        times = dig(schedule, "dailySchedule", "scheduleRunTimes") or schedule.get("scheduleRunTimes") or [None]
        return float(len(times))
    if frequency == "weekly":
        days = dig(schedule, "weeklySchedule", "scheduleRunDays") or schedule.get("scheduleRunDays") or []
        return len(days) / 7.0 if days else None
    if frequency == "hourly":
        interval = dig(schedule, "hourlySchedule", "interval")
        window = dig(schedule, "hourlySchedule", "scheduleWindowDuration")
        if isinstance(interval, (int, float)) and interval > 0 and isinstance(window, (int, float)):
            return max(1.0, float(window) // float(interval))
    return None


def _cancellable(props: Any) -> bool:
    if dig(props, "isCancellable") is True:
        return True
    # actionsInfo is [1] in older wire formats and ["Cancellable"] in newer ones.
    return any(a in (1, "1") or str(a).casefold() == "cancellable" for a in dig(props, "actionsInfo", default=[]))


def _error_code(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def job_from_wire(data: dict[str, Any], vault: VaultRef | None = None) -> BackupJob:
    props = dig(data, "properties", default={})
    job_id = str(data.get("id") or "")
    try:
        ref = BackupJobRef.parse(job_id)
    except InvalidResourceIdError:
        if vault is None:
            raise
        ref = BackupJobRef(vault, str(data.get("name")))
    errors = tuple(
        JobError(
            error_code=_error_code(e.get("errorCode")),
            error_title=e.get("errorTitle") or None,
            error_string=e.get("errorString") or None,
            recommendations=tuple(str(r) for r in e.get("recommendations") or ()),
        )
        for e in dig(props, "errorDetails", default=[])
        if isinstance(e, dict)
    )
    return BackupJob(
        ref=ref,
        operation=dig(props, "operation"),
        status=dig(props, "status"),
        start_time=arm_time(dig(props, "startTime")),
        end_time=arm_time(dig(props, "endTime")),
        entity_friendly_name=dig(props, "entityFriendlyName"),
        cancellable=_cancellable(props),
        errors=errors,
        container_name=dig(props, "containerName"),
        user_triggered=_flag(dig(props, "isUserTriggered")),
    )


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    return None


def lock_from_wire(data: dict[str, Any]) -> Lock:
    props = dig(data, "properties", default={})
    owners = tuple(str(o.get("applicationId")) for o in dig(props, "owners", default=[]) if isinstance(o, dict))
    return Lock(
        ref=LockRef.parse(str(data.get("id"))),
        level=dig(props, "level"),
        notes=dig(props, "notes"),
        owners=owners,
    )
