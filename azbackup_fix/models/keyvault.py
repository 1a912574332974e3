"""Key Vault access for encrypted VMs: what a backup needs from the vault, what the vault grants.

Azure Backup reads an encrypted VM's Azure Disk Encryption keys as the Backup Management Service
principal (app id :data:`BACKUP_MANAGEMENT_APP_ID`): the BEK secrets (secrets get, list, backup) and,
when a KEK wraps them, the keys (keys get, list, backup). A BEK-only VM needs secrets only. A vault
grants them through access policies, or, with ``enableRbacAuthorization``, through role assignments
whose roles' dataActions cover the same operations. Everything here is pure."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

__all__ = [
    "BACKUP_MANAGEMENT_APP_ID",
    "DATA_ACTIONS",
    "KEY_VAULT_ADMINISTRATOR",
    "AccessPolicyEntry",
    "EncryptionKey",
    "KeyVaultAccess",
    "KeyVaultState",
    "Permission",
    "RoleGrant",
    "format_permissions",
    "needed_permissions",
]

BACKUP_MANAGEMENT_APP_ID = "262044b1-e2ce-469f-a196-69ab7ada62d3"
# The built-in role Microsoft's guide names for RBAC vaults; its dataActions are Microsoft.KeyVault/vaults/*.
KEY_VAULT_ADMINISTRATOR = "Key Vault Administrator"

Permission = tuple[str, str]  # (kind, permission): ("secrets", "get")
_NEEDS: dict[str, tuple[Permission, ...]] = {
    "secret": (("secrets", "get"), ("secrets", "list"), ("secrets", "backup")),
    "key": (("keys", "get"), ("keys", "list"), ("keys", "backup")),
}
# The RBAC dataAction each permission corresponds to (Key Vault's RBAC migration guide).
DATA_ACTIONS: dict[Permission, str] = {
    ("keys", "get"): "Microsoft.KeyVault/vaults/keys/read",
    ("keys", "list"): "Microsoft.KeyVault/vaults/keys/read",
    ("keys", "backup"): "Microsoft.KeyVault/vaults/keys/backup/action",
    ("secrets", "get"): "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    ("secrets", "list"): "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    ("secrets", "backup"): "Microsoft.KeyVault/vaults/secrets/backup/action",
}


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    """One ADE key of a disk: its BEK secret (``kind`` "secret") or KEK (``kind`` "key"), and where it
    was found: ``vm model`` (dual-pass ADE), ``disk`` (the managed disk's own settings; single-pass ADE
    keeps them only there) or ``extension`` (the AzureDiskEncryption extension's settings)."""

    kind: str
    vault_id: str
    url: str | None
    disk: str
    source: str


def format_permissions(permissions: tuple[Permission, ...]) -> str:
    """(("keys", "get"), ("keys", "list"), ("secrets", "backup")) -> "keys get, list; secrets backup"."""
    kinds: dict[str, list[str]] = {}
    for kind, name in permissions:
        kinds.setdefault(kind, []).append(name)
    return "; ".join(f"{kind} {', '.join(names)}" for kind, names in sorted(kinds.items()))


def needed_permissions(keys: tuple[EncryptionKey, ...]) -> dict[str, tuple[Permission, ...]]:
    """Per folded vault id, the permissions a backup needs there, in a stable order."""
    out: dict[str, list[Permission]] = {}
    for key in keys:
        wanted = out.setdefault(key.vault_id.casefold(), [])
        wanted += [p for p in _NEEDS.get(key.kind, ()) if p not in wanted]
    return {vault: tuple(sorted(perms)) for vault, perms in out.items()}


@dataclass(frozen=True, slots=True)
class AccessPolicyEntry:
    tenant_id: str
    object_id: str
    keys: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    certificates: tuple[str, ...] = ()
    application_id: str | None = None

    def grants(self, permission: Permission) -> bool:
        kind, name = permission
        held = {p.casefold() for p in getattr(self, kind, ())}
        return name.casefold() in held or "all" in held


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """A role assignment of the principal at or above the vault, with its role's data actions."""

    assignment_id: str
    role_name: str
    scope: str
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def covers(self, permission: Permission) -> bool:
        action = DATA_ACTIONS[permission].casefold()
        allowed = any(fnmatch.fnmatchcase(action, a.casefold()) for a in self.data_actions)
        return allowed and not any(fnmatch.fnmatchcase(action, a.casefold()) for a in self.not_data_actions)


@dataclass(frozen=True, slots=True)
class KeyVaultState:
    """One vault as read: its access model and, for that model, what the principal holds."""

    vault_id: str
    name: str
    tenant_id: str | None = None
    rbac: bool = False
    policies: tuple[AccessPolicyEntry, ...] = ()
    role_grants: tuple[RoleGrant, ...] = ()  # the principal's, read only for RBAC vaults
    error: str | None = None  # why the vault could not be read (not found, access denied)

    @property
    def resource_group(self) -> str:
        return self.vault_id.strip("/").split("/")[3]

    @property
    def access_model(self) -> str:
        return "rbac" if self.rbac else "access policies"

    def policy_for(self, object_id: str) -> AccessPolicyEntry | None:
        return next((p for p in self.policies if p.object_id.casefold() == object_id.casefold()
                     and not p.application_id), None)

    def missing(self, object_id: str, needed: tuple[Permission, ...]) -> tuple[Permission, ...]:
        if self.rbac:
            return tuple(p for p in needed if not any(g.covers(p) for g in self.role_grants))
        entry = self.policy_for(object_id)
        return tuple(p for p in needed if entry is None or not entry.grants(p))


@dataclass(frozen=True, slots=True)
class KeyVaultAccess:
    """What an encrypted VM's backup needs from its Key Vaults, and what they grant the principal.

    ``principal_object_id`` is the Backup Management Service principal's object id in the tenant
    (from Microsoft Graph, or given); ``None`` with ``principal_error`` saying why. ``unavailable``:
    the reads could not be made at all (the ``keyvault`` extra is not installed)."""

    keys: tuple[EncryptionKey, ...] = ()
    vaults: tuple[KeyVaultState, ...] = ()
    principal_object_id: str | None = None
    principal_error: str | None = None
    tenant_id: str | None = None
    unavailable: str | None = None

    @property
    def encrypted(self) -> bool:
        return bool(self.keys)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k.source for k in self.keys))

    def vault(self, vault_id: str) -> KeyVaultState | None:
        return next((v for v in self.vaults if v.vault_id.casefold() == vault_id.casefold()), None)

    def needed(self) -> dict[str, tuple[Permission, ...]]:
        return needed_permissions(self.keys)

    def missing(self) -> dict[str, tuple[Permission, ...]]:
        """Per vault id (as read), the needed permissions the principal lacks; empty when all granted
        or when the principal is unknown (nothing can be said then)."""
        if self.principal_object_id is None:
            return {}
        out: dict[str, tuple[Permission, ...]] = {}
        for folded, needed in self.needed().items():
            vault = self.vault(folded)
            if vault is None or vault.error is not None:
                continue
            lacking = vault.missing(self.principal_object_id, needed)
            if lacking:
                out[vault.vault_id] = lacking
        return out
