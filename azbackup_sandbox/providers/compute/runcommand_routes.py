"""Wire format of managed Run Command (`virtualMachines/{vm}/runCommands/{name}`): PUT (LRO), GET with
`$expand=instanceView`, list, DELETE. The rules live in runcommand.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core.http import SandboxRequest, SandboxResponse, empty_response
from . import errors
from .routes import _expand_instance_view, _json_body, _lro_headers, _rp, _rp_json, _vm
from .runcommand import ManagedRunCommand

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register"]


@_rp("UpdateVM")
def _put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    if not vm.running:
        raise errors.vm_not_running()
    body = _json_body(req)
    props: dict[str, Any] = body.get("properties") or {}
    source = props.get("source") or {}
    script = source.get("script")
    if not isinstance(script, str) or not script:
        raise errors.missing_parameter("properties.source.script")
    if not body.get("location"):
        raise errors.location_required()
    parameters = {str(x.get("name")): str(x.get("value", "")) for x in props.get("parameters") or []
                  if isinstance(x, dict) and x.get("name")}
    run = ManagedRunCommand(p["runCommandName"], str(body["location"]), script, parameters,
                            async_execution=bool(props.get("asyncExecution", False)),
                            timeout_seconds=int(props.get("timeoutInSeconds") or 0))
    run, created, op = sb.compute.run_commands.put(vm, run)
    headers = _lro_headers(sb, req, vm.subscription_id, vm.location, op, location_header=False)
    return _rp_json(201 if created else 200, run.to_arm(vm, instance_view=False), headers)


@_rp("LowCostGet")
def _get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    run = sb.compute.run_commands.get(vm, p["runCommandName"])
    return _rp_json(200, run.to_arm(vm, instance_view=_expand_instance_view(req)))


@_rp("LowCostGet")
def _list(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    expand = _expand_instance_view(req)
    runs = sorted(sb.compute.run_commands.runs(vm).values(), key=lambda r: r.name.lower())
    return _rp_json(200, {"value": [r.to_arm(vm, instance_view=expand) for r in runs]})


@_rp("UpdateVM")
def _delete(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vm = _vm(sb, p)
    op = sb.compute.run_commands.delete(vm, p["runCommandName"])
    if op is None:
        return empty_response(204)
    return empty_response(202, _lro_headers(sb, req, vm.subscription_id, vm.location, op, deleting=True))


def register(router: Router, vm_template: str) -> None:
    runs = vm_template + "/runCommands"
    one = runs + "/{runCommandName}"
    action = "Microsoft.Compute/virtualMachines/runCommands/"
    router.add("GET", runs, _list, operation="VirtualMachineRunCommands_ListByVirtualMachine", action=action + "read")
    router.add("GET", one, _get, operation="VirtualMachineRunCommands_GetByVirtualMachine", action=action + "read")
    router.add("PUT", one, _put, operation="VirtualMachineRunCommands_CreateOrUpdate", action=action + "write",
               lock_check="write")
    router.add("DELETE", one, _delete, operation="VirtualMachineRunCommands_Delete", action=action + "delete",
               lock_check="delete")
