"""Compute JSON (VM with instance view, restore point collections) to frozen models."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidResourceIdError
from ..ids import ResourceId, RestorePointCollectionRef, VmRef
from ..models import Disk, Extension, RestorePoint, RestorePointCollection, VirtualMachine, VmAgentStatus
from ..models.keyvault import EncryptionKey
from .wire import arm_time, dig

__all__ = ["collection_from_wire", "disk_keys", "vm_from_wire"]


def _statuses(node: Any) -> list[dict[str, Any]]:
    return [s for s in dig(node, "statuses", default=[]) if isinstance(s, dict)]


def _status_by_prefix(statuses: list[dict[str, Any]], prefix: str) -> dict[str, Any] | None:
    return next((s for s in statuses if str(s.get("code", "")).lower().startswith(prefix)), None)


def _agent(view: Any) -> VmAgentStatus:
    agent = dig(view, "vmAgent")
    if not agent:
        return VmAgentStatus()
    status = (_statuses(agent) or [{}])[0]
    return VmAgentStatus(
        status=status.get("displayStatus") or None,
        version=dig(agent, "vmAgentVersion"),
        message=status.get("message"),
        code=status.get("code"),
    )


def _extensions(data: dict[str, Any], view: Any) -> tuple[Extension, ...]:
    """Extension resources (``resources[]``) merged with their instance-view statuses by name."""
    views = {str(e.get("name", "")).casefold(): e for e in dig(view, "extensions", default=[]) if isinstance(e, dict)}
    out: list[Extension] = []
    seen: set[str] = set()
    for res in dig(data, "resources", default=[]):
        if not isinstance(res, dict):
            continue
        name = res.get("name") or str(res.get("id", "")).rsplit("/", 1)[-1]
        props = dig(res, "properties", default={})
        status = (_statuses(views.get(name.casefold())) or [{}])[0]
        seen.add(name.casefold())
        out.append(
            Extension(
                name=name,
                publisher=dig(props, "publisher"),
                type=dig(props, "type"),
                type_handler_version=dig(props, "typeHandlerVersion"),
                provisioning_state=dig(props, "provisioningState"),
                status_code=status.get("code"),
                status_level=status.get("level"),
                status_message=status.get("message"),
                force_update_tag=dig(props, "forceUpdateTag"),
                encryption_keys=_extension_keys(name, props),
            )
        )
    for key, ext in views.items():
        if key in seen:
            continue
        # Only in the instance view: its type is publisher-qualified ("Microsoft.Compute.BGInfo").
        qualified = str(ext.get("type") or "")
        publisher, _, type_ = qualified.rpartition(".")
        status = (_statuses(ext) or [{}])[0]
        out.append(
            Extension(
                name=str(ext.get("name")),
                publisher=publisher or None,
                type=type_ or None,
                type_handler_version=ext.get("typeHandlerVersion"),
                status_code=status.get("code"),
                status_level=status.get("level"),
                status_message=status.get("message"),
            )
        )
    return tuple(out)


def _extension_keys(name: str, props: Any) -> tuple[EncryptionKey, ...]:
    """The vault an Azure Disk Encryption extension's public settings name (KeyVaultResourceId), for
    secrets, and for keys too when they name a KEK (KeyEncryptionKeyURL)."""
    if str(dig(props, "publisher") or "").casefold() != "microsoft.azure.security":
        return ()
    settings = dig(props, "settings", default={})
    if not isinstance(settings, dict):
        return ()
    folded = {str(k).casefold(): v for k, v in settings.items()}
    vault = folded.get("keyvaultresourceid")
    if not isinstance(vault, str) or not vault:
        return ()
    keys = [EncryptionKey("secret", vault, folded.get("keyvaulturl"), name, "extension")]
    kek = folded.get("keyencryptionkeyurl")
    if isinstance(kek, str) and kek:
        keys.append(EncryptionKey("key", str(folded.get("kekvaultresourceid") or vault), kek, name, "extension"))
    return tuple(keys)


def disk_keys(settings: Any, disk: str, source: str) -> tuple[EncryptionKey, ...]:
    """The BEK secret and KEK of one ADE settings element (VM model ``encryptionSettings`` or an entry of a
    managed disk's ``encryptionSettingsCollection.encryptionSettings``)."""
    out: list[EncryptionKey] = []
    for kind, key, url in (("secret", "diskEncryptionKey", "secretUrl"), ("key", "keyEncryptionKey", "keyUrl")):
        vault = dig(settings, key, "sourceVault", "id")
        if isinstance(vault, str) and vault:
            out.append(EncryptionKey(kind, vault, dig(settings, key, url), disk, source))
    return tuple(out)


def _encrypted(disk: Any) -> bool:
    return bool(
        dig(disk, "encryptionSettings", "enabled")
        or dig(disk, "encryptionSettings", "diskEncryptionKey")
    )


def _disks(props: Any) -> tuple[tuple[Disk, ...], bool]:
    storage = dig(props, "storageProfile", default={})
    disks: list[Disk] = []
    os_disk = dig(storage, "osDisk")
    if os_disk:
        name = str(os_disk.get("name") or "osdisk")
        disks.append(Disk(name, dig(os_disk, "diskSizeGB"), _encrypted(os_disk), is_os_disk=True,
                          managed_disk_id=dig(os_disk, "managedDisk", "id"),
                          encryption_keys=disk_keys(dig(os_disk, "encryptionSettings"), name, "vm model")
                          if _encrypted(os_disk) else ()))
    for data_disk in dig(storage, "dataDisks", default=[]):
        if isinstance(data_disk, dict):
            disks.append(Disk(str(data_disk.get("name") or f"lun{data_disk.get('lun')}"),
                              dig(data_disk, "diskSizeGB"), _encrypted(data_disk),
                              managed_disk_id=dig(data_disk, "managedDisk", "id")))
    return tuple(disks), any(d.encrypted for d in disks)


def vm_from_wire(ref: VmRef, data: dict[str, Any]) -> VirtualMachine:
    props = dig(data, "properties", default={})
    view = dig(props, "instanceView", default={})
    statuses = _statuses(view)
    provisioning = _status_by_prefix(statuses, "provisioningstate/") or {}
    power = _status_by_prefix(statuses, "powerstate/") or {}
    disks, encrypted = _disks(props)
    return VirtualMachine(
        ref=ref,
        location=str(data.get("location") or ""),
        os_type=dig(props, "storageProfile", "osDisk", "osType"),
        vm_size=dig(props, "hardwareProfile", "vmSize"),
        provisioning_state=dig(props, "provisioningState"),
        power_state=power.get("code"),
        agent=_agent(view),
        extensions=_extensions(data, view),
        disks=disks,
        encrypted=encrypted,
        provisioning_status_code=provisioning.get("code"),
        provisioning_status_message=provisioning.get("message"),
        provision_vm_agent=_provision_vm_agent(props),
        nic_ids=_nic_ids(props),
        boot_diagnostics_storage_uri=dig(props, "diagnosticsProfile", "bootDiagnostics", "storageUri"),
    )


def _provision_vm_agent(props: Any) -> bool | None:
    for config in ("windowsConfiguration", "linuxConfiguration"):
        value = dig(props, "osProfile", config, "provisionVMAgent")
        if isinstance(value, bool):
            return value
    return None


def _nic_ids(props: dict[str, Any]) -> tuple[str, ...]:
    nics = [n for n in dig(props, "networkProfile", "networkInterfaces", default=[]) or [] if isinstance(n, dict)]
    nics.sort(key=lambda n: not bool(dig(n, "properties", "primary", default=False)))  # primary first
    return tuple(str(n["id"]) for n in nics if n.get("id"))


def collection_from_wire(data: dict[str, Any]) -> RestorePointCollection:
    props = dig(data, "properties", default={})
    source = dig(props, "source", "id")
    try:
        source_id = ResourceId.parse(source) if source else None
    except InvalidResourceIdError:
        source_id = None  # a source we cannot read is no VM of ours
    points = tuple(
        RestorePoint(str(p.get("name")), arm_time(dig(p, "properties", "timeCreated")))
        for p in dig(props, "restorePoints", default=[])
        if isinstance(p, dict)
    )
    return RestorePointCollection(
        ref=RestorePointCollectionRef.parse(str(data.get("id"))),
        location=data.get("location"),
        source_vm_id=source_id,
        restore_points=points,
        provisioning_state=dig(props, "provisioningState"),
    )
