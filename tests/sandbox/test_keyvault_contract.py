"""Managed disks, Key Vault vaults, role assignments/definitions and Microsoft Graph's servicePrincipals,
driven by the real azure-mgmt-compute, azure-mgmt-keyvault and azure-mgmt-authorization clients (both
in-process and over HTTPS), and the backup physics they feed: an encrypted VM's backup fails with
UserErrorKeyvaultPermissionsNotConfigured until the Backup Management Service may read its keys."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.models import RoleAssignmentCreateParameters
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault import models as kv
from sandbox_arm import Arm

from azbackup_sandbox.providers.graph.models import BACKUP_MANAGEMENT_APP_ID, backup_service_object_id

RG, VAULT, VM = "rg-security", "kv-contoso-ade", "vm-app-01"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BMS = backup_service_object_id(TENANT)


def _perms(**kinds: list[str]) -> kv.Permissions:
    keys = kinds.pop("keys", None)
    return kv.Permissions(keys_property=keys, **kinds) if keys is not None else kv.Permissions(**kinds)


def _entry(sandbox_vault: object) -> dict:
    return {p.object_id: p.permissions for p in sandbox_vault.policies}  # type: ignore[attr-defined]


def test_disks_carry_the_ade_settings_the_vm_model_may_not(arm: Arm) -> None:
    arm.load("keyvault-single-pass")
    compute = arm.client(ComputeManagementClient)
    vm = compute.virtual_machines.get("rg-app-prod", VM)
    assert vm.storage_profile.os_disk.encryption_settings is None  # single pass: not in the VM model
    disk_id = vm.storage_profile.os_disk.managed_disk.id
    disk = compute.disks.get("rg-app-prod", disk_id.rsplit("/", 1)[-1])
    assert disk.managed_by.lower() == vm.id.lower() and disk.id.lower() == disk_id.lower()
    (settings,) = disk.encryption_settings_collection.encryption_settings
    assert disk.encryption_settings_collection.enabled and disk.encryption_settings_collection.encryption_settings_version == "1.1"
    assert settings.disk_encryption_key.source_vault.id.endswith(f"/vaults/{VAULT}")
    assert settings.key_encryption_key.key_url.startswith(f"https://{VAULT}.vault.azure.net/keys/")
    names = {d.name for d in compute.disks.list_by_resource_group("rg-app-prod")}
    assert disk.name in names and {d.name for d in compute.disks.list()} == names
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get("rg-app-prod", "no-such-disk")


def test_vault_access_policies_add_and_remove_merge_per_principal(arm: Arm) -> None:
    arm.load("keyvault-bek-only")
    client = arm.client(KeyVaultManagementClient)
    vault = client.vaults.get(RG, VAULT)
    assert vault.properties.enable_rbac_authorization is False and vault.properties.tenant_id == TENANT
    assert [v.name for v in client.vaults.list_by_resource_group(RG)] == [VAULT]
    assert [v.name for v in client.vaults.list_by_subscription()] == [VAULT]
    body = kv.VaultAccessPolicyParameters(properties=kv.VaultAccessPolicyProperties(access_policies=[
        kv.AccessPolicyEntry(tenant_id=TENANT, object_id=BMS, permissions=_perms(secrets=["backup"], keys=["get"]))]))
    client.vaults.update_access_policy(RG, VAULT, "add", body)
    state = _entry(arm.sandbox.keyvault.find(arm.subscription_id, RG, VAULT))
    assert state[BMS] == {"secrets": ["Get", "List", "backup"], "keys": ["get"]}
    client.vaults.update_access_policy(RG, VAULT, "remove", body)
    assert _entry(arm.sandbox.keyvault.find(arm.subscription_id, RG, VAULT))[BMS] == {"secrets": ["Get", "List"]}
    again = client.vaults.get(RG, VAULT)
    (bms,) = [p for p in again.properties.access_policies if p.object_id == BMS]
    assert [str(getattr(s, "value", s)) for s in bms.permissions.secrets] == ["Get", "List"]
    with pytest.raises(HttpResponseError) as bad:
        client.vaults.update_access_policy(RG, VAULT, "add", kv.VaultAccessPolicyParameters(
            properties=kv.VaultAccessPolicyProperties(access_policies=[kv.AccessPolicyEntry(
                tenant_id=TENANT, object_id=BMS, permissions=_perms(secrets=["fly"]))])))
    assert bad.value.status_code == 400


def test_role_assignments_at_a_vault_scope(arm: Arm) -> None:
    arm.load("keyvault-rbac")
    auth = arm.client(AuthorizationManagementClient)
    scope = f"/subscriptions/{arm.subscription_id}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/{VAULT}"
    (admin,) = auth.role_definitions.list(scope, filter="roleName eq 'Key Vault Administrator'")
    assert admin.permissions[0].data_actions == ["Microsoft.KeyVault/vaults/*"]
    mine = list(auth.role_assignments.list_for_scope(scope, filter=f"principalId eq '{BMS}'"))
    assert [auth.role_definitions.get_by_id(a.role_definition_id).role_name for a in mine] == ["Key Vault Reader"]
    name = str(uuid.uuid4())
    created = auth.role_assignments.create(scope, name, RoleAssignmentCreateParameters(
        role_definition_id=admin.id, principal_id=BMS, principal_type="ServicePrincipal"))
    assert created.scope == scope and created.principal_id == BMS
    with pytest.raises(HttpResponseError) as twice:
        auth.role_assignments.create(scope, str(uuid.uuid4()), RoleAssignmentCreateParameters(
            role_definition_id=admin.id, principal_id=BMS))
    assert twice.value.error.code == "RoleAssignmentExists"
    at = list(auth.role_assignments.list_for_scope(scope, filter="atScope()"))
    assert name in {a.name for a in at} and len(at) == 3
    auth.role_assignments.delete(scope, name)
    assert name not in {a.name for a in auth.role_assignments.list_for_scope(scope)}


def test_graph_finds_the_backup_management_service_for_a_graph_token(arm: Arm) -> None:
    arm.load("keyvault-rbac")
    found = arm.call("GET", "/v1.0/servicePrincipals", params={"$filter": f"appId eq '{BACKUP_MANAGEMENT_APP_ID}'"})
    assert found.status == 200, found.body
    (principal,) = found.json()["value"]
    assert principal["id"] == BMS and principal["displayName"] == "Backup Management Service"
    assert arm.call("GET", "/v1.0/servicePrincipals", params={"$filter": "startswith(x)"}).status == 400
    assert arm.call("GET", "/v1.0/servicePrincipals", token="").status == 401


def test_encrypted_vm_backs_up_once_the_role_is_granted(arm: Arm) -> None:
    arm.load("keyvault-rbac")
    sb = arm.sandbox
    item = next(i for i in sb.backup.items.values() if i.vm_name == VM)
    from azbackup_sandbox.providers.backup.physics import trigger_backup

    def last_status() -> str:
        job, _ = trigger_backup(sb, item, None)
        sb.advance(sb.config.backup_snapshot_seconds + sb.config.backup_transfer_seconds
                   + sb.config.backup_fail_seconds + 60)
        return f"{job.status} {[e.error_title for e in job.errors]}"

    assert last_status() == "Failed ['UserErrorKeyvaultPermissionsNotConfigured']"
    auth = arm.client(AuthorizationManagementClient)
    scope = f"/subscriptions/{arm.subscription_id}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/{VAULT}"
    (officer,) = auth.role_definitions.list(scope, filter="roleName eq 'Key Vault Secrets Officer'")
    auth.role_assignments.create(scope, str(uuid.uuid4()), RoleAssignmentCreateParameters(
        role_definition_id=officer.id, principal_id=BMS))
    assert last_status() == "Failed ['UserErrorKeyvaultPermissionsNotConfigured']"  # a KEK needs keys too
    (crypto,) = auth.role_definitions.list(scope, filter="roleName eq 'Key Vault Crypto Officer'")
    auth.role_assignments.create(scope, str(uuid.uuid4()), RoleAssignmentCreateParameters(
        role_definition_id=crypto.id, principal_id=BMS))
    assert last_status() == "Completed []"
