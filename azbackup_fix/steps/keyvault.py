"""Grant the Backup Management Service access to a Key Vault: an access-policy ``add`` of exactly the
missing permissions (never ``replace``), or a role assignment at the vault's scope for RBAC vaults.

Each change is journaled *before* it is sent, with everything needed to undo it (see
:mod:`azbackup_fix.keyvault_undo`): the permissions added (undo: ``remove`` them), or the
assignment's id (undo: delete it)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from ..models.keyvault import Permission, format_permissions
from ..models.rails import PERMISSIONS
from ..models.report import DetailValue, StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["ACCESS_POLICY_ADDED", "ROLE_ASSIGNED", "AddKeyVaultAccessPolicy", "AssignKeyVaultRole"]

ACCESS_POLICY_ADDED = "key-vault-access-policy-added"  # journal actions; detail: JSON to undo them
ROLE_ASSIGNED = "key-vault-role-assigned"


def _journal(ctx: StepContext, action: str, target: str, detail: dict[str, object]) -> None:
    if ctx.journal is not None and ctx.run_id is not None:
        ctx.journal.record_change(ctx.run_id, action=action, target=target,
                                  detail=json.dumps(detail, sort_keys=True, separators=(",", ":")))


@dataclass(frozen=True)
class AddKeyVaultAccessPolicy(Step):
    vault_id: str
    tenant_id: str
    object_id: str
    permissions: tuple[Permission, ...]

    kind = "add-key-vault-access-policy"
    actions = ("Microsoft.KeyVault/vaults/read", "Microsoft.KeyVault/vaults/accessPolicies/write")
    rail = PERMISSIONS

    @property
    def target(self) -> str:
        return self.vault_id

    def describe(self) -> str:
        name = self.vault_id.rstrip("/").rsplit("/", 1)[-1]
        return (f"add to Key Vault {name}'s access policy for the Backup Management Service ({self.object_id}): "
                f"{format_permissions(self.permissions)}")

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("operation", "add"), ("object_id", self.object_id), ("permissions", format_permissions(self.permissions)))

    def run(self, ctx: StepContext) -> StepOutcome:
        _journal(ctx, ACCESS_POLICY_ADDED, self.vault_id, {
            "operation": "add", "undo": "remove", "tenant_id": self.tenant_id, "object_id": self.object_id,
            "permissions": [list(p) for p in self.permissions]})
        ctx.gateway.key_vault().update_access_policy(self.vault_id, "add", self.tenant_id, self.object_id,
                                                     self.permissions)
        return self.outcome(StepStatus.CHANGED)


@dataclass(frozen=True)
class AssignKeyVaultRole(Step):
    vault_id: str
    principal_id: str
    role_name: str

    kind = "assign-key-vault-role"
    actions = ("Microsoft.Authorization/roleDefinitions/read", "Microsoft.Authorization/roleAssignments/write")
    rail = PERMISSIONS

    @property
    def target(self) -> str:
        return self.vault_id

    @property
    def assignment_name(self) -> str:
        # Stable, so the plan is a pure function of state and a re-sent create is the same assignment.
        seed = f"azbackup-fix/{self.vault_id.casefold()}/{self.principal_id.casefold()}/{self.role_name.casefold()}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))

    def describe(self) -> str:
        name = self.vault_id.rstrip("/").rsplit("/", 1)[-1]
        return (f"assign role '{self.role_name}' to the Backup Management Service ({self.principal_id}) at Key "
                f"Vault {name}'s scope (RBAC vault)")

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("role", self.role_name), ("principal_id", self.principal_id),
                ("assignment_id", f"{self.vault_id}/providers/Microsoft.Authorization/roleAssignments/"
                                  f"{self.assignment_name}"))

    def run(self, ctx: StepContext) -> StepOutcome:
        reads = ctx.gateway.key_vault()
        role_id = reads.role_definition_id(self.vault_id, self.role_name)
        # Compact (the journal keeps one bounded line): the assignment's id is the target's scope + name.
        _journal(ctx, ROLE_ASSIGNED, self.vault_id, {
            "undo": "delete", "name": self.assignment_name, "role": self.role_name,
            "principal_id": self.principal_id})
        reads.create_role_assignment(self.vault_id, role_id, self.principal_id, self.assignment_name)
        return self.outcome(StepStatus.CHANGED)
