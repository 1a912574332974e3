"""Wire format of Microsoft.Authorization/locks at subscription, resource group and resource scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.http import SandboxRequest, SandboxResponse, empty_response, json_response
from ...core.paging import page
from . import errors

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register"]

_NS = "/providers/Microsoft.Authorization/locks"
_SUB = "/subscriptions/{subscriptionId}"
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
_JSON = {"Content-Type": "application/json; charset=utf-8"}


def _scope(req: SandboxRequest) -> str:
    path = req.decoded_path
    return path[: path.lower().index(_NS.lower())]


def _list(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    scope = _scope(req)
    text = (req.query.get("$filter") or "").strip().lower().replace(" ", "")
    if text == "atscope()":
        locks = sb.locks.at_or_above(scope)
    elif not text:
        locks = sb.locks.at_or_below(scope)
    else:
        raise errors.invalid_lock_filter(str(req.query.get("$filter")))
    items = [lock.to_arm() for lock in sorted(locks, key=lambda lock: lock.id.lower())]
    return json_response(200, page(req, items, sb.config.page_size), _JSON)


def _get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, sb.locks.get(_scope(req), p["lockName"]).to_arm(), _JSON)


def _put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    properties = (req.json() or {}).get("properties") or {}
    lock, created = sb.locks.put(_scope(req), p["lockName"], properties.get("level"), properties.get("notes"),
                                 properties.get("owners"))
    return json_response(201 if created else 200, lock.to_arm(), _JSON)


def _delete(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    removed = sb.locks.delete(_scope(req), p["lockName"])
    return empty_response(200 if removed else 204)


def register(router: Router) -> None:
    verbs = (("GET", _get, "Get", "read"), ("PUT", _put, "CreateOrUpdate", "write"),
             ("DELETE", _delete, "Delete", "delete"))
    levels = ((_SUB, "SubscriptionLevel"), (_RG, "ResourceGroupLevel"), ("{scope*}", "ByScope"))
    for prefix, level in levels:
        router.add("GET", prefix + _NS, _list, operation=f"ManagementLocks_ListAt{level}"
                   if level != "ByScope" else "ManagementLocks_ListByScope",
                   action="Microsoft.Authorization/locks/read")
        for method, handler, verb, action in verbs:
            name = f"ManagementLocks_{verb}{'At' + level if level != 'ByScope' else 'ByScope'}"
            router.add(method, prefix + _NS + "/{lockName}", handler, operation=name,
                       action=f"Microsoft.Authorization/locks/{action}")
