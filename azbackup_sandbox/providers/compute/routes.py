"""Wire format of Microsoft.Compute: virtual machines (GET with instance views, lists, restart / start /
reapply / run command), VM extensions, restore point collections and restore points, and the regional
operation URLs every compute LRO polls. State and rules live in `models.py`; this module only parses
requests and serialises answers as the Compute resource provider writes them."""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...core.errors import ArmError
from ...core.http import SandboxRequest, SandboxResponse, empty_response
from ...core.operations import Operation
from ...core.paging import page
from ...core.timefmt import arm_time
from . import errors
from .models import RPC_TYPE, VM_TYPE, Extension, RestorePoint, RestorePointCollection, VirtualMachine

if TYPE_CHECKING:
    from ...core.router import Handler, Router
    from ...core.sandbox import Sandbox

__all__ = [
    "register",
    "vm_to_arm",
    "vm_instance_view",
    "extension_to_arm",
    "collection_to_arm",
    "restore_point_to_arm",
    "RATE_LIMITS",
]

_SUB = "/subscriptions/{subscriptionId}"
_RG = _SUB + "/resourceGroups/{resourceGroupName}"
_VMS = _RG + "/providers/Microsoft.Compute/virtualMachines"
_VM = _VMS + "/{vmName}"
_EXTS = _VM + "/extensions"
_EXT = _EXTS + "/{vmExtensionName}"
_RPCS = _RG + "/providers/Microsoft.Compute/restorePointCollections"
_RPC = _RPCS + "/{restorePointCollectionName}"
_RP = _RPC + "/restorePoints/{restorePointName}"
_OPERATION = _SUB + "/providers/Microsoft.Compute/locations/{location}/operations/{operationId}"

EXT_TYPE = f"{VM_TYPE}/extensions"
RP_TYPE = f"{RPC_TYPE}/restorePoints"

# Compute RP throttling policies (3-minute, 30-minute allowances) for x-ms-ratelimit-remaining-resource.
# LowCostGet and GetOperation limits are read off recordings (3999/31999, 49999/399999 after one call);
# the others are plausible values consistent with observed remainders (UpdateVM3Min;239, DeleteRestorePoints3Min;348).
RATE_LIMITS: dict[str, tuple[int, int]] = {
    "LowCostGet": (4000, 32000),
    "HighCostGet": (140, 700),
    "UpdateVM": (240, 1200),
    "GetOperation": (50000, 400000),
    "LowCostGetRestorePoint": (4000, 32000),
    "HighCostGetRestorePoint": (140, 700),
    "CreateRestorePoints": (350, 3500),
    "DeleteRestorePoints": (350, 3500),
}

# The Compute RP pretty-prints its JSON (two-space indent, CRLF), unlike the compact ARM gateway errors.
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
# A per-region partition hint the RP puts in its operation URLs (`p=`); constant per region, as observed.
_PARTITION_NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")

_DEFAULT_OS = {
    "linux": ("ubuntu", "22.04"),
    "windows": ("Windows Server 2022 Datacenter", "Microsoft Windows NT 10.0.20348.0"),
}
_IMAGES = {
    "linux": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
              "version": "latest", "exactVersion": "22.04.202410020"},
    "windows": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                "sku": "2022-datacenter-azure-edition", "version": "latest", "exactVersion": "20348.2762.241006"},
}
_READY_MESSAGE = "GuestAgent is running and accepting new configurations."
_UNRESPONSIVE = "VM Agent is unresponsive."


