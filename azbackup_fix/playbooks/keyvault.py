"""grant-backup-key-vault-access: let the Backup Management Service read an encrypted VM's Key Vault
keys and secrets (UserErrorKeyvaultPermissionsNotConfigured), behind ``allow_permission_changes``.

Access-policy vaults get an ``add`` of exactly the missing permissions (never ``replace``: other
principals' and the service's other permissions stay as they are); RBAC vaults get a role assignment
at the vault's scope (default Key Vault Administrator, as Microsoft's guide says). Then the backup."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..models import VmObservation
from ..models.keyvault import KEY_VAULT_ADMINISTRATOR
from ..models.options import Option
from ..models.rails import PERMISSIONS
from ..steps import AddKeyVaultAccessPolicy, AssignKeyVaultRole, Step, TriggerBackup
from .base import Plan, Playbook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["GrantBackupKeyVaultAccess"]


@register
class GrantBackupKeyVaultAccess(Playbook):
    id = "grant-backup-key-vault-access"
    title = "Grant the Backup Management Service access to an encrypted VM's Key Vault"
    error_codes = ("UserErrorKeyvaultPermissionsNotConfigured",)
    actions = (
        "Microsoft.Compute/disks/read",
        "Microsoft.KeyVault/vaults/read",
        "Microsoft.Authorization/roleAssignments/read",
        *AddKeyVaultAccessPolicy.actions[1:],
        *AssignKeyVaultRole.actions,
        *TriggerBackup.actions,
    )
    rail = PERMISSIONS
    options = MappingProxyType({
        "role_name": Option(str, KEY_VAULT_ADMINISTRATOR,
                            help="the role assigned at an RBAC vault's scope (its dataActions must cover keys and "
                                 "secrets get, list and backup)"),
        **TRIGGER_OPTIONS,
    })

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        kv = obs.key_vault
        if obs.vm is None or kv is None or (kv.unavailable is None and not kv.encrypted):
            return Plan(cls.id, target, notes=("the VM is not encrypted with Azure Disk Encryption",))
        if kv.unavailable is not None:
            return Plan(cls.id, target, refusals=(kv.unavailable,))
        if kv.principal_object_id is None:
            return Plan(cls.id, target, refusals=(
                f"the Backup Management Service principal is unknown ({kv.principal_error})",))
        steps: list[Step] = []
        refusals: list[str] = []
        missing = kv.missing()
        for vault in kv.vaults:
            if vault.error is not None:
                refusals.append(f"Key Vault {vault.name} could not be read: {vault.error}")
                continue
            lacking = missing.get(vault.vault_id)
            if not lacking:
                continue
            if vault.rbac:
                steps.append(AssignKeyVaultRole(vault.vault_id, kv.principal_object_id, str(opts["role_name"])))
            else:
                steps.append(AddKeyVaultAccessPolicy(vault.vault_id, vault.tenant_id or kv.tenant_id or "",
                                                     kv.principal_object_id, lacking))
        if not steps:
            return Plan(cls.id, target, notes=("the Backup Management Service holds every permission it needs",),
                        refusals=tuple(refusals))
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps), refusals=tuple(refusals))
