"""Wire format of Microsoft.Compute: virtual machines (GET with instance views, lists, the power
operations restart / start / powerOff / deallocate / redeploy / reapply, run command), VM extensions, restore point collections and restore points, and the regional
operation URLs every compute LRO polls. State and rules live in `models.py`; this module only parses
requests and serialises answers as the Compute resource provider writes them."""

from __future__ import annotations

import functools
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
from .models import PARTITION_NS, Extension, RestorePoint, RestorePointCollection, VirtualMachine

if TYPE_CHECKING:
    from ...core.router import Handler, Router
    from ...core.sandbox import Sandbox

__all__ = [
    "register",
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
    hint = f"p={uuid.uuid5(PARTITION_NS, region)}&" if deleting else ""
    headers = {"Azure-AsyncOperation": f"{base}?{hint}api-version={api}", "x-ms-request-id": op.id}
    if location_header:
        headers["Location"] = f"{base}?{hint}monitor=true&api-version={api}"
    if deleting:
        headers["azure-asyncnotification"] = "Enabled"
    if sb.clock.rate > 0:  # a running clock: tell clients how long to wait instead of letting them spin
        headers["Retry-After"] = sb.retry_after_header(sb.config.retry_after_seconds)
    return headers


# ---- virtual machines ---------------------------------------------------------------------------
def _vm(sb: Sandbox, p: dict[str, str]) -> VirtualMachine:
    return sb.compute.get_vm(p["subscriptionId"], p["resourceGroupName"], p["vmName"])


def _expand_instance_view(req: SandboxRequest) -> bool:
    return (req.query.get("$expand") or "").strip().lower() == "instanceview"


@_rp("LowCostGet")
def _get_vm(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    body = _vm(sb, p).to_arm(sb, instance_view=_expand_instance_view(req))
    return _rp_json(200, body, {"ETag": body["etag"]})


@_rp("LowCostGet")
def _instance_view(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _rp_json(200, _vm(sb, p).instance_view_to_arm(sb))


@_rp("HighCostGet")
def _list_vms(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    expand = _expand_instance_view(req)
    vms = sb.compute.list_vms(p["subscriptionId"], p.get("resourceGroupName"))
    items = [vm.to_arm(sb, instance_view=expand, resources=False) for vm in vms]
    return _rp_json(200, page(req, items, sb.config.page_size))


def _vm_action(start: Callable[[Sandbox, VirtualMachine, SandboxRequest], Operation]) -> Handler:
    @_rp("UpdateVM")
    def handler(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
        vm = _vm(sb, p)
        op = start(sb, vm, req)
        return empty_response(202, _lro_headers(sb, req, vm.subscription_id, vm.location, op))

    return handler


def _flag(req: SandboxRequest, name: str) -> bool:
    """A boolean query parameter (`skipShutdown=true`), case-insensitive as ARM reads them."""
    return (req.query.get(name) or "").strip().lower() == "true"


def _run_command(sb: Sandbox, vm: VirtualMachine, req: SandboxRequest) -> Operation:
    body = _json_body(req)
    command_id = body.get("commandId")
    if not command_id:
        raise errors.missing_parameter("commandId")
    script = body.get("script") or []
    if isinstance(script, str):
        script = [script]
    parameters = {str(p.get("name")): str(p.get("value", "")) for p in body.get("parameters") or []
                  if isinstance(p, dict) and p.get("name")}
    return sb.compute.run_command(vm, str(command_id), [str(line) for line in script], parameters)


# ---- extensions ---------------------------------------------------------------------------------
@_rp("LowCostGet")
def _list_extensions(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    expand = _expand_instance_view(req)
    return _rp_json(200, {"value": [e.to_arm(vm, instance_view=expand) for e in vm.sorted_extensions()]})


@_rp("LowCostGet")
def _get_extension(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    ext = sb.compute.get_extension(vm, p["vmExtensionName"])
    return _rp_json(200, ext.to_arm(vm, instance_view=_expand_instance_view(req)))


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
            "forceUpdateTag": current.force_update_tag,
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
        force_update_tag=str(props["forceUpdateTag"]) if props.get("forceUpdateTag") is not None else None,
    )
    ext, created, op = sb.compute.put_extension(vm, ext)
    headers = _lro_headers(sb, req, vm.subscription_id, vm.location, op, location_header=False)
    return _rp_json(201 if created and not patch else 200, ext.to_arm(vm), headers)


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
def _collection(sb: Sandbox, p: dict[str, str]) -> RestorePointCollection:
    return sb.compute.get_collection(p["subscriptionId"], p["resourceGroupName"], p["restorePointCollectionName"])


@_rp("LowCostGetRestorePoint")
def _get_collection(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    expand = (req.query.get("$expand") or "").strip().lower() == "restorepoints"
    return _rp_json(200, _collection(sb, p).to_arm(sb, restore_points=expand))


@_rp("HighCostGetRestorePoint")
def _list_collections(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    collections = sb.compute.list_collections(p["subscriptionId"], p.get("resourceGroupName"))
    return _rp_json(200, page(req, collections, sb.config.page_size, serialize=lambda c: c.to_arm(sb)))


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
    return _rp_json(201 if created else 200, rpc.to_arm(sb))


@_rp("CreateRestorePoints")
def _patch_collection(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    rpc = _collection(sb, p)
    body = _json_body(req)
    source_id = ((body.get("properties") or {}).get("source") or {}).get("id") or ""
    rpc, _ = sb.compute.put_collection(rpc.subscription_id, rpc.resource_group, rpc.name, rpc.location,
                                       source_id, body.get("tags"))
    return _rp_json(200, rpc.to_arm(sb))


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
    return _rp_json(200, _point(rpc, p["restorePointName"]).to_arm(sb, rpc))


@_rp("CreateRestorePoints")
def _create_restore_point(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    rpc = _collection(sb, p)
    properties = (req.json() or {}).get("properties") or {}
    point, op = sb.compute.create_restore_point(rpc, p["restorePointName"], properties.get("consistencyMode"))
    return _rp_json(201, point.to_arm(sb, rpc), _lro_headers(sb, req, rpc.subscription_id, rpc.location, op))


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
    add("POST", _VM + "/powerOff", _vm_action(
        lambda sb, vm, req: sb.compute.power_off(vm, skip_shutdown=_flag(req, "skipShutdown"))),
        operation="VirtualMachines_PowerOff", action="Microsoft.Compute/virtualMachines/powerOff/action",
        lock_check="write")
    add("POST", _VM + "/deallocate", _vm_action(lambda sb, vm, req: sb.compute.deallocate(vm)),
        operation="VirtualMachines_Deallocate", action="Microsoft.Compute/virtualMachines/deallocate/action",
        lock_check="write")
    add("POST", _VM + "/redeploy", _vm_action(lambda sb, vm, req: sb.compute.redeploy(vm)),
        operation="VirtualMachines_Redeploy", action="Microsoft.Compute/virtualMachines/redeploy/action",
        lock_check="write")
    add("POST", _VM + "/reapply", _vm_action(lambda sb, vm, req: sb.compute.reapply(vm)),
        operation="VirtualMachines_Reapply", action="Microsoft.Compute/virtualMachines/reapply/action",
        lock_check="write")
    add("POST", _VM + "/runCommand", _vm_action(_run_command),
        operation="VirtualMachines_RunCommand", action="Microsoft.Compute/virtualMachines/runCommand/action",
        lock_check="write")
    from . import runcommand_routes

    runcommand_routes.register(router, _VM)

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
    add("PUT", _RP, _create_restore_point, operation="RestorePoints_Create",
        action=rpc_action + "restorePoints/write", lock_check="write")
    add("DELETE", _RP, _delete_restore_point, operation="RestorePoints_Delete",
        action=rpc_action + "restorePoints/delete", lock_check="delete")

    add("GET", _OPERATION, _rp("GetOperation")(_operation_status), operation="ComputeOperations_Get",
        action="Microsoft.Compute/locations/operations/read")