# ---- wire helpers -------------------------------------------------------------------------------
def _rp_json(status: int, payload: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
    text = json.dumps(payload, indent=2, ensure_ascii=False).replace("\n", "\r\n")
    return SandboxResponse(status, {**_JSON_HEADERS, **(headers or {})}, text.encode("utf-8"))


def _ratelimit(sb: Sandbox, subscription_id: str, policy: str) -> dict[str, str]:
    limit3, limit30 = RATE_LIMITS[policy]
    used3, used30 = sb.compute.count_call(subscription_id, policy)
    return {
        "x-ms-ratelimit-remaining-resource": f"Microsoft.Compute/{policy}3Min;{max(limit3 - used3, 0)},"
        f"Microsoft.Compute/{policy}30Min;{max(limit30 - used30, 0)}"
    }


def _rp(policy: str) -> Callable[[Handler], Handler]:
    """Mark a handler as answered by the Compute RP: its throttling header, and RP errors pretty-printed.
    Gateway errors (x-ms-failure-cause: gateway) never reached the RP, so they stay as ARM writes them."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        def handler(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
            try:
                response = fn(sb, req, p)
            except ArmError as exc:
                if exc.headers.get("x-ms-failure-cause") == "gateway":
                    raise
                headers = {**exc.headers, **_ratelimit(sb, p["subscriptionId"], policy)}
                return _rp_json(exc.status, exc.envelope(), headers)
            response.headers.update(_ratelimit(sb, p["subscriptionId"], policy))
            return response

        return handler

    return wrap


def _region(location: str) -> str:
    return location.replace(" ", "").lower()


def _lro_headers(
    sb: Sandbox,
    req: SandboxRequest,
    subscription_id: str,
    location: str,
    op: Operation,
    *,
    location_header: bool = True,
    deleting: bool = False,
) -> dict[str, str]:
    """Azure-AsyncOperation (+ Location with monitor=true) on the regional operations URL; deletes carry
    the partition hint `p=` and `azure-asyncnotification`; the RP's request id is the operation id."""
    region = _region(location)
    base = f"{req.base_url}/subscriptions/{subscription_id}/providers/Microsoft.Compute/locations/{region}/operations/{op.id}"
    api = req.query.get("api-version") or ""
    hint = f"p={uuid.uuid5(_PARTITION_NS, region)}&" if deleting else ""
    headers = {"Azure-AsyncOperation": f"{base}?{hint}api-version={api}", "x-ms-request-id": op.id}
    if location_header:
        headers["Location"] = f"{base}?{hint}monitor=true&api-version={api}"
    if deleting:
        headers["azure-asyncnotification"] = "Enabled"
    if sb.clock.rate > 0:  # a running clock: tell clients how long to wait instead of letting them spin
        headers["Retry-After"] = sb.retry_after_header(sb.config.retry_after_seconds)
    return headers


def _status(code: str, level: str, display: str, message: str | None = None, time: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "level": level, "displayStatus": display}
    if message:
        out["message"] = message
    if time:
        out["time"] = time
    return out


def _etag(body: dict[str, Any]) -> str:
    # A model version in the shape ARM prints ("\"838458\""): changes whenever the model changes.
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return str(int(digest[:12], 16) % 1_000_000 + 1)


# ---- virtual machines ---------------------------------------------------------------------------
def _linux(vm: VirtualMachine) -> bool:
    return vm.os_type.lower() == "linux"


def _disk_id(vm: VirtualMachine, disk_name: str) -> str:
    return (f"/subscriptions/{vm.subscription_id}/resourceGroups/{vm.resource_group}"
            f"/providers/Microsoft.Compute/disks/{disk_name}")


def _os_disk_name(vm: VirtualMachine) -> str:
    return f"{vm.name}_OsDisk_1_{vm.vm_id.replace('-', '').lower()}"


def _busy(sb: Sandbox, vm: VirtualMachine) -> bool:
    return vm.busy_until is not None and vm.busy_until > sb.clock.now()


def _vm_provisioning_state(sb: Sandbox, vm: VirtualMachine) -> str:
    # While a VM operation (restart, extension change...) runs, ARM shows the VM as Updating.
    if vm.provisioning_state == "Succeeded" and _busy(sb, vm):
        return "Updating"
    return vm.provisioning_state


def _encryption_settings(vm: VirtualMachine) -> dict[str, Any]:
    vault = (vm.key_vault_url or f"https://kv-{vm.name[:15].lower()}.vault.azure.net/").rstrip("/") + "/"
    vault_name = vault.split("//", 1)[-1].split(".", 1)[0]
    vault_id = (f"/subscriptions/{vm.subscription_id}/resourceGroups/{vm.resource_group}"
                f"/providers/Microsoft.KeyVault/vaults/{vault_name}")
    return {
        "diskEncryptionKey": {
            "secretUrl": f"{vault}secrets/{vm.vm_id.upper()}/{vm.vm_id.replace('-', '')}",
            "sourceVault": {"id": vault_id},
        },
        "enabled": True,
    }


def _storage_profile(vm: VirtualMachine) -> dict[str, Any]:
    os_disk: dict[str, Any] = {
        "osType": "Linux" if _linux(vm) else "Windows",
        "name": _os_disk_name(vm),
        "createOption": "FromImage",
        "caching": "ReadWrite",
    }
    if vm.encrypted:
        os_disk["encryptionSettings"] = _encryption_settings(vm)
    os_disk["managedDisk"] = {"storageAccountType": "Premium_LRS", "id": _disk_id(vm, _os_disk_name(vm))}
    os_disk["deleteOption"] = "Detach"
    os_disk["diskSizeGB"] = vm.os_disk_size_gb
    data_disks = [
        {"lun": d.lun, "name": d.name, "createOption": "Attach", "caching": "None",
         "managedDisk": {"storageAccountType": "Premium_LRS", "id": _disk_id(vm, d.name)},
         "deleteOption": "Detach", "diskSizeGB": d.size_gb, "toBeDetached": False}
        for d in sorted(vm.data_disks, key=lambda d: d.lun)
    ]
    return {"imageReference": dict(_IMAGES["linux" if _linux(vm) else "windows"]), "osDisk": os_disk,
            "dataDisks": data_disks, "diskControllerType": "SCSI"}


def _os_profile(vm: VirtualMachine) -> dict[str, Any]:
    profile: dict[str, Any] = {"computerName": vm.computer_name or vm.name[:15], "adminUsername": "azureuser"}
    if _linux(vm):
        profile["linuxConfiguration"] = {
            "disablePasswordAuthentication": True,
            "provisionVMAgent": True,
            "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
        }
    else:
        profile["windowsConfiguration"] = {
            "provisionVMAgent": True,
            "enableAutomaticUpdates": True,
            "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault",
                              "enableHotpatching": False},
        }
    profile.update({"secrets": [], "allowExtensionOperations": True, "requireGuestProvisionSignal": True})
    return profile


