"""Azure role assignments and the built-in role definitions they name (`Microsoft.Authorization`).

These are the tenant's own RBAC data, as ARM stores it: which principal holds which role at which
scope. A Key Vault with `enableRbacAuthorization` authorises data-plane reads through them (the
role definitions' dataActions). The sandbox's own gate on ARM requests (core/rbac.py, driven by
`/_sandbox/rbac`) is separate and unchanged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.timefmt import arm_time
from . import errors

if TYPE_CHECKING:
    from datetime import datetime

    from ...core.sandbox import Sandbox

__all__ = ["BUILTIN_ROLE_DEFINITIONS", "RoleAssignment", "RoleDefinition", "AuthorizationBackend"]

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NS = "/providers/Microsoft.Authorization"


@dataclass(frozen=True)
class RoleDefinition:
    guid: str
    name: str
    description: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def id_at(self, subscription_id: str | None) -> str:
        prefix = f"/subscriptions/{subscription_id}" if subscription_id else ""
        return f"{prefix}{_NS}/roleDefinitions/{self.guid}"

    def to_arm(self, subscription_id: str | None) -> dict[str, Any]:
        return {
            "id": self.id_at(subscription_id), "type": "Microsoft.Authorization/roleDefinitions", "name": self.guid,
            "properties": {
                "roleName": self.name, "type": "BuiltInRole", "description": self.description,
                "assignableScopes": ["/"],
                "permissions": [{"actions": list(self.actions), "notActions": list(self.not_actions),
                                 "dataActions": list(self.data_actions),
                                 "notDataActions": list(self.not_data_actions)}],
                "createdOn": "2015-02-02T21:55:09.8806423Z", "updatedOn": "2024-01-12T16:15:40.6470425Z",
                "createdBy": None, "updatedBy": None,
            },
        }


_KV = "Microsoft.KeyVault/vaults"
BUILTIN_ROLE_DEFINITIONS: tuple[RoleDefinition, ...] = (
    RoleDefinition("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", "Grants full access to manage all resources, "
                   "including the ability to assign roles in Azure RBAC.", ("*",)),
    RoleDefinition("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor", "Grants full access to manage all "
                   "resources, but does not allow you to assign roles in Azure RBAC.", ("*",),
                   ("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                    "Microsoft.Authorization/elevateAccess/Action")),
    RoleDefinition("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", "View all resources, but does not allow you "
                   "to make any changes.", ("*/read",)),
    RoleDefinition("00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator", "Perform all data plane "
                   "operations on a key vault and all objects in it, including certificates, keys, and secrets.",
                   ("Microsoft.Authorization/*/read", "Microsoft.KeyVault/checkNameAvailability/read",
                    "Microsoft.KeyVault/deletedVaults/read", "Microsoft.KeyVault/locations/*/read",
                    f"{_KV}/*/read", "Microsoft.KeyVault/operations/read"), (), (f"{_KV}/*",)),
    RoleDefinition("21090545-7ca7-4776-b22c-e363652d74d2", "Key Vault Reader", "Read metadata of key vaults and "
                   "its certificates, keys, and secrets.", ("Microsoft.Authorization/*/read", f"{_KV}/*/read"), (),
                   (f"{_KV}/*/read", f"{_KV}/secrets/readMetadata/action")),
    RoleDefinition("14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "Key Vault Crypto Officer", "Perform any action on the "
                   "keys of a key vault, except manage permissions.", ("Microsoft.Authorization/*/read",
                                                                       f"{_KV}/*/read"), (),
                   (f"{_KV}/keys/*", f"{_KV}/keyrotationpolicies/*")),
    RoleDefinition("12338af0-0e69-4776-bea7-57ae8d297424", "Key Vault Crypto User", "Perform cryptographic "
                   "operations using keys.", (), (),
                   (f"{_KV}/keys/read", f"{_KV}/keys/update/action", f"{_KV}/keys/backup/action",
                    f"{_KV}/keys/encrypt/action", f"{_KV}/keys/decrypt/action", f"{_KV}/keys/wrap/action",
                    f"{_KV}/keys/unwrap/action", f"{_KV}/keys/sign/action", f"{_KV}/keys/verify/action")),
    RoleDefinition("b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer", "Perform any action on "
                   "the secrets of a key vault, except manage permissions.", ("Microsoft.Authorization/*/read",
                                                                              f"{_KV}/*/read"), (),
                   (f"{_KV}/secrets/*",)),
    RoleDefinition("4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User", "Read secret contents.", (), (),
                   (f"{_KV}/secrets/getSecret/action", f"{_KV}/secrets/readMetadata/action")),
)


@dataclass
class RoleAssignment:
    scope: str
    name: str  # a GUID
    role_guid: str
    principal_id: str
    principal_type: str
    created: datetime

    @property
    def id(self) -> str:
        return f"{self.scope}{_NS}/roleAssignments/{self.name}"

    def to_arm(self) -> dict[str, Any]:
        sub = self.scope.split("/")[2] if self.scope.lower().startswith("/subscriptions/") else None
        stamp = arm_time(self.created)
        return {
            "id": self.id, "type": "Microsoft.Authorization/roleAssignments", "name": self.name,
            "properties": {
                "roleDefinitionId": f"{'/subscriptions/' + sub if sub else ''}{_NS}/roleDefinitions/{self.role_guid}",
                "principalId": self.principal_id, "principalType": self.principal_type, "scope": self.scope,
                "condition": None, "conditionVersion": None, "createdOn": stamp, "updatedOn": stamp,
                "createdBy": None, "updatedBy": None, "delegatedManagedIdentityResourceId": None,
                "description": None,
            },
        }


def _norm(scope: str) -> str:
    return scope.rstrip("/").lower()


def _within(path: str, scope: str) -> bool:
    path, scope = _norm(path), _norm(scope)
    return path == scope or path.startswith(scope + "/")


class AuthorizationBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.assignments: dict[str, RoleAssignment] = {}  # folded id -> assignment
        self.roles = {r.guid: r for r in BUILTIN_ROLE_DEFINITIONS}

    # ---- role definitions ------------------------------------------------------------------
    def role(self, reference: str) -> RoleDefinition | None:
        """A role by GUID, by its id at any scope, or by name (case-insensitive)."""
        guid = reference.rstrip("/").rsplit("/", 1)[-1].lower()
        found = self.roles.get(guid)
        if found is not None:
            return found
        return next((r for r in self.roles.values() if r.name.lower() == reference.lower()), None)

    # ---- role assignments ------------------------------------------------------------------
    def put(self, scope: str, name: str, body: dict[str, Any]) -> tuple[RoleAssignment, bool]:
        if not _GUID.match(name):
            raise errors.invalid_name(name)
        props = body.get("properties") or {}
        role_ref, principal = props.get("roleDefinitionId"), props.get("principalId")
        if not role_ref:
            raise errors.missing_property("roleDefinitionId")
        if not principal:
            raise errors.missing_property("principalId")
        role = self.role(str(role_ref)) if "/roledefinitions/" in str(role_ref).lower() else None
        if role is None:
            raise errors.role_not_found(str(role_ref).rstrip("/").rsplit("/", 1)[-1])
        scope = scope.rstrip("/")
        existing = self.assignments.get(f"{scope}{_NS}/roleAssignments/{name}".lower())
        if existing is not None:
            if existing.principal_id.lower() != str(principal).lower() or existing.role_guid != role.guid:
                raise errors.update_not_permitted()
            return existing, False
        if any(a.principal_id.lower() == str(principal).lower() and a.role_guid == role.guid
               and _norm(a.scope) == _norm(scope) for a in self.assignments.values()):
            raise errors.assignment_exists()
        assignment = RoleAssignment(scope, name.lower(), role.guid, str(principal),
                                    str(props.get("principalType") or "ServicePrincipal"), self._sb.clock.now())
        self.assignments[assignment.id.lower()] = assignment
        return assignment, True

    def get(self, scope: str, name: str) -> RoleAssignment:
        found = self.assignments.get(f"{scope.rstrip('/')}{_NS}/roleAssignments/{name}".lower())
        if found is None:
            raise errors.assignment_not_found(name)
        return found

    def delete(self, scope: str, name: str) -> RoleAssignment | None:
        return self.assignments.pop(f"{scope.rstrip('/')}{_NS}/roleAssignments/{name}".lower(), None)

    def listed(self, scope: str, *, at_scope: bool, principal: str | None) -> list[RoleAssignment]:
        """ARM's list at a scope: assignments at or above it (`atScope()`), else also those below it."""
        out = [a for a in self.assignments.values()
               if _within(scope, a.scope) or (not at_scope and _within(a.scope, scope))]
        if principal is not None:
            out = [a for a in out if a.principal_id.lower() == principal.lower()]
        return sorted(out, key=lambda a: a.id.lower())

    def data_actions(self, principal: str, scope: str) -> tuple[list[str], list[str]]:
        """The dataActions and notDataActions the principal's roles at or above `scope` hold."""
        allowed: list[str] = []
        denied: list[str] = []
        for assignment in self.listed(scope, at_scope=True, principal=principal):
            role = self.roles.get(assignment.role_guid)
            if role is not None:
                allowed += role.data_actions
                denied += role.not_data_actions
        return allowed, denied

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"id": a.id, "roleDefinition": self.roles[a.role_guid].name, "principalId": a.principal_id}
                for a in sorted(self.assignments.values(), key=lambda a: a.id.lower())]
