"""Key Vault vaults (`Microsoft.KeyVault/vaults`): their access model and who may read their secrets and keys.

A vault authorises data-plane access one of two ways, as Key Vault does: access policies (per object id,
lists of key/secret/certificate permissions) or, with `enableRbacAuthorization`, Azure role assignments
whose role definitions' dataActions cover the operation (access policies are then ignored).
`PUT .../accessPolicies/{add|replace|remove}` merges, replaces or subtracts permissions per
(tenant, object id) entry; an entry left with no permissions is dropped."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = ["AccessPolicy", "DATA_ACTIONS", "KeyVault", "KeyVaultBackend", "PERMISSION_KINDS", "VAULT_TYPE"]

VAULT_TYPE = "Microsoft.KeyVault/vaults"
PERMISSION_KINDS = ("keys", "secrets", "certificates", "storage")
_KNOWN: dict[str, tuple[str, ...]] = {
    "keys": ("all", "encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify", "get", "list", "create",
             "update", "import", "delete", "backup", "restore", "recover", "purge", "release", "rotate",
             "getrotationpolicy", "setrotationpolicy"),
    "secrets": ("all", "get", "list", "set", "delete", "backup", "restore", "recover", "purge"),
    "certificates": ("all", "get", "list", "delete", "create", "import", "update", "managecontacts",
                     "getissuers", "listissuers", "setissuers", "deleteissuers", "manageissuers", "recover",
                     "purge", "backup", "restore"),
    "storage": ("all", "get", "list", "delete", "set", "update", "regeneratekey", "recover", "purge", "backup",
                "restore", "setsas", "listsas", "getsas", "deletesas"),
}
# The RBAC dataAction each access-policy permission corresponds to (Key Vault's RBAC guide).
DATA_ACTIONS: dict[tuple[str, str], str] = {
    ("keys", "get"): "Microsoft.KeyVault/vaults/keys/read",
    ("keys", "list"): "Microsoft.KeyVault/vaults/keys/read",
    ("keys", "backup"): "Microsoft.KeyVault/vaults/keys/backup/action",
    ("keys", "unwrapkey"): "Microsoft.KeyVault/vaults/keys/unwrap/action",
    ("secrets", "get"): "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    ("secrets", "list"): "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    ("secrets", "backup"): "Microsoft.KeyVault/vaults/secrets/backup/action",
}


@dataclass
class AccessPolicy:
    tenant_id: str
    object_id: str
    permissions: dict[str, list[str]] = field(default_factory=dict)
    application_id: str | None = None

    def grants(self, kind: str, permission: str) -> bool:
        held = {p.lower() for p in self.permissions.get(kind, [])}
        return permission.lower() in held or "all" in held

    def to_arm(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tenantId": self.tenant_id, "objectId": self.object_id}
        if self.application_id:
            out["applicationId"] = self.application_id
        out["permissions"] = {kind: list(self.permissions[kind]) for kind in PERMISSION_KINDS
                              if kind in self.permissions}
        return out


@dataclass
class KeyVault:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    tenant_id: str
    rbac: bool = False
    policies: list[AccessPolicy] = field(default_factory=list)
    sku: str = "standard"
    enabled_for_disk_encryption: bool = True
    soft_delete_retention_days: int = 90
    purge_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/{VAULT_TYPE}/{self.name}")

    @property
    def uri(self) -> str:
        return f"https://{self.name.lower()}.vault.azure.net/"

    def policy_for(self, tenant_id: str, object_id: str) -> AccessPolicy | None:
        return next((p for p in self.policies if p.object_id.lower() == object_id.lower()
                     and p.tenant_id.lower() == tenant_id.lower() and not p.application_id), None)

    def to_arm(self) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "sku": {"family": "A", "name": self.sku},
            "tenantId": self.tenant_id,
            "accessPolicies": [p.to_arm() for p in self.policies],
            "enabledForDeployment": False,
            "enabledForDiskEncryption": self.enabled_for_disk_encryption,
            "enabledForTemplateDeployment": False,
            "enableSoftDelete": True,
            "softDeleteRetentionInDays": self.soft_delete_retention_days,
            "enableRbacAuthorization": self.rbac,
            "vaultUri": self.uri,
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
        }
        if self.purge_protection:
            properties["enablePurgeProtection"] = True
        body: dict[str, Any] = {"id": self.id, "name": self.name, "type": VAULT_TYPE, "location": self.location,
                                "tags": dict(self.tags), "properties": properties}
        return body


def _key(subscription_id: str, resource_group: str, name: str) -> tuple[str, str, str]:
    return (subscription_id.lower(), resource_group.lower(), name.lower())


def parse_policies(raw: Any) -> list[AccessPolicy]:
    """`properties.accessPolicies` of a request, validated as Key Vault does."""
    if not isinstance(raw, list):
        raise errors.bad_parameter("The parameter accessPolicies is required and must be a list.")
    out = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not entry.get("tenantId") or not entry.get("objectId"):
            raise errors.bad_parameter(f"Access policy {index}: tenantId and objectId are required.")
        perms = entry.get("permissions")
        if not isinstance(perms, dict):
            raise errors.bad_parameter(f"Access policy {index}: permissions are required.")
        permissions: dict[str, list[str]] = {}
        for kind, values in perms.items():
            if kind not in _KNOWN or not isinstance(values, list):
                raise errors.bad_parameter(f"Access policy {index}: '{kind}' is not a permission kind.")
            for value in values:
                if not isinstance(value, str) or value.lower() not in _KNOWN[kind]:
                    raise errors.bad_parameter(
                        f"Access policy {index}: '{value}' is not a valid {kind} permission. Valid values: "
                        + ", ".join(_KNOWN[kind]) + ".")
            permissions[kind] = list(values)
        out.append(AccessPolicy(str(entry["tenantId"]), str(entry["objectId"]), permissions,
                                entry.get("applicationId")))
    return out


def _merge(held: list[str], added: list[str]) -> list[str]:
    out = list(held)
    for permission in added:
        if permission.lower() not in {p.lower() for p in out}:
            out.append(permission)
    return out


class KeyVaultBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.vaults: dict[tuple[str, str, str], KeyVault] = {}

    def add(self, vault: KeyVault) -> KeyVault:
        self._sb.resources.require_group(vault.subscription_id, vault.resource_group)
        self.vaults[_key(vault.subscription_id, vault.resource_group, vault.name)] = vault
        return vault

    def find(self, subscription_id: str, resource_group: str, name: str) -> KeyVault | None:
        return self.vaults.get(_key(subscription_id, resource_group, name))

    def get(self, subscription_id: str, resource_group: str, name: str) -> KeyVault:
        vault = self.find(subscription_id, resource_group, name)
        if vault is None:
            raise errors.vault_not_found(name, resource_group)
        return vault

    def by_id(self, vault_id: str) -> KeyVault | None:
        parts = vault_id.strip("/").split("/")
        if len(parts) != 8 or parts[5].lower() != "microsoft.keyvault" or parts[6].lower() != "vaults":
            return None
        return self.find(parts[1], parts[3], parts[7])

    def list(self, subscription_id: str, resource_group: str | None = None) -> list[KeyVault]:
        sub, rg = subscription_id.lower(), (resource_group or "").lower()
        return sorted((v for (s, g, _), v in self.vaults.items() if s == sub and (not rg or g == rg)),
                      key=lambda v: (v.resource_group.lower(), v.name.lower()))

    def put(self, subscription_id: str, resource_group: str, name: str, body: dict[str, Any]) -> tuple[KeyVault, bool]:
        props = body.get("properties") or {}
        location = body.get("location")
        if not location:
            raise errors.bad_parameter("The parameter location is required.")
        tenant = props.get("tenantId")
        sku = (props.get("sku") or {}).get("name")
        if not tenant or not sku:
            raise errors.bad_parameter("The parameters properties.tenantId and properties.sku are required.")
        existing = self.find(subscription_id, resource_group, name)
        policies = parse_policies(props.get("accessPolicies", []))
        vault = KeyVault(subscription_id, existing.resource_group if existing else resource_group,
                         existing.name if existing else name, str(location).replace(" ", "").lower(), str(tenant),
                         bool(props.get("enableRbacAuthorization", False)), policies, str(sku).lower(),
                         bool(props.get("enabledForDiskEncryption", False)),
                         int(props.get("softDeleteRetentionInDays", 90)),
                         bool(props.get("enablePurgeProtection", False)), dict(body.get("tags") or {}))
        self.vaults[_key(subscription_id, resource_group, name)] = vault
        return vault, existing is None

    def update_access_policy(self, vault: KeyVault, kind: str, policies: list[AccessPolicy]) -> None:
        """VaultsUpdateAccessPolicy: `add` merges permissions, `replace` sets them, `remove` subtracts them."""
        kind = kind.lower()
        if kind not in ("add", "replace", "remove"):
            raise errors.invalid_operation_kind(kind)
        for policy in policies:
            entry = vault.policy_for(policy.tenant_id, policy.object_id)
            if kind == "remove":
                if entry is None:
                    continue
                for perm_kind, values in policy.permissions.items():
                    drop = {v.lower() for v in values}
                    entry.permissions[perm_kind] = [p for p in entry.permissions.get(perm_kind, [])
                                                    if p.lower() not in drop]
                entry.permissions = {k: v for k, v in entry.permissions.items() if v}
                if not entry.permissions:
                    vault.policies.remove(entry)
            elif entry is None:
                vault.policies.append(AccessPolicy(policy.tenant_id, policy.object_id,
                                                   {k: list(v) for k, v in policy.permissions.items()}))
            elif kind == "replace":
                entry.permissions = {k: list(v) for k, v in policy.permissions.items()}
            else:
                for perm_kind, values in policy.permissions.items():
                    entry.permissions[perm_kind] = _merge(entry.permissions.get(perm_kind, []), values)

    def missing(self, vault: KeyVault, object_id: str, needed: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (kind, permission) pairs of `needed` the principal may not use on the vault."""
        if vault.rbac:
            allowed, denied = self._sb.authorization.data_actions(object_id, vault.id)

            def hit(action: str, patterns: list[str]) -> bool:
                return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)

            return [(k, p) for k, p in needed
                    if not hit(DATA_ACTIONS[(k, p)], allowed) or hit(DATA_ACTIONS[(k, p)], denied)]
        entry = vault.policy_for(vault.tenant_id, object_id)
        return [(k, p) for k, p in needed if entry is None or not entry.grants(k, p)]

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"id": v.id, "enableRbacAuthorization": v.rbac, "accessPolicies": [p.to_arm() for p in v.policies]}
                for v in sorted(self.vaults.values(), key=lambda v: v.id.lower())]