def _display(code: str) -> str:
    lowered = code.lower()
    if lowered.startswith("provisioningstate/succeeded"):
        return "Provisioning succeeded"
    if lowered.startswith("provisioningstate/failed"):
        return "Provisioning failed"
    if lowered.startswith("provisioningstate/transitioning"):
        return "Transitioning"
    return code.rsplit("/", 1)[-1].capitalize()


def _extension_instance_view(ext: Extension) -> dict[str, Any]:
    return {
        "name": ext.name,
        "type": f"{ext.publisher}.{ext.type}",  # publisher-qualified in instance views
        "typeHandlerVersion": ext.type_handler_version,
        "statuses": [_status(ext.status_code, ext.status_level, _display(ext.status_code), ext.status_message)],
    }


def _handler(ext: Extension) -> dict[str, Any]:
    if ext.failed:
        status = _status(ext.status_code, "Error", "Not Ready", ext.status_message)
    else:
        status = _status("ProvisioningState/succeeded", "Info", "Ready")
    return {"type": f"{ext.publisher}.{ext.type}", "typeHandlerVersion": ext.type_handler_version, "status": status}


def _sorted_extensions(vm: VirtualMachine) -> list[Extension]:
    return sorted(vm.extensions.values(), key=lambda e: e.name.lower())


def _vm_agent(sb: Sandbox, vm: VirtualMachine) -> dict[str, Any]:
    now = arm_time(sb.clock.now())
    if vm.agent.ready:
        return {
            "vmAgentVersion": vm.agent.version,
            "statuses": [_status("ProvisioningState/succeeded", "Info", "Ready",
                                 vm.agent.message or _READY_MESSAGE, now)],
            "extensionHandlers": [_handler(e) for e in _sorted_extensions(vm)],
        }
    message = vm.agent.message if vm.agent.message and vm.agent.message != _READY_MESSAGE else _UNRESPONSIVE
    return {
        "vmAgentVersion": "Unknown",
        "statuses": [_status("ProvisioningState/Unavailable", "Warning", "Not Ready", message, now)],
    }


