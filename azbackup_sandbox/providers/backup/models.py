"""Recovery Services state: vaults, IaaS VM backup policies, protected items, backup jobs.

The job engine (what a triggered backup does on the virtual clock) lives in `physics.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from ...core.errors import ArmError, resource_not_found

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = [
    "Vault",
    "BackupPolicy",
    "ProtectedItem",
    "JobTask",
    "JobErrorDetail",
    "BackupJob",
    "BackupBackend",
    "container_name",
    "item_name",
    "NEVER_BACKED_UP",
]

VAULT_TYPE = "Microsoft.RecoveryServices/vaults"
NEVER_BACKED_UP = datetime(2001, 1, 1)  # the service's sentinel for lastBackupTime


def container_name(resource_group: str, vm_name: str) -> str:
    return f"IaasVMContainer;iaasvmcontainerv2;{resource_group.lower()};{vm_name.lower()}"


def item_name(resource_group: str, vm_name: str) -> str:
    return f"VM;iaasvmcontainerv2;{resource_group.lower()};{vm_name.lower()}"


@dataclass
class Vault:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/{VAULT_TYPE}/{self.name}"


@dataclass
class BackupPolicy:
    vault: Vault
    name: str
    instant_rp_retention_days: int = 2
    rg_prefix: str | None = None  # instantRpDetails.azureBackupRGNamePrefix
    rg_suffix: str | None = None  # instantRpDetails.azureBackupRGNameSuffix
    daily_retention_days: int = 30
    schedule_time: str = "2026-11-01T02:00:00Z"
    policy_type: str = "V2"

    @property
    def id(self) -> str:
        return f"{self.vault.id}/backupPolicies/{self.name}"

    def restore_point_group(self, location: str, n: int = 1) -> str:
        """Where instant restore points of this policy's VMs go: `AzureBackupRG_<geo>_<n>` by default,
        or `<prefix><n><suffix>` when the policy names its own resource group."""
        if self.rg_prefix:
            return f"{self.rg_prefix}{n}{self.rg_suffix or ''}"
        return f"AzureBackupRG_{location}_{n}"


@dataclass
class ProtectedItem:
    vault: Vault
    vm_id: str  # the source VM id (the VM may since have been deleted)
    vm_name: str
    vm_resource_group: str
    policy: BackupPolicy | None
    protection_state: str = "Protected"  # IRPending | Protected | ProtectionError | ProtectionStopped | ProtectionPaused
    protection_status: str = "Healthy"
    health_status: str = "Passed"
    last_backup_status: str = "Completed"
    last_backup_time: datetime = NEVER_BACKED_UP
    last_recovery_point: datetime | None = None
    data_id: int = 0
    virtual_machine_guid: str = ""
    # Has the Key Vault of an encrypted VM granted Azure Backup access? (UserErrorKeyvaultPermissionsNotConfigured)
    key_vault_access: bool = True

    @property
    def container(self) -> str:
        return container_name(self.vm_resource_group, self.vm_name)

    @property
    def name(self) -> str:
        return item_name(self.vm_resource_group, self.vm_name)

    @property
    def id(self) -> str:
        return f"{self.vault.id}/backupFabrics/Azure/protectionContainers/{self.container}/protectedItems/{self.name}"


@dataclass
class JobTask:
    task_id: str  # "Take Snapshot" | "Transfer data to vault"
    status: str = "NotStarted"  # NotStarted | InProgress | Completed | Failed | Cancelled
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class JobErrorDetail:
    error_code: int
    error_title: str
    error_string: str
    recommendations: list[str] = field(default_factory=list)


@dataclass
class BackupJob:
    vault: Vault
    job_id: str
    item: ProtectedItem | None
    entity_friendly_name: str
    operation: str = "Backup"  # Backup | ConfigureBackup | Restore | DeleteBackupData | DisableBackup
    status: str = "InProgress"  # InProgress | Completed | Failed | CompletedWithWarnings | Cancelling | Cancelled
    start: datetime | None = None
    end: datetime | None = None
    tasks: list[JobTask] = field(default_factory=list)
    errors: list[JobErrorDetail] = field(default_factory=list)
    activity_id: str = ""
    expiry: datetime | None = None  # "Recovery Point Expiry Time in UTC" for on-demand backups
    on_demand: bool = False
    cancellable: bool = True
    stuck: bool = False  # seeded jobs that never progress on their own (UserErrorBackupOperationInProgress)
    dynamic_error_message: str | None = None  # extendedInfo.dynamicErrorMessage (nested CRP error)
    # Compute consistencyMode of the restore point this backup adds (CrashConsistent when offline).
    # The job's wire format has no such field (AzureIaaSVMJob); the vault's recovery point would.
    consistency: str | None = None

    @property
    def id(self) -> str:
        return f"{self.vault.id}/backupJobs/{self.job_id}"

    @property
    def running(self) -> bool:
        return self.status in ("InProgress", "Cancelling")


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _key(*parts: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in parts)


class BackupBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.vaults: dict[tuple[str, ...], Vault] = {}
        self.policies: dict[tuple[str, ...], BackupPolicy] = {}
        self.items: dict[tuple[str, ...], ProtectedItem] = {}  # (vault id, item name)
        self.jobs: dict[tuple[str, ...], BackupJob] = {}  # (vault id, job id)
        self._jobs_by_vault: dict[str, list[BackupJob]] = {}
        self._items_by_vm: dict[str, list[ProtectedItem]] = {}
        self._jobs_by_vm: dict[str, list[BackupJob]] = {}

    # ---- vaults and policies ----------------------------------------------------------------
    def add_vault(self, vault: Vault) -> Vault:
        self._sb.resources.require_group(vault.subscription_id, vault.resource_group)
        self.vaults[_key(vault.id)] = vault
        return vault

    def get_vault(self, subscription_id: str, resource_group: str, name: str) -> Vault:
        vault = self.vaults.get(_key(f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
                                     f"/providers/{VAULT_TYPE}/{name}"))
        if vault is None:
            raise resource_not_found(VAULT_TYPE, name, resource_group)
        return vault

    def list_vaults(self, subscription_id: str, resource_group: str | None = None) -> list[Vault]:
        sub, rg = subscription_id.lower(), (resource_group or "").lower()
        return sorted(
            (v for v in self.vaults.values()
             if v.subscription_id.lower() == sub and (not rg or v.resource_group.lower() == rg)),
            key=lambda v: v.id.lower(),
        )

    def add_policy(self, policy: BackupPolicy) -> BackupPolicy:
        self.policies[_key(policy.vault.id, policy.name)] = policy
        return policy

    def get_policy(self, vault: Vault, name: str) -> BackupPolicy:
        policy = self.policies.get(_key(vault.id, name))
        if policy is None:
            raise ArmError(404, "BMSUserErrorPolicyNotFound", f"Policy '{name}' was not found in the vault.")
        return policy

    def policies_of(self, vault: Vault) -> list[BackupPolicy]:
        return sorted((p for p in self.policies.values() if p.vault is vault), key=lambda p: p.name.lower())

    # ---- protected items --------------------------------------------------------------------
    def add_item(self, item: ProtectedItem) -> ProtectedItem:
        self.items[_key(item.vault.id, item.name)] = item
        self._items_by_vm.setdefault(item.vm_id.lower(), []).append(item)
        return item

    def find_item(self, vault: Vault, container: str, name: str) -> ProtectedItem | None:
        item = self.items.get(_key(vault.id, name))
        if item is None or item.container.lower() != container.lower():
            return None
        return item

    def get_item(self, vault: Vault, container: str, name: str) -> ProtectedItem:
        item = self.find_item(vault, container, name)
        if item is None:
            raise ArmError(404, "BMSUserErrorObjectNotFound",
                           f"Item not found. Protected item '{name}' does not exist in container '{container}'.")
        return item

    def items_of(self, vault: Vault) -> list[ProtectedItem]:
        return sorted((i for i in self.items.values() if i.vault is vault), key=lambda i: i.name)

    def items_for_vm(self, vm_id: str) -> list[ProtectedItem]:
        return [i for i in self._items_by_vm.get(vm_id.lower(), []) if self.items.get(_key(i.vault.id, i.name)) is i]

    # ---- jobs -------------------------------------------------------------------------------
    def add_job(self, job: BackupJob) -> BackupJob:
        self.jobs[_key(job.vault.id, job.job_id)] = job
        # Indexes: the job engine and job listings ask these for every job across large fleets.
        self._jobs_by_vault.setdefault(job.vault.id.lower(), []).append(job)
        if job.item is not None:
            self._jobs_by_vm.setdefault(job.item.vm_id.lower(), []).append(job)
        return job

    def get_job(self, vault: Vault, job_id: str) -> BackupJob:
        job = self.jobs.get(_key(vault.id, job_id))
        if job is None:
            raise ArmError(404, "BMSUserErrorJobNotFound", f"Job '{job_id}' was not found in the vault.")
        return job

    def jobs_of(self, vault: Vault) -> list[BackupJob]:
        """Newest first, as the service lists them."""
        jobs = self._jobs_by_vault.get(vault.id.lower(), [])
        return sorted(jobs, key=lambda j: (j.start or NEVER_BACKED_UP, j.job_id), reverse=True)

    def on_demand_jobs_on(self, item: ProtectedItem, day: date) -> int:
        """On-demand backups of this item started on this UTC day (the service's daily limit counts them)."""
        return sum(1 for j in self.jobs_for_vm(item.vm_id)
                   if j.item is item and j.on_demand and j.start is not None
                   and _utc(j.start).date() == day)

    def jobs_for_vm(self, vm_id: str) -> list[BackupJob]:
        """Every job of every item that protects or protected this VM, in any vault."""
        return list(self._jobs_by_vm.get(vm_id.lower(), []))

    # ---- views ------------------------------------------------------------------------------
    def generic_resources(self, subscription_id: str, resource_group: str | None) -> list[dict[str, Any]]:
        return [{"id": v.id, "name": v.name, "type": VAULT_TYPE, "location": v.location, "tags": v.tags}
                for v in self.list_vaults(subscription_id, resource_group)]

    def to_dict(self) -> dict[str, Any]:
        def t(dt: datetime | None) -> str | None:
            return dt.isoformat() if dt else None

        return {
            "vaults": [v.id for v in sorted(self.vaults.values(), key=lambda v: v.id.lower())],
            "policies": [
                {"id": p.id, "instantRpRetentionDays": p.instant_rp_retention_days,
                 "rgPrefix": p.rg_prefix, "rgSuffix": p.rg_suffix}
                for p in sorted(self.policies.values(), key=lambda p: p.id.lower())
            ],
            "protectedItems": [
                {"id": i.id, "vmId": i.vm_id, "policy": i.policy.name if i.policy else None,
                 "protectionState": i.protection_state, "lastBackupStatus": i.last_backup_status,
                 "lastBackupTime": t(i.last_backup_time)}
                for i in sorted(self.items.values(), key=lambda i: i.id.lower())
            ],
            "jobs": [
                {"id": j.id, "operation": j.operation, "status": j.status, "entity": j.entity_friendly_name,
                 "start": t(j.start), "end": t(j.end), "errors": [e.error_title for e in j.errors]}
                for j in sorted(self.jobs.values(), key=lambda j: j.id.lower())
            ],
        }
