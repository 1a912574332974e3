"""Snapshots of Microsoft.Compute state: VM, agent, extensions, disks, restore points.

The gateway builds these from SDK objects; checks read them. String states keep
ARM's values (``Succeeded``, ``Failed``, ...) and are compared case-insensitively
through the properties, because ARM's casing is not stable across api-versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..ids import BACKUP_EXTENSION_PUBLISHER, ResourceId, RestorePointCollectionRef, VmRef
from .keyvault import EncryptionKey

__all__ = [
    "BACKUP_EXTENSION_TYPES",
    "OFFLINE_POWER_STATES",
    "TRANSITIONAL_POWER_STATES",
    "Disk",
    "Extension",
    "RestorePoint",
    "RestorePointCollection",
    "VirtualMachine",
    "VmAgentStatus",
    "normalize_power_state",
]

# The backup extension is identified by publisher + type, never by its resource name.
BACKUP_EXTENSION_TYPES = ("VMSnapshot", "VMSnapshotLinux")

_TRANSITIONAL = frozenset({"creating", "updating", "deleting", "migrating"})
# Power states on the way between running and stopped: they settle on their own.
TRANSITIONAL_POWER_STATES = frozenset({"starting", "stopping", "deallocating"})
# Power states in which Azure Backup backs the VM up offline (crash-consistent, no agent or extension).
OFFLINE_POWER_STATES = frozenset({"stopped", "deallocated"})


def _same(a: str | None, b: str) -> bool:
    return a is not None and a.casefold() == b.casefold()


def normalize_power_state(value: str | None) -> str | None:
    """``'PowerState/running'`` or ``'VM running'`` -> ``'running'``; ``None`` stays ``None``."""
    if value is None:
        return None
    text = value.strip()
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    if text.lower().startswith("vm "):
        text = text[3:]
    return text.strip().lower() or None


@dataclass(frozen=True, slots=True)
class VmAgentStatus:
    """The guest agent as the instance view reports it; ``status`` is ``None`` when absent."""

    status: str | None = None  # displayStatus: "Ready" / "Not Ready"
    version: str | None = None  # vmAgentVersion; "Unknown" when the agent is unresponsive
    message: str | None = None
    code: str | None = None  # e.g. "ProvisioningState/Unavailable"

    @property
    def is_ready(self) -> bool:
        return _same(self.status, "Ready")

    @property
    def is_reported(self) -> bool:
        return self.status is not None

    @property
    def known_version(self) -> str | None:
        """The version, or ``None`` when absent or ``Unknown``."""
        if self.version is None or _same(self.version, "Unknown") or not self.version.strip():
            return None
        return self.version


@dataclass(frozen=True, slots=True)
class Extension:
    """A VM extension: the resource's state plus its instance-view status."""

    name: str
    publisher: str | None
    type: str | None
    type_handler_version: str | None = None
    provisioning_state: str | None = None
    status_code: str | None = None  # instance view, e.g. "ProvisioningState/failed/1"
    status_level: str | None = None  # Info / Warning / Error
    status_message: str | None = None
    force_update_tag: str | None = None  # the tag of its last forced re-run, if any
    encryption_keys: tuple[EncryptionKey, ...] = ()  # an ADE extension's KeyVaultResourceId / KEK settings

    @property
    def is_disk_encryption(self) -> bool:
        """AzureDiskEncryption (Windows) or AzureDiskEncryptionForLinux of Microsoft.Azure.Security."""
        return _same(self.publisher, "Microsoft.Azure.Security") and (self.type or "").casefold() in (
            "azurediskencryption", "azurediskencryptionforlinux")

    @property
    def is_backup_extension(self) -> bool:
        return _same(self.publisher, BACKUP_EXTENSION_PUBLISHER) and any(
            _same(self.type, t) for t in BACKUP_EXTENSION_TYPES
        )

    @property
    def is_failed(self) -> bool:
        return _same(self.provisioning_state, "Failed") or _same(self.status_level, "Error")

    @property
    def is_deleting(self) -> bool:
        return _same(self.provisioning_state, "Deleting")

    @property
    def qualified_type(self) -> str:
        """``Publisher.Type`` as instance-view handlers print it."""
        return ".".join(p for p in (self.publisher, self.type) if p)