def vm_instance_view(sb: Sandbox, vm: VirtualMachine) -> dict[str, Any]:
    """The VirtualMachineInstanceView: what the platform and the guest agent report about the VM."""
    stamp = arm_time(vm.time_created or sb.clock.now())
    reporting = vm.power_state not in ("deallocated", "deallocating") and bool(vm.agent.status)
    view: dict[str, Any] = {}
    if reporting:
        os_name, os_version = _DEFAULT_OS["linux" if _linux(vm) else "windows"]
        view.update({"computerName": vm.computer_name or vm.name[:15], "osName": vm.os_name or os_name,
                     "osVersion": vm.os_version or os_version, "vmAgent": _vm_agent(sb, vm)})
    os_disk: dict[str, Any] = {"name": _os_disk_name(vm)}
    if vm.encrypted:
        os_disk["encryptionSettings"] = [_encryption_settings(vm)]
    disks = [os_disk] + [{"name": d.name} for d in sorted(vm.data_disks, key=lambda d: d.lun)]
    for disk in disks:
        disk["statuses"] = [_status("ProvisioningState/succeeded", "Info", "Provisioning succeeded", time=stamp)]
    view["disks"] = disks
    if reporting and vm.extensions:
        view["extensions"] = [_extension_instance_view(e) for e in _sorted_extensions(vm)]
    view["hyperVGeneration"] = "V2"
    state = _vm_provisioning_state(sb, vm)
    if state.lower() == "failed":
        provisioning = _status(f"ProvisioningState/failed/{vm.provisioning_error or 'InternalOperationError'}",
                               "Error", "Provisioning failed", vm.provisioning_message, stamp)
    elif state.lower() == "succeeded":
        provisioning = _status("ProvisioningState/succeeded", "Info", "Provisioning succeeded", time=stamp)
    else:
        provisioning = _status(f"ProvisioningState/{state.lower()}", "Info", state)
    power = _status(f"PowerState/{vm.power_state}", "Info", f"VM {vm.power_state}")
    view["statuses"] = [provisioning, power]
    return view


def vm_to_arm(sb: Sandbox, vm: VirtualMachine, *, instance_view: bool = False,
              resources: bool = True) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "vmId": vm.vm_id,
        "hardwareProfile": {"vmSize": vm.vm_size},
        "storageProfile": _storage_profile(vm),
        "osProfile": _os_profile(vm),
        "networkProfile": {"networkInterfaces": [{"id": (
            f"/subscriptions/{vm.subscription_id}/resourceGroups/{vm.resource_group}"
            f"/providers/Microsoft.Network/networkInterfaces/{vm.name}-nic")}]},
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        "provisioningState": _vm_provisioning_state(sb, vm),
    }
    if vm.time_created is not None:
        properties["timeCreated"] = arm_time(vm.time_created)
    body: dict[str, Any] = {"name": vm.name, "id": vm.id, "type": VM_TYPE, "location": vm.location}
    if vm.tags:
        body["tags"] = dict(vm.tags)
    body["properties"] = properties
    if resources and vm.extensions:
        body["resources"] = [extension_to_arm(vm, e) for e in _sorted_extensions(vm)]
    body["etag"] = f'"{_etag(body)}"'
    if instance_view:
        # After the etag: the instance view is runtime state, not part of the model version.
        properties["instanceView"] = vm_instance_view(sb, vm)
    return body


def _vm(sb: Sandbox, p: dict[str, str]) -> VirtualMachine:
    return sb.compute.get_vm(p["subscriptionId"], p["resourceGroupName"], p["vmName"])


def _expand_instance_view(req: SandboxRequest) -> bool:
    return (req.query.get("$expand") or "").strip().lower() == "instanceview"


