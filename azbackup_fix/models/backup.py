"""Snapshots of Recovery Services state: backup status, protected item, policy, jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..errors import InvalidResourceIdError
from ..ids import BackupJobRef, ProtectedItemRef, ResourceId, RestorePointRgNaming, VaultRef, VmRef
from ..ids import vm_names_from_backup_name as _vm_names

__all__ = [
    "BackupJob",
    "BackupPolicy",
    "BackupStatus",
    "JobError",
    "ProtectedItem",
    "ProtectionState",
]


def _same(a: str | None, b: str) -> bool:
    return a is not None and a.casefold() == b.casefold()


class ProtectionState:
    """``protectionState`` values of a protected item (an open set in ARM, so plain strings)."""

    IR_PENDING = "IRPending"
    PROTECTED = "Protected"
    PROTECTION_ERROR = "ProtectionError"
    PROTECTION_STOPPED = "ProtectionStopped"
    PROTECTION_PAUSED = "ProtectionPaused"
    INACTIVE = (PROTECTION_STOPPED, PROTECTION_PAUSED)


@dataclass(frozen=True, slots=True)
class BackupStatus:
    """The answer of ``POST .../locations/{region}/backupStatus`` for a VM."""

    protected: bool
    vault: VaultRef | None = None
    container_name: str | None = None
    item_name: str | None = None
    policy_name: str | None = None


@dataclass(frozen=True, slots=True)
class ProtectedItem:
    ref: ProtectedItemRef
    friendly_name: str | None = None
    vm_id: ResourceId | None = None  # virtualMachineId / sourceResourceId
    protection_state: str | None = None
    protection_status: str | None = None  # Healthy / Unhealthy
    health_status: str | None = None  # Passed / ActionRequired / ActionSuggested / Invalid
    last_backup_status: str | None = None  # "" before the first backup, then Completed / Failed
    last_backup_time: datetime | None = None  # the 2001-01-01 sentinel means never
    policy_id: str | None = None
    policy_name: str | None = None

    @property
    def vault(self) -> VaultRef:
        return self.ref.vault

    @property
    def is_inactive(self) -> bool:
        """Protection stopped or paused: the service will not back the VM up."""
        return any(_same(self.protection_state, s) for s in ProtectionState.INACTIVE)

    @property
    def has_backup(self) -> bool:
        return self.last_backup_time is not None and self.last_backup_time.year > 2001


@dataclass(frozen=True, slots=True)
class BackupPolicy:
    id: str
    name: str
    instant_rp_retention_days: int | None = None
    rg_prefix: str | None = None  # instantRpDetails.azureBackupRGNamePrefix
    rg_suffix: str | None = None  # instantRpDetails.azureBackupRGNameSuffix
    backups_per_day: float | None = None  # from schedulePolicy (Daily, Weekly, Hourly); None when unknown
    policy_type: str | None = None  # policyType: V1 (Standard) or V2 (Enhanced)

    @property
    def is_enhanced(self) -> bool:
        return (self.policy_type or "").casefold() == "v2"

    def restore_point_rg_naming(self, region: str | None) -> RestorePointRgNaming:
        return RestorePointRgNaming(region=region, prefix=self.rg_prefix or None, suffix=self.rg_suffix or None)


@dataclass(frozen=True, slots=True)
class JobError:
    """One entry of a job's ``errorDetails``: ``error_code`` is an integer, ``error_title`` the symbol."""

    error_code: int | None = None
    error_title: str | None = None
    error_string: str | None = None
    recommendations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "recommendations", tuple(self.recommendations))


_RUNNING = ("InProgress", "Cancelling")


@dataclass(frozen=True, slots=True)
class BackupJob:
    ref: BackupJobRef
    operation: str | None = None  # Backup, ConfigureBackup, Restore, ...
    status: str | None = None  # InProgress, Completed, Failed, CompletedWithWarnings, Cancelling, Cancelled
    start_time: datetime | None = None
    end_time: datetime | None = None
    entity_friendly_name: str | None = None
    cancellable: bool = False
    errors: tuple[JobError, ...] = ()
    container_name: str | None = None  # e.g. "iaasvmcontainerv2;rg;vm"
    user_triggered: bool | None = None  # isUserTriggered: an on-demand backup; None when not reported

    def __post_init__(self) -> None:
        object.__setattr__(self, "errors", tuple(self.errors))

    @property
    def vault(self) -> VaultRef:
        return self.ref.vault

    @property
    def is_in_progress(self) -> bool:
        return any(_same(self.status, s) for s in _RUNNING)

    @property
    def is_failed(self) -> bool:
        return _same(self.status, "Failed")

    @property
    def is_backup(self) -> bool:
        return _same(self.operation, "Backup")

    @property
    def primary_error(self) -> JobError | None:
        return self.errors[0] if self.errors else None

    def concerns(self, vm: VmRef) -> bool:
        """Does this job belong to ``vm``? By container name when known, else by friendly name."""
        if self.container_name:
            try:
                return _vm_names(self.container_name) == (vm.resource_group.lower(), vm.name.lower())
            except InvalidResourceIdError:
                pass
        return _same(self.entity_friendly_name, vm.name)