@dataclass(frozen=True, slots=True)
class Disk:
    name: str
    size_gb: int | None = None
    encrypted: bool = False  # Azure Disk Encryption (ADE) settings present
    is_os_disk: bool = False
    managed_disk_id: str | None = None  # storageProfile.*.managedDisk.id
    encryption_keys: tuple[EncryptionKey, ...] = ()  # ADE keys named in the VM model (dual-pass)


@dataclass(frozen=True, slots=True)
class VirtualMachine:
    """A VM with its instance view, as observed."""

    ref: VmRef
    location: str
    os_type: str | None = None  # "Windows" / "Linux"
    vm_size: str | None = None
    provisioning_state: str | None = None  # "Succeeded", "Failed", "Updating", ...
    power_state: str | None = None  # normalised: "running", "deallocated", "stopped", ...
    agent: VmAgentStatus = VmAgentStatus()
    extensions: tuple[Extension, ...] = ()
    disks: tuple[Disk, ...] = ()
    encrypted: bool = False
    provisioning_status_code: str | None = None  # e.g. "ProvisioningState/failed/VMExtensionProvisioningError"
    provisioning_status_message: str | None = None
    provision_vm_agent: bool | None = None  # osProfile.*Configuration.provisionVMAgent; None when absent
    nic_ids: tuple[str, ...] = ()  # networkProfile.networkInterfaces, the primary first
    boot_diagnostics_storage_uri: str | None = None  # a custom boot-diagnostics account's blob endpoint

    def __post_init__(self) -> None:
        object.__setattr__(self, "power_state", normalize_power_state(self.power_state))
        object.__setattr__(self, "extensions", tuple(self.extensions))
        object.__setattr__(self, "disks", tuple(self.disks))

    @property
    def is_running(self) -> bool:
        return self.power_state == "running"

    @property
    def is_offline(self) -> bool:
        """Stopped or deallocated: backed up offline, crash-consistent."""
        return self.power_state in OFFLINE_POWER_STATES

    @property
    def power_transitioning(self) -> bool:
        return self.power_state in TRANSITIONAL_POWER_STATES

    @property
    def agent_never_installed(self) -> bool:
        """No agent at all: the model says none was provisioned, or a running VM reports no vmAgent."""
        if self.agent.is_ready:
            return False
        return self.provision_vm_agent is False or (self.is_running and not self.agent.is_reported)

    @property
    def failed_other_extensions(self) -> tuple[Extension, ...]:
        """Failed extensions that are not the backup extension (they belong to someone else)."""
        return tuple(e for e in self.extensions if e.is_failed and not e.is_backup_extension)

    @property
    def provisioning_failed(self) -> bool:
        return _same(self.provisioning_state, "Failed")

    @property
    def provisioning_transitioning(self) -> bool:
        return (self.provisioning_state or "").casefold() in _TRANSITIONAL

    @property
    def provisioning_error_code(self) -> str | None:
        """The ``<ErrorCode>`` of ``ProvisioningState/failed/<ErrorCode>``, when reported."""
        code = self.provisioning_status_code or ""
        parts = code.split("/")
        if len(parts) >= 3 and parts[1].casefold() == "failed":
            return "/".join(parts[2:])
        return None

    @property
    def backup_extension(self) -> Extension | None:
        return next((e for e in self.extensions if e.is_backup_extension), None)

    @property
    def os_family(self) -> str | None:
        """``'windows'`` / ``'linux'`` / ``None``."""
        kind = (self.os_type or "").casefold()
        return kind if kind in ("windows", "linux") else None


@dataclass(frozen=True, slots=True)
class RestorePoint:
    name: str
    time_created: datetime | None = None


@dataclass(frozen=True, slots=True)
class RestorePointCollection:
    """A restore point collection; ``source_vm_id`` is ``properties.source.id``."""

    ref: RestorePointCollectionRef
    location: str | None = None
    source_vm_id: ResourceId | None = None
    restore_points: tuple[RestorePoint, ...] = ()
    provisioning_state: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "restore_points", tuple(self.restore_points))

    def is_for(self, vm: VmRef) -> bool:
        """Matched by the source id, never by the collection's name."""
        return self.source_vm_id is not None and self.source_vm_id == vm.resource_id