@_rp("LowCostGet")
def _get_vm(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    body = vm_to_arm(sb, _vm(sb, p), instance_view=_expand_instance_view(req))
    return _rp_json(200, body, {"ETag": body["etag"]})


@_rp("LowCostGet")
def _instance_view(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _rp_json(200, vm_instance_view(sb, _vm(sb, p)))


@_rp("HighCostGet")
def _list_vms(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    expand = _expand_instance_view(req)
    vms = sb.compute.list_vms(p["subscriptionId"], p.get("resourceGroupName"))
    items = [vm_to_arm(sb, vm, instance_view=expand, resources=False) for vm in vms]
    return _rp_json(200, page(req, items, sb.config.page_size))


def _vm_action(start: Callable[[Sandbox, VirtualMachine, SandboxRequest], Operation]) -> Handler:
    @_rp("UpdateVM")
    def handler(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
        vm = _vm(sb, p)
        op = start(sb, vm, req)
        return empty_response(202, _lro_headers(sb, req, vm.subscription_id, vm.location, op))

    return handler


def _run_command(sb: Sandbox, vm: VirtualMachine, req: SandboxRequest) -> Operation:
    try:
        body = req.json() or {}
    except ValueError:
        raise errors.invalid_request_content() from None
    command_id = body.get("commandId")
    if not command_id:
        raise errors.missing_parameter("commandId")
    script = body.get("script") or []
    if isinstance(script, str):
        script = [script]
    return sb.compute.run_command(vm, str(command_id), [str(line) for line in script])


# ---- extensions ---------------------------------------------------------------------------------
def extension_to_arm(vm: VirtualMachine, ext: Extension, *, instance_view: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "autoUpgradeMinorVersion": ext.auto_upgrade_minor_version,
        "provisioningState": ext.provisioning_state,
        "publisher": ext.publisher,
        "type": ext.type,
        "typeHandlerVersion": ext.type_handler_version,
    }
    if ext.settings:
        properties["settings"] = dict(ext.settings)
    # protectedSettings are write-only: never returned.
    if instance_view:
        properties["instanceView"] = _extension_instance_view(ext)
    return {"name": ext.name, "id": f"{vm.id}/extensions/{ext.name}", "type": EXT_TYPE, "location": vm.location,
            "properties": properties}


@_rp("LowCostGet")
def _list_extensions(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    expand = _expand_instance_view(req)
    return _rp_json(200, {"value": [extension_to_arm(vm, e, instance_view=expand) for e in _sorted_extensions(vm)]})


@_rp("LowCostGet")
def _get_extension(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    ext = sb.compute.get_extension(vm, p["vmExtensionName"])
    return _rp_json(200, extension_to_arm(vm, ext, instance_view=_expand_instance_view(req)))


def _write_extension(sb: Sandbox, req: SandboxRequest, p: dict[str, str], *, patch: bool) -> SandboxResponse:
    vm = _vm(sb, p)
    try:
        body = req.json() or {}
    except ValueError:
        raise errors.invalid_request_content() from None
    props = dict(body.get("properties") or {})
    if patch:  # PATCH merges into the existing extension
        current = sb.compute.get_extension(vm, p["vmExtensionName"])
        merged: dict[str, Any] = {
            "publisher": current.publisher, "type": current.type,
            "typeHandlerVersion": current.type_handler_version,
            "autoUpgradeMinorVersion": current.auto_upgrade_minor_version,
            "settings": current.settings, "protectedSettings": current.protected_settings,
        }
        merged.update({k: v for k, v in props.items() if v is not None})
        props = merged
    for key in ("publisher", "type", "typeHandlerVersion"):
        if not props.get(key):
            raise errors.missing_parameter(key)
    ext = Extension(
        name=p["vmExtensionName"],
        publisher=str(props["publisher"]),
        type=str(props["type"]),
        type_handler_version=str(props["typeHandlerVersion"]),
        settings=dict(props.get("settings") or {}),
        protected_settings=dict(props.get("protectedSettings") or {}),
        auto_upgrade_minor_version=bool(props.get("autoUpgradeMinorVersion", False)),
    )
    ext, created, op = sb.compute.put_extension(vm, ext)
    headers = _lro_headers(sb, req, vm.subscription_id, vm.location, op, location_header=False)
    return _rp_json(201 if created and not patch else 200, extension_to_arm(vm, ext), headers)


@_rp("UpdateVM")
def _put_extension(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _write_extension(sb, req, p, patch=False)


@_rp("UpdateVM")
def _patch_extension(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _write_extension(sb, req, p, patch=True)


@_rp("UpdateVM")
def _delete_extension(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    op = sb.compute.delete_extension(vm, p["vmExtensionName"])
    if op is None:
        return empty_response(204)
    return empty_response(202, _lro_headers(sb, req, vm.subscription_id, vm.location, op, deleting=True))


# ---- restore point collections and restore points ----------------------------------------------
def _source_vm(sb: Sandbox, rpc: RestorePointCollection) -> VirtualMachine | None:
    return sb.compute.vm_by_id(rpc.source_id)


def restore_point_to_arm(sb: Sandbox, rpc: RestorePointCollection, point: RestorePoint, *,
                         with_type: bool = True) -> dict[str, Any]:
    rp_id = f"{rpc.id}/restorePoints/{point.name}"
    vm = _source_vm(sb, rpc)
    metadata: dict[str, Any] = {}
    if vm is not None:
        def disk(name: str, head: dict[str, Any], caching: str) -> dict[str, Any]:
            guid = uuid.uuid5(_PARTITION_NS, f"{rp_id}/{name}".lower())
            return {**head, "name": name, "caching": caching,
                    "managedDisk": {"storageAccountType": "Premium_LRS", "id": _disk_id(vm, name)},
                    "diskRestorePoint": {"id": f"{rp_id}/diskRestorePoints/{name}_{guid}"}}

        os_disk = disk(_os_disk_name(vm), {"osType": "Linux" if _linux(vm) else "Windows"}, "ReadWrite")
        os_disk["diskSizeGB"] = vm.os_disk_size_gb
        data = []
        for d in sorted(vm.data_disks, key=lambda d: d.lun):
            entry = disk(d.name, {"lun": d.lun}, "None")
            entry["diskSizeGB"] = d.size_gb
            data.append(entry)
        metadata = {
            "vmId": vm.vm_id,
            "hardwareProfile": {"vmSize": vm.vm_size},
            "storageProfile": {"osDisk": os_disk, "dataDisks": data, "diskControllerType": "SCSI"},
            "osProfile": _os_profile(vm),
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
            "location": vm.location,
        }
    else:
        metadata = {"location": rpc.location}
    body: dict[str, Any] = {"name": point.name, "id": rp_id}
    if with_type:
        body["type"] = RP_TYPE
    body["properties"] = {
        "excludeDisks": [],
        "sourceMetadata": metadata,
        "provisioningState": point.provisioning_state,
        "consistencyMode": point.consistency_mode,
        "timeCreated": arm_time(point.time_created),
    }
    return body


def collection_to_arm(sb: Sandbox, rpc: RestorePointCollection, *, restore_points: bool = False) -> dict[str, Any]:
    vm = _source_vm(sb, rpc)
    body: dict[str, Any] = {"name": rpc.name, "id": rpc.id, "type": RPC_TYPE, "location": rpc.location}
    if rpc.tags:
        body["tags"] = dict(rpc.tags)
    properties: dict[str, Any] = {
        "source": {"location": vm.location if vm is not None else rpc.location, "id": rpc.source_id},
        "restorePointCollectionId": rpc.collection_id,
        "provisioningState": rpc.provisioning_state,
    }
    if restore_points:
        properties["restorePoints"] = [restore_point_to_arm(sb, rpc, point, with_type=False) for point in rpc.points]
    body["properties"] = properties
    return body


def _collection(sb: Sandbox, p: dict[str, str]) -> RestorePointCollection:
    return sb.compute.get_collection(p["subscriptionId"], p["resourceGroupName"], p["restorePointCollectionName"])


@_rp("LowCostGetRestorePoint")
def _get_collection(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    expand = (req.query.get("$expand") or "").strip().lower() == "restorepoints"
    return _rp_json(200, collection_to_arm(sb, _collection(sb, p), restore_points=expand))


@_rp("HighCostGetRestorePoint")
def _list_collections(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    items = [collection_to_arm(sb, c)
             for c in sb.compute.list_collections(p["subscriptionId"], p.get("resourceGroupName"))]
    return _rp_json(200, page(req, items, sb.config.page_size))


def _json_body(req: SandboxRequest) -> dict[str, Any]:
    try:
        body = req.json() or {}
    except ValueError:
        raise errors.invalid_request_content() from None
    if not isinstance(body, dict):
        raise errors.invalid_request_content()
    return body


@_rp("CreateRestorePoints")
def _put_collection(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    body = _json_body(req)
    existing = sb.compute.find_collection(p["subscriptionId"], p["resourceGroupName"], p["restorePointCollectionName"])
    location = body.get("location") or (existing.location if existing else None)
    if not location:
        raise errors.location_required()
    source_id = ((body.get("properties") or {}).get("source") or {}).get("id") or ""
    rpc, created = sb.compute.put_collection(p["subscriptionId"], p["resourceGroupName"],
                                             p["restorePointCollectionName"], location, source_id, body.get("tags"))
    return _rp_json(201 if created else 200, collection_to_arm(sb, rpc))


@_rp("CreateRestorePoints")
def _patch_collection(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    rpc = _collection(sb, p)
    body = _json_body(req)
    source_id = ((body.get("properties") or {}).get("source") or {}).get("id") or ""
    rpc, _ = sb.compute.put_collection(rpc.subscription_id, rpc.resource_group, rpc.name, rpc.location,
                                       source_id, body.get("tags"))
    return _rp_json(200, collection_to_arm(sb, rpc))


@_rp("DeleteRestorePoints")
def _delete_collection(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    rpc = sb.compute.find_collection(p["subscriptionId"], p["resourceGroupName"], p["restorePointCollectionName"])
    if rpc is None:
        return empty_response(204)
    op = sb.compute.delete_collection(rpc)
    return empty_response(202, _lro_headers(sb, req, rpc.subscription_id, rpc.location, op, deleting=True))


def _point(rpc: RestorePointCollection, name: str) -> RestorePoint:
    found = next((pt for pt in rpc.points if pt.name.lower() == name.lower()), None)
    if found is None:
        raise errors.entity_not_found()
    return found


@_rp("LowCostGetRestorePoint")
def _get_restore_point(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    rpc = _collection(sb, p)
    return _rp_json(200, restore_point_to_arm(sb, rpc, _point(rpc, p["restorePointName"])))


@_rp("DeleteRestorePoints")
def _delete_restore_point(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    rpc = _collection(sb, p)
    op = sb.compute.delete_restore_point(rpc, p["restorePointName"])
    if op is None:
        return empty_response(204)
    return empty_response(202, _lro_headers(sb, req, rpc.subscription_id, rpc.location, op, deleting=True))


# ---- operation status (every compute LRO polls here) -------------------------------------------
def _failure_status(code: str) -> int:
    # Location (monitor=true) polling reports a failed operation as an HTTP error; the status code is
    # not in the operation record, so infer it from the error code.
    lowered = code.lower()
    if lowered in {"operationtimedout", "internaloperationerror", "internalservererror", "internalexecutionerror"}:
        return 500
    if lowered.startswith(("conflict", "operationnotallowed", "vmagent")):
        return 409
    return 400


def _operation_status(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    op = sb.operations.get(p["operationId"])
    poll_headers: dict[str, str] = {}
    if not op.done:
        # The clock moves only when clients wait, so polls in progress say how long to wait.
        poll_headers["Retry-After"] = sb.retry_after_header(sb.config.retry_after_seconds)
    if (req.query.get("monitor") or "").lower() == "true":
        if not op.done:
            return empty_response(202, {"Location": f"{req.base_url}{req.path}?{_query(req)}", **poll_headers})
        if op.status == "Failed":
            error = op.error or {"code": "InternalOperationError", "message": "The operation failed."}
            return _rp_json(_failure_status(str(error.get("code", ""))), {"error": error})
        output = (op.properties or {}).get("output")
        if output is not None:  # run command: the RunCommandResult
            return _rp_json(200, output)
        return empty_response(200)
    raw = sb.operations.status_body(op, arm_time)
    # The RP's field order: startTime, endTime, status, properties/error, name.
    order = ("startTime", "endTime", "status", "properties", "error", "name")
    return _rp_json(200, {k: raw[k] for k in order if k in raw}, poll_headers)


def _query(req: SandboxRequest) -> str:
    from urllib.parse import urlencode

    return urlencode(list(req.query.items()))


# ---- registration --------------------------------------------------------------------------------
def register(router: Router) -> None:
    add = router.add
    vm_read = "Microsoft.Compute/virtualMachines/read"
    add("GET", _VMS, _list_vms, operation="VirtualMachines_List", action=vm_read)
    add("GET", _SUB + "/providers/Microsoft.Compute/virtualMachines", _list_vms,
        operation="VirtualMachines_ListAll", action=vm_read)
    add("GET", _VM, _get_vm, operation="VirtualMachines_Get", action=vm_read)
    add("GET", _VM + "/instanceView", _instance_view, operation="VirtualMachines_InstanceView",
        action="Microsoft.Compute/virtualMachines/instanceView/read")
    add("POST", _VM + "/restart", _vm_action(lambda sb, vm, req: sb.compute.restart(vm)),
        operation="VirtualMachines_Restart", action="Microsoft.Compute/virtualMachines/restart/action",
        lock_check="write")
    add("POST", _VM + "/start", _vm_action(lambda sb, vm, req: sb.compute.start(vm)),
        operation="VirtualMachines_Start", action="Microsoft.Compute/virtualMachines/start/action",
        lock_check="write")
    add("POST", _VM + "/reapply", _vm_action(lambda sb, vm, req: sb.compute.reapply(vm)),
        operation="VirtualMachines_Reapply", action="Microsoft.Compute/virtualMachines/reapply/action",
        lock_check="write")
    add("POST", _VM + "/runCommand", _vm_action(_run_command),
        operation="VirtualMachines_RunCommand", action="Microsoft.Compute/virtualMachines/runCommand/action",
        lock_check="write")

    ext_action = "Microsoft.Compute/virtualMachines/extensions/"
    add("GET", _EXTS, _list_extensions, operation="VirtualMachineExtensions_List", action=ext_action + "read")
    add("GET", _EXT, _get_extension, operation="VirtualMachineExtensions_Get", action=ext_action + "read")
    add("PUT", _EXT, _put_extension, operation="VirtualMachineExtensions_CreateOrUpdate",
        action=ext_action + "write", lock_check="write")
    add("PATCH", _EXT, _patch_extension, operation="VirtualMachineExtensions_Update",
        action=ext_action + "write", lock_check="write")
    add("DELETE", _EXT, _delete_extension, operation="VirtualMachineExtensions_Delete",
        action=ext_action + "delete", lock_check="delete")

    rpc_action = "Microsoft.Compute/restorePointCollections/"
    add("GET", _RPCS, _list_collections, operation="RestorePointCollections_List", action=rpc_action + "read")
    add("GET", _SUB + "/providers/Microsoft.Compute/restorePointCollections", _list_collections,
        operation="RestorePointCollections_ListAll", action=rpc_action + "read")
    add("GET", _RPC, _get_collection, operation="RestorePointCollections_Get", action=rpc_action + "read")
    add("PUT", _RPC, _put_collection, operation="RestorePointCollections_CreateOrUpdate",
        action=rpc_action + "write", lock_check="write")
    add("PATCH", _RPC, _patch_collection, operation="RestorePointCollections_Update",
        action=rpc_action + "write", lock_check="write")
    add("DELETE", _RPC, _delete_collection, operation="RestorePointCollections_Delete",
        action=rpc_action + "delete", lock_check="delete")
    add("GET", _RP, _get_restore_point, operation="RestorePoints_Get", action=rpc_action + "restorePoints/read")
    add("DELETE", _RP, _delete_restore_point, operation="RestorePoints_Delete",
        action=rpc_action + "restorePoints/delete", lock_check="delete")

    add("GET", _OPERATION, _rp("GetOperation")(_operation_status), operation="ComputeOperations_Get",
        action="Microsoft.Compute/locations/operations/read")
