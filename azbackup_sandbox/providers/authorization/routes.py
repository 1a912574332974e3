"""Wire format of Microsoft.Authorization role assignments (PUT/GET/DELETE/list at any scope, with
`$filter=atScope()`, `principalId eq '...'` and `assignedTo('...')`) and role definitions (GET by id,
list with `$filter=roleName eq '...'`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...core.http import SandboxRequest, SandboxResponse, empty_response, json_response
from ...core.paging import page
from . import errors

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register"]

_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments"
_DEFINITIONS = "/providers/Microsoft.Authorization/roleDefinitions"
_JSON = {"Content-Type": "application/json; charset=utf-8"}
_PRINCIPAL = re.compile(r"^(?:principalid\s+eq\s+'([^']+)'|assignedto\('([^']+)'\))$", re.IGNORECASE)
_ROLE_NAME = re.compile(r"^rolename\s+eq\s+'([^']+)'$", re.IGNORECASE)


def _scope(req: SandboxRequest, marker: str) -> str:
    path = req.decoded_path
    return path[: path.lower().index(marker.lower())] or "/"


def _subscription(scope: str) -> str | None:
    parts = scope.strip("/").split("/")
    return parts[1] if len(parts) >= 2 and parts[0].lower() == "subscriptions" else None


def _parse_filter(text: str) -> tuple[bool, str | None]:
    at_scope, principal = False, None
    for clause in (c.strip() for c in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if c.strip()):
        if clause.replace(" ", "").lower() == "atscope()":
            at_scope = True
            continue
        found = _PRINCIPAL.match(clause)
        if found is None:
            raise errors.invalid_filter(text)
        principal = found.group(1) or found.group(2)
    return at_scope, principal


def _list_assignments(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    at_scope, principal = _parse_filter(req.query.get("$filter") or "")
    items = [a.to_arm() for a in sb.authorization.listed(_scope(req, _ASSIGNMENTS), at_scope=at_scope,
                                                         principal=principal)]
    return json_response(200, page(req, items, sb.config.page_size), _JSON)


def _put_assignment(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    assignment, created = sb.authorization.put(_scope(req, _ASSIGNMENTS), p["roleAssignmentName"], req.json() or {})
    return json_response(201 if created else 200, assignment.to_arm(), _JSON)


def _get_assignment(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, sb.authorization.get(_scope(req, _ASSIGNMENTS), p["roleAssignmentName"]).to_arm(), _JSON)


def _delete_assignment(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    removed = sb.authorization.delete(_scope(req, _ASSIGNMENTS), p["roleAssignmentName"])
    return json_response(200, removed.to_arm(), _JSON) if removed is not None else empty_response(204)


def _list_definitions(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    text = (req.query.get("$filter") or "").strip()
    roles = list(sb.authorization.roles.values())
    if text:
        found = _ROLE_NAME.match(text)
        if found is None and text.replace(" ", "").lower() != "type eq 'builtinrole'".replace(" ", ""):
            raise errors.invalid_filter(text)
        if found is not None:
            roles = [r for r in roles if r.name.lower() == found.group(1).lower()]
    sub = _subscription(_scope(req, _DEFINITIONS))
    items = [r.to_arm(sub) for r in sorted(roles, key=lambda r: r.name.lower())]
    return json_response(200, page(req, items, sb.config.page_size), _JSON)


def _get_definition(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    role = sb.authorization.roles.get(p["roleDefinitionId"].lower())
    if role is None:
        raise errors.role_definition_not_found(p["roleDefinitionId"])
    return json_response(200, role.to_arm(_subscription(_scope(req, _DEFINITIONS))), _JSON)


def register(router: Router) -> None:
    action = "Microsoft.Authorization/roleAssignments/"
    router.add("GET", "{scope*}" + _ASSIGNMENTS, _list_assignments, operation="RoleAssignments_ListForScope",
               action=action + "read")
    one = "{scope*}" + _ASSIGNMENTS + "/{roleAssignmentName}"
    router.add("PUT", one, _put_assignment, operation="RoleAssignments_Create", action=action + "write")
    router.add("GET", one, _get_assignment, operation="RoleAssignments_Get", action=action + "read")
    router.add("DELETE", one, _delete_assignment, operation="RoleAssignments_Delete", action=action + "delete")
    router.add("GET", "{scope*}" + _DEFINITIONS, _list_definitions, operation="RoleDefinitions_List",
               action="Microsoft.Authorization/roleDefinitions/read")
    for prefix in ("{scope*}", ""):  # at a scope, or by the tenant-level id (RoleDefinitions_GetById)
        router.add("GET", prefix + _DEFINITIONS + "/{roleDefinitionId}", _get_definition,
                   operation="RoleDefinitions_Get" if prefix else "RoleDefinitions_GetById",
                   action="Microsoft.Authorization/roleDefinitions/read")
