"""A parsed estate file: frozen, fully validated and cross-referenced, ready to build.

The document format is described in docs/estate-files.md; `schema.parse_estate` makes these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .network import NetworkSpec, VmNetworkSpec

__all__ = [
    "AccessPolicySpec",
    "AgentSpec",
    "CollectionSpec",
    "DataDiskSpec",
    "EstateSpec",
    "ExtensionSpec",
    "GroupSpec",
    "ItemSpec",
    "JobErrorSpec",
    "JobSpec",
    "KeyVaultSpec",
    "LockSpec",
    "PolicyAssignmentSpec",
    "PointSpec",
    "PolicySpec",
    "RoleAssignmentSpec",
    "SubscriptionSpec",
    "TaskSpec",
    "VaultSpec",
    "VmSpec",
]


@dataclass(frozen=True)
class GroupSpec:
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    managed_by: str | None = None


@dataclass(frozen=True)
class AgentSpec:
    status: str = "Ready"  # "Ready" | "Not Ready" | "" (no agent reported)
    version: str = "2.7.41491.1102"
    message: str = "GuestAgent is running and accepting new configurations."
    revived_by_restart: bool = True
    revived_by_redeploy: bool = False


@dataclass(frozen=True)
class ExtensionSpec:
    name: str
    publisher: str
    type: str
    type_handler_version: str
    provisioning_state: str = "Succeeded"
    status_code: str | None = None  # None: derived from the provisioning state
    status_level: str | None = None
    status_message: str = ""
    auto_upgrade_minor_version: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    force_update_tag: str | None = None
    cause_persists: bool = False


@dataclass(frozen=True)
class DataDiskSpec:
    lun: int
    name: str
    size_gb: int


@dataclass(frozen=True)
class VmSpec:
    name: str
    resource_group: str
    location: str
    os_type: str
    vm_id: str | None
    vm_size: str
    os_disk_size_gb: int
    data_disks: tuple[DataDiskSpec, ...]
    encrypted: bool
    key_vault_url: str | None
    provisioning_state: str
    provisioning_error: str | None
    provisioning_message: str | None
    power_state: str
    agent: AgentSpec
    provision_vm_agent: bool
    extensions: tuple[ExtensionSpec, ...]
    time_created: datetime | None
    computer_name: str
    os_name: str
    os_version: str
    tags: dict[str, str]
    zones: tuple[str, ...]
    deleted: bool
    transition_seconds: int = 120  # with a transitional power state: when it settles
    key_vault: tuple[str, str] | None = None  # (resource group, name) of a keyVaults entry
    key_encryption_key: bool = False
    single_pass: bool = False
    network: VmNetworkSpec = field(default_factory=lambda: _vm_network())
    guest: dict[str, Any] | None = None  # the validated `guest:` mapping (scenarios/guest.py)
    boot_diagnostics_storage_uri: str | None = None  # a custom boot-diagnostics storage account's blob endpoint


@dataclass(frozen=True)
class PolicySpec:
    name: str
    policy_type: str = "V2"
    instant_rp_retention_days: int = 2
    rg_prefix: str | None = None
    rg_suffix: str | None = None
    daily_retention_days: int = 30
    schedule_time: str = "2026-11-01T02:00:00Z"


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    status: str
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class JobErrorSpec:
    error_code: int
    error_title: str
    error_string: str
    recommendations: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobSpec:
    job_id: str | None
    operation: str
    status: str
    start: datetime | None
    end: datetime | None
    tasks: tuple[TaskSpec, ...]
    errors: tuple[JobErrorSpec, ...]
    activity_id: str | None
    expiry: datetime | None
    on_demand: bool
    cancellable: bool
    stuck: bool
    dynamic_error_message: str | None
    cancel_refused_seconds: int | None = None  # a cancel within this long of loading: "not in progress"
    completes_after_seconds: int | None = None  # an InProgress job that completes this long after loading


@dataclass(frozen=True)
class ItemSpec:
    vm_name: str
    vm_resource_group: str
    policy: str | None
    protection_state: str
    protection_status: str
    health_status: str
    last_backup_status: str
    last_backup_time: datetime | None
    last_recovery_point: datetime | None
    data_id: int | None
    virtual_machine_guid: str | None
    key_vault_access: bool
    jobs: tuple[JobSpec, ...]
    run_backups: int


@dataclass(frozen=True)
class VaultSpec:
    name: str
    resource_group: str
    location: str
    tags: dict[str, str]
    policies: tuple[PolicySpec, ...]
    items: tuple[ItemSpec, ...]


@dataclass(frozen=True)
class PointSpec:
    name: str | None
    time_created: datetime
    consistency_mode: str = "CrashConsistent"
    provisioning_state: str = "Succeeded"


@dataclass(frozen=True)
class CollectionSpec:
    name: str | None
    resource_group: str
    location: str
    source_name: str
    source_resource_group: str
    collection_id: str | None
    provisioning_state: str
    tags: dict[str, str]
    points: tuple[PointSpec, ...]
    point_count: int | None = None  # `restorePoints: N`: N daily points ending yesterday at 02:00


@dataclass(frozen=True)
class LockSpec:
    scope: str  # relative to the subscription: "" (the subscription), "resourceGroups/NAME[/...]"
    name: str
    level: str
    notes: str | None
    owners: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class PolicyAssignmentSpec:
    """An Azure Policy assignment requiring a tag on resource groups (Deny, Modify or Audit)."""

    name: str
    display_name: str
    definition_name: str
    definition_display_name: str
    effect: str
    tag: str
    tag_value: str
    scope: str  # "" (the subscription) or resourceGroups/NAME


@dataclass(frozen=True)
class AccessPolicySpec:
    object_id: str | None  # None: the Backup Management Service principal of the subscription's tenant
    tenant_id: str | None
    permissions: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class KeyVaultSpec:
    name: str
    resource_group: str
    location: str
    tenant_id: str | None
    rbac: bool
    access_policies: tuple[AccessPolicySpec, ...]
    enabled_for_disk_encryption: bool
    tags: dict[str, str]


@dataclass(frozen=True)
class RoleAssignmentSpec:
    scope: str  # relative to the subscription, as for locks
    role: str  # a built-in role's name or GUID
    principal_id: str | None  # None: the Backup Management Service principal
    name: str | None


@dataclass(frozen=True)
class SubscriptionSpec:
    subscription_id: str
    display_name: str
    tenant_id: str
    state: str
    groups: tuple[GroupSpec, ...]
    vms: tuple[VmSpec, ...]
    vaults: tuple[VaultSpec, ...]
    collections: tuple[CollectionSpec, ...]
    locks: tuple[LockSpec, ...]
    policy_assignments: tuple[PolicyAssignmentSpec, ...] = ()
    key_vaults: tuple[KeyVaultSpec, ...] = ()
    role_assignments: tuple[RoleAssignmentSpec, ...] = ()
    network: NetworkSpec = field(default_factory=lambda: _network())


@dataclass(frozen=True)
class EstateSpec:
    name: str | None
    description: str
    now: datetime | None
    subscriptions: tuple[SubscriptionSpec, ...]


def _vm_network() -> VmNetworkSpec:
    from .network import VmNetworkSpec

    return VmNetworkSpec()


def _network() -> NetworkSpec:
    from .network import NetworkSpec

    return NetworkSpec()
