"""Managed disks (`Microsoft.Compute/disks`) with their encryption settings.

A VM's OS and data disks exist as disk resources of their own (`managedBy` the VM). Azure Disk
Encryption writes its keys to the disk resource's `encryptionSettingsCollection`; single-pass ADE
writes them *only* there (the VM model's `osDisk.encryptionSettings` stays empty), so the disks are
where a backup learns which Key Vault secrets and keys it must read."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...core.timefmt import arm_time
from . import errors

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox
    from ..compute.models import VirtualMachine

__all__ = ["DISK_TYPE", "Disk", "DiskBackend", "EncryptionKeyRef", "ade_settings"]

DISK_TYPE = "Microsoft.Compute/disks"
_TIERS = {"Premium_LRS": "Premium", "StandardSSD_LRS": "Standard", "Standard_LRS": "Standard"}


@dataclass(frozen=True)
class EncryptionKeyRef:
    """One ADE key a disk's encryption uses: the BEK secret, or the KEK wrapping it."""

    kind: str  # "secret" (BEK) | "key" (KEK)
    vault_id: str
    url: str


@dataclass
class Disk:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    size_gb: int
    os_type: str | None = None
    managed_by: str | None = None
    sku: str = "Premium_LRS"
    encryption_type: str = "EncryptionAtRestWithPlatformKey"
    ade: dict[str, Any] | None = None  # encryptionSettingsCollection as ARM serialises it
    time_created: datetime | None = None
    unique_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/{DISK_TYPE}/{self.name}")

    def encryption_keys(self) -> list[EncryptionKeyRef]:
        """The Key Vault secrets and keys this disk's ADE settings name (none when not enabled)."""
        if not self.ade or not self.ade.get("enabled"):
            return []
        out: list[EncryptionKeyRef] = []
        for entry in self.ade.get("encryptionSettings") or []:
            for kind, key, url_key in (("secret", "diskEncryptionKey", "secretUrl"),
                                       ("key", "keyEncryptionKey", "keyUrl")):
                ref = (entry or {}).get(key) or {}
                vault = (ref.get("sourceVault") or {}).get("id")
                if vault:
                    out.append(EncryptionKeyRef(kind, str(vault), str(ref.get(url_key) or "")))
        return out

    def to_arm(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        if self.os_type:
            properties["osType"] = self.os_type
            properties["hyperVGeneration"] = "V2"
        properties["creationData"] = {"createOption": "FromImage" if self.os_type else "Empty"}
        properties["diskSizeGB"] = self.size_gb
        if self.ade is not None:
            properties["encryptionSettingsCollection"] = self.ade
        properties["encryption"] = {"type": self.encryption_type}
        properties.update({
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled",
            "timeCreated": arm_time(self.time_created) if self.time_created else None,
            "provisioningState": "Succeeded",
            "diskState": "Attached" if self.managed_by else "Unattached",
            "diskSizeBytes": self.size_gb * 1024**3,
            "uniqueId": self.unique_id,
        })
        properties = {k: v for k, v in properties.items() if v is not None}
        body: dict[str, Any] = {"name": self.name, "id": self.id, "type": DISK_TYPE, "location": self.location}
        if self.tags:
            body["tags"] = dict(self.tags)
        if self.managed_by:
            body["managedBy"] = self.managed_by
        body["sku"] = {"name": self.sku, "tier": _TIERS.get(self.sku, "Standard")}
        body["properties"] = properties
        return body


def ade_settings(vm: VirtualMachine) -> dict[str, Any] | None:
    """The encryptionSettingsCollection ADE writes to each of an encrypted VM's disks: version 1.1 for
    single-pass (the only record), 1.0 for dual-pass (the VM model holds it too)."""
    if not vm.encrypted:
        return None
    from ..compute.models import encryption_settings

    element = {k: v for k, v in encryption_settings(vm).items() if k != "enabled"}
    return {"enabled": True, "encryptionSettings": [element],
            "encryptionSettingsVersion": "1.1" if vm.single_pass else "1.0"}


def _key(subscription_id: str, resource_group: str, name: str) -> tuple[str, str, str]:
    return (subscription_id.lower(), resource_group.lower(), name.lower())


class DiskBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.disks: dict[tuple[str, str, str], Disk] = {}
        self._by_vm: dict[str, dict[tuple[str, str, str], Disk]] = {}  # backups ask per VM, fleets are large

    def add(self, disk: Disk) -> Disk:
        disk.unique_id = disk.unique_id or str(uuid.uuid5(uuid.NAMESPACE_URL, disk.id.lower()))
        disk.time_created = disk.time_created or self._sb.clock.now()
        key = _key(disk.subscription_id, disk.resource_group, disk.name)
        self.disks[key] = disk
        if disk.managed_by:
            self._by_vm.setdefault(disk.managed_by.lower(), {})[key] = disk
        return disk

    def add_for_vm(self, vm: VirtualMachine) -> None:
        """The VM's OS and data disks as resources of their own (kept when they already exist)."""
        from ..compute.models import os_disk_name

        ade = ade_settings(vm)
        wanted = [(os_disk_name(vm), vm.os_disk_size_gb, vm.os_type)]
        wanted += [(d.name, d.size_gb, None) for d in vm.data_disks]
        for name, size, os_type in wanted:
            if self.find(vm.subscription_id, vm.resource_group, name) is None:
                self.add(Disk(vm.subscription_id, vm.resource_group, name, vm.location, size, os_type,
                              managed_by=vm.id, ade=None if ade is None else copy.deepcopy(ade),
                              time_created=vm.time_created))

    def find(self, subscription_id: str, resource_group: str, name: str) -> Disk | None:
        return self.disks.get(_key(subscription_id, resource_group, name))

    def get(self, subscription_id: str, resource_group: str, name: str) -> Disk:
        disk = self.find(subscription_id, resource_group, name)
        if disk is None:
            raise errors.disk_not_found(name, resource_group)
        return disk

    def by_id(self, disk_id: str) -> Disk | None:
        parts = disk_id.strip("/").split("/")
        if len(parts) != 8 or parts[5].lower() != "microsoft.compute" or parts[6].lower() != "disks":
            return None
        return self.find(parts[1], parts[3], parts[7])

    def list(self, subscription_id: str, resource_group: str | None = None) -> list[Disk]:
        sub, rg = subscription_id.lower(), (resource_group or "").lower()
        return sorted((d for (s, g, _), d in self.disks.items() if s == sub and (not rg or g == rg)),
                      key=lambda d: (d.resource_group.lower(), d.name.lower()))

    def remove_for_vm(self, vm: VirtualMachine) -> None:
        for key in self._by_vm.pop(vm.id.lower(), {}):
            self.disks.pop(key, None)

    def for_vm(self, vm: VirtualMachine) -> list[Disk]:
        return list(self._by_vm.get(vm.id.lower(), {}).values())

    def put(self, subscription_id: str, resource_group: str, name: str, body: dict[str, Any]) -> tuple[Disk, bool]:
        """Create or update (DiskS_CreateOrUpdate): size, encryption type, ADE settings and tags."""
        props = body.get("properties") or {}
        existing = self.find(subscription_id, resource_group, name)
        ade = props.get("encryptionSettingsCollection")
        if ade is not None and not isinstance(ade, dict):
            raise errors.invalid_parameter("encryptionSettingsCollection must be an object.",
                                           "encryptionSettingsCollection")
        if existing is None:
            location = body.get("location")
            if not location:
                raise errors.invalid_parameter("Required parameter 'location' is missing (null).", "location")
            if not (props.get("creationData") or {}).get("createOption"):
                raise errors.invalid_parameter("Required parameter 'creationData.createOption' is missing (null).",
                                               "creationData.createOption")
            size = props.get("diskSizeGB")
            if not isinstance(size, int) or size < 1:
                raise errors.invalid_parameter("Required parameter 'diskSizeGB' is missing (null).", "diskSizeGB")
            disk = Disk(subscription_id, resource_group, name, str(location), size, props.get("osType"),
                        ade=ade, tags=dict(body.get("tags") or {}))
            return self.add(disk), True
        if body.get("location") and str(body["location"]).replace(" ", "").lower() != existing.location.lower():
            raise errors.property_change_not_allowed("location")
        size = props.get("diskSizeGB")
        if isinstance(size, int) and size < existing.size_gb:
            raise errors.invalid_parameter("Disk size cannot be decreased.", "diskSizeGB")
        if isinstance(size, int):
            existing.size_gb = size
        if ade is not None:
            existing.ade = ade
        kind = (props.get("encryption") or {}).get("type")
        if kind:
            existing.encryption_type = str(kind)
        if "tags" in body:
            existing.tags = dict(body.get("tags") or {})
        return existing, False

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"id": d.id, "sizeGB": d.size_gb, "managedBy": d.managed_by, "encryptionSettingsCollection": d.ade}
                for d in sorted(self.disks.values(), key=lambda d: d.id.lower())]
