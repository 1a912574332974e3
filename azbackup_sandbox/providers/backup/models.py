"""Recovery Services state: vaults, IaaS VM backup policies, protected items, backup jobs, and how each
serialises (`to_arm`) as RecoveryServicesBackupClient 11.2 reads it.

`BackupBackend` makes every state change the routes ask for; the job engine (what a triggered backup
does on the virtual clock) lives in `physics.py`, which the backend drives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from ...core.errors import resource_not_found
from ...core.operations import Operation
from ...core.timefmt import NULL_BACKUP_TIME, backup_time, iso_duration
from . import errors

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
ITEM_TYPE = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
JOB_TYPE = "Microsoft.RecoveryServices/vaults/backupJobs"
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

    def to_arm(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "name": self.name,
            "etag": 'W/"datetime\'2026-01-01T00%3A00%3A00.0000000Z\'"',
            "tags": dict(self.tags),
            "properties": {
                "provisioningState": "Succeeded",
                "privateEndpointStateForBackup": "None",
                "privateEndpointStateForSiteRecovery": "None",
                "publicNetworkAccess": "Enabled",
                "redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant",
                                       "crossRegionRestore": "Disabled"},
            },
            "id": self.id,
            "type": VAULT_TYPE,
            "sku": {"name": "RS0", "tier": "Standard"},
        }


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

    def to_arm(self, sb: Sandbox) -> dict[str, Any]:
        run_time = self.schedule_time
        instant: dict[str, str] = {}
        if self.rg_prefix:
            instant["azureBackupRGNamePrefix"] = self.rg_prefix
        if self.rg_suffix:
            instant["azureBackupRGNameSuffix"] = self.rg_suffix
        v2 = self.policy_type.upper() == "V2"
        schedule: dict[str, Any] = (
            {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Daily",
             "dailySchedule": {"scheduleRunTimes": [run_time]}}
            if v2 else
            {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily",
             "scheduleRunTimes": [run_time], "scheduleWeeklyFrequency": 0}
        )
        count = sum(1 for i in sb.backup.items_of(self.vault) if i.policy is self)
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.RecoveryServices/vaults/backupPolicies",
            "properties": {
                "backupManagementType": "AzureIaasVM",
                "policyType": self.policy_type,
                # The SDK's (and swagger's) wire name is `instantRPDetails`.
                "instantRPDetails": instant,
                "schedulePolicy": schedule,
                "retentionPolicy": {
                    "retentionPolicyType": "LongTermRetentionPolicy",
                    "dailySchedule": {"retentionTimes": [run_time],
                                      "retentionDuration": {"count": self.daily_retention_days,
                                                            "durationType": "Days"}},
                },
                "instantRpRetentionRangeInDays": self.instant_rp_retention_days,
                "timeZone": "UTC",
                "protectedItemsCount": count,
            },
        }


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

    @property
    def properties_container(self) -> str:
        """properties.containerName omits the `IaasVMContainer;` prefix [R]."""
        return self.container.split(";", 1)[1]

    @property
    def never_backed_up(self) -> bool:
        return _utc(self.last_backup_time).year <= 2001

    def to_arm(self, sb: Sandbox) -> dict[str, Any]:
        never = self.never_backed_up
        props: dict[str, Any] = {
            "friendlyName": self.vm_name,
            "virtualMachineId": self.vm_id,
            "protectionStatus": self.protection_status,
            "protectionState": self.protection_state,
            "healthStatus": self.health_status,
            "kpisHealths": {},
            "lastBackupStatus": "" if never and self.protection_state == "IRPending" else self.last_backup_status,
            "lastBackupTime": "2001-01-01T00:00:00Z" if never else backup_time(_utc(self.last_backup_time)),
            "protectedItemDataId": str(self.data_id),
            "protectedItemType": "Microsoft.Compute/virtualMachines",
            "backupManagementType": "AzureIaasVM",
            "workloadType": "VM",
            "containerName": self.properties_container,
            "sourceResourceId": self.vm_id,
            "policyId": self.policy.id if self.policy else "",
            "isArchiveEnabled": False,
            "softDeleteRetentionPeriodInDays": 14,
            "vaultId": self.vault.id,
        }
        if self.policy is not None:
            props["policyName"] = self.policy.name
            props["policyType"] = self.policy.policy_type
        if self.last_recovery_point is not None:
            props["lastRecoveryPoint"] = backup_time(_utc(self.last_recovery_point))
        vm = sb.compute.vm_by_id(self.vm_id)
        if vm is not None:
            props["sourceLocation"] = vm.location
        return {"id": self.id, "name": self.name, "type": ITEM_TYPE, "properties": props}


@dataclass
class JobTask:
    task_id: str  # "Take Snapshot" | "Transfer data to vault"
    status: str = "NotStarted"  # NotStarted | InProgress | Completed | Failed | Cancelled
    start: datetime | None = None
    end: datetime | None = None

    def to_arm(self, now: datetime) -> dict[str, Any]:
        start = _utc(self.start) if self.start else None
        end = _utc(self.end) if self.end else None
        seconds = ((end or now) - start).total_seconds() if start else 0.0
        return {
            "taskId": self.task_id,
            "startTime": backup_time(start) if start else NULL_BACKUP_TIME,
            "endTime": backup_time(end) if end else NULL_BACKUP_TIME,
            "duration": iso_duration(seconds),
            "status": self.status,
        }


@dataclass
class JobErrorDetail:
    error_code: int
    error_title: str
    error_string: str
    recommendations: list[str] = field(default_factory=list)

    def to_arm(self) -> dict[str, Any]:
        return {"errorCode": self.error_code, "errorTitle": self.error_title, "errorString": self.error_string,
                "recommendations": list(self.recommendations)}


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
    # Until then a cancel is refused as "not in progress": guide 001's jobs table calls it a transitory
    # state ("wait a minute and retry the cancel operation").
    cancel_refused_until: datetime | None = None
    completes_at: datetime | None = None  # a seeded InProgress job that completes then (a slow backup)
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

    def to_arm(self, sb: Sandbox, *, extended: bool) -> dict[str, Any]:
        """The job as JobDetails_Get (`extended`, with extendedInfo) or a BackupJobs_List item shows it."""
        now = sb.clock.now()
        start = _utc(self.start) if self.start else now
        end = _utc(self.end) if self.end else None
        props: dict[str, Any] = {
            "jobType": "AzureIaaSVMJob",
            "duration": iso_duration(((end or now) - start).total_seconds()),
        }
        if self.status == "InProgress" and self.cancellable:
            props["actionsInfo"] = ["Cancellable"]
        if self.errors:
            props["errorDetails"] = [e.to_arm() for e in self.errors]
        props["virtualMachineVersion"] = "Compute"
        if extended:
            props["extendedInfo"] = self._extended_info(now)
        if self.item is not None:
            props["containerName"] = self.item.properties_container
        props["isUserTriggered"] = self.on_demand
        props.update({
            "entityFriendlyName": self.entity_friendly_name,
            "backupManagementType": "AzureIaasVM",
            "operation": self.operation,
            "status": self.status,
            "startTime": backup_time(start),
        })
        if end is not None:
            props["endTime"] = backup_time(end)
        props["activityId"] = self.activity_id
        return {"id": self.id, "name": self.job_id, "type": JOB_TYPE, "properties": props}

    def _extended_info(self, now: datetime) -> dict[str, Any]:
        bag: dict[str, str] = {"VM Name": self.entity_friendly_name}
        if self.operation == "Backup":
            if self.expiry is not None:
                bag["Recovery Point Expiry Time in UTC"] = _us_culture_time(self.expiry)
            if self.item is not None and self.item.policy is not None:
                bag["Policy Name"] = self.item.policy.name
            bag["Backup Size"] = "0 MB" if self.status != "Completed" else "10240 MB"
        info: dict[str, Any] = {
            "tasksList": [t.to_arm(now) for t in self.tasks],
            "propertyBag": bag,
            "internalPropertyBag": {"IsInstantRpJob": "True"} if self.operation == "Backup" else {},
        }
        if self.dynamic_error_message:
            info["dynamicErrorMessage"] = self.dynamic_error_message
        return info


def _us_culture_time(when: datetime) -> str:
    # propertyBag times are in the service's US culture format (`3/13/2022 12:00:00 AM`) [K].
    when = _utc(when)
    hour = when.hour % 12 or 12
    return f"{when.month}/{when.day}/{when.year} {hour}:{when:%M:%S} {'AM' if when.hour < 12 else 'PM'}"


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
            raise errors.policy_not_found(name)
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
            raise errors.item_not_found(container, name)
        return item

    def protect(self, vault: Vault, container: str, name: str, *, source_id: str, policy_name: str) -> tuple[ProtectedItem, BackupJob]:
        """Enable or resume protection of a VM with a policy (protected-item PUT): the item, created on
        first protection, and the ConfigureBackup job the service records."""
        if not policy_name:
            raise errors.invalid_input("The policyId is required to protect an item.")
        policy = self.get_policy(vault, policy_name)  # refused before anything is created
        item = self.find_item(vault, container, name) or self._new_item(vault, container, source_id)
        item.policy = policy
        item.protection_state = "IRPending" if item.never_backed_up else "Protected"
        return item, self._record_job(item, "ConfigureBackup")

    def stop_protection(self, vault: Vault, container: str, name: str, *, source_id: str) -> tuple[ProtectedItem, BackupJob]:
        """Stop protection retaining the data (protected-item PUT with protectionState ProtectionStopped)."""
        item = self.find_item(vault, container, name) or self._new_item(vault, container, source_id)
        item.protection_state, item.policy = "ProtectionStopped", None
        return item, self._record_job(item, "DisableBackup")

    def _new_item(self, vault: Vault, container: str, source_id: str) -> ProtectedItem:
        vm = self._sb.compute.vm_by_id(source_id) if source_id else None
        if vm is None:
            raise errors.invalid_source_resource(source_id)
        if container_name(vm.resource_group, vm.name).lower() != container.lower():
            raise errors.invalid_input("The container name does not match the source virtual machine.")
        return self.add_item(ProtectedItem(vault, vm.id, vm.name, vm.resource_group, None,
                                           protection_state="IRPending", last_backup_status="",
                                           data_id=self._sb.rng.getrandbits(48)))

    # physics.py imports this module, hence the imports inside the methods that drive it.
    def _record_job(self, item: ProtectedItem, operation: str) -> BackupJob:
        from .physics import record_job

        return record_job(self._sb, item, operation)

    def item_operation(self, item: ProtectedItem, job: BackupJob) -> Operation:
        """The (already done) operation a protected-item PUT answers with."""
        return self._sb.operations.begin(0, None, kind="item", vault=item.vault.id.lower(), item=item.id.lower(),
                                         job_id=job.job_id)

    def trigger_backup(self, item: ProtectedItem, expiry: datetime | None) -> tuple[BackupJob, Operation]:
        """An on-demand backup (the job engine in physics.py decides how it ends)."""
        from .physics import trigger_backup

        return trigger_backup(self._sb, item, expiry)

    def cancel_job(self, job: BackupJob) -> Operation:
        from .physics import cancel_job

        return cancel_job(self._sb, job)

    def find_operation(self, op_id: str, vault: Vault, **match: str) -> Operation:
        """A backup operation of this vault (and item or job, when given), or BMSUserErrorOperationNotFound."""
        op = self._sb.operations.find(op_id)
        if op is None or op.data.get("vault") != vault.id.lower() or any(
            str(op.data.get(k, "")).lower() != v.lower() for k, v in match.items()
        ):
            raise errors.operation_not_found(op_id)
        return op

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
            raise errors.job_not_found(job_id)
        return job

    def jobs_of(self, vault: Vault, entity: str | None = None) -> list[BackupJob]:
        """Newest first, as the service lists them; ``entity``: only that VM's (by friendly name), narrowed
        before sorting (one VM's jobs out of a fleet vault's thousands)."""
        jobs = self._jobs_by_vault.get(vault.id.lower(), [])
        if entity:
            folded = entity.lower()
            jobs = [j for j in jobs if j.entity_friendly_name.lower() == folded]
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
