"""Wire format of Microsoft.Authorization/locks at subscription, resource group and resource scope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core.errors import bad_request
from ...core.http import SandboxRequest, SandboxResponse, empty_response, json_response
from ...core.paging import page
from .models import Lock

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register", "lock_to_arm"]

_NS = "/providers/Microsoft.Authorization/locks"
_SUB = "/subscriptions/{subscriptionId}"
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
_JSON = {"Content-Type": "application/json; charset=utf-8"}


def lock_to_arm(lock: Lock) -> dict[str, Any]:
    properties: dict[str, Any] = {"level": lock.level}
    if lock.notes is not None:
        properties["notes"] = lock.notes
    if lock.owners:
        properties["owners"] = lock.owners
    return {"properties": properties, "id": lock.id, "type": "Microsoft.Authorization/locks", "name": lock.name}


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
        raise bad_request(f"The $filter '{req.query.get('$filter')}' is not supported; use atScope().",
                          "InvalidFilter")
    items = [lock_to_arm(lock) for lock in sorted(locks, key=lambda lock: lock.id.lower())]
    return json_response(200, page(req, items, sb.config.page_size), _JSON)


def _get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, lock_to_arm(sb.locks.get(_scope(req), p["lockName"])), _JSON)


def _put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    body = req.json() or {}
    properties = body.get("properties") or {}
    if "level" not in properties:
        raise bad_request("The lock level is required.", "LockLevelRequired")
    notes = properties.get("notes")
    if notes is not None and len(notes) > 512:
        raise bad_request("The lock notes must be at most 512 characters.", "LockNotesTooLong")
    lock, created = sb.locks.put(_scope(req), p["lockName"], properties["level"], notes, properties.get("owners"))
    return json_response(201 if created else 200, lock_to_arm(lock), _JSON)


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
