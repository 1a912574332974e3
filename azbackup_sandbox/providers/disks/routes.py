"""Wire format of Microsoft.Compute/disks: GET, PUT (create or update), list per group and subscription."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.http import SandboxRequest, SandboxResponse, json_response
from ...core.paging import page

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register"]

_SUB = "/subscriptions/{subscriptionId}"
_RG = _SUB + "/resourceGroups/{resourceGroupName}"
_DISKS = "/providers/Microsoft.Compute/disks"
_JSON = {"Content-Type": "application/json; charset=utf-8"}


def _get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, sb.disks.get(p["subscriptionId"], p["resourceGroupName"], p["diskName"]).to_arm(),
                         _JSON)


def _put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    disk, created = sb.disks.put(p["subscriptionId"], p["resourceGroupName"], p["diskName"], req.json() or {})
    return json_response(201 if created else 200, disk.to_arm(), _JSON)


def _list(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    disks = sb.disks.list(p["subscriptionId"], p.get("resourceGroupName"))
    return json_response(200, page(req, [d.to_arm() for d in disks], sb.config.page_size), _JSON)


def register(router: Router) -> None:
    router.add("GET", _RG + _DISKS + "/{diskName}", _get, operation="Disks_Get",
               action="Microsoft.Compute/disks/read")
    router.add("PUT", _RG + _DISKS + "/{diskName}", _put, operation="Disks_CreateOrUpdate",
               action="Microsoft.Compute/disks/write", lock_check="write")
    router.add("GET", _RG + _DISKS, _list, operation="Disks_ListByResourceGroup",
               action="Microsoft.Compute/disks/read")
    router.add("GET", _SUB + _DISKS, _list, operation="Disks_List", action="Microsoft.Compute/disks/read")
