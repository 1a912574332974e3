"""The pure Key Vault logic: what a backup needs, what a vault grants, how it is written."""

from __future__ import annotations

from azbackup_fix.models.keyvault import (
    AccessPolicyEntry,
    EncryptionKey,
    KeyVaultAccess,
    KeyVaultState,
    RoleGrant,
    format_permissions,
    needed_permissions,
)

VAULT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
BMS = "37401b1f-63cd-51b0-8c28-aa8b97e9cddd"
BEK = EncryptionKey("secret", VAULT, "https://kv.vault.azure.net/secrets/x/1", "os", "disk")
KEK = EncryptionKey("key", VAULT.upper(), "https://kv.vault.azure.net/keys/k/1", "os", "vm model")


def test_bek_only_needs_secrets_and_a_kek_adds_keys_in_the_same_vault() -> None:
    assert needed_permissions((BEK,)) == {VAULT.casefold(): (("secrets", "backup"), ("secrets", "get"),
                                                            ("secrets", "list"))}
    (both,) = needed_permissions((BEK, KEK)).values()
    assert format_permissions(both) == "keys backup, get, list; secrets backup, get, list"


def test_access_policies_match_case_insensitively_and_all_covers_everything() -> None:
    needed = needed_permissions((BEK, KEK))[VAULT.casefold()]
    vault = KeyVaultState(VAULT, "kv", "t", policies=(AccessPolicyEntry("t", BMS.upper(), keys=("Get", "LIST"),
                                                                        secrets=("all",)),))
    assert format_permissions(vault.missing(BMS, needed)) == "keys backup"
    assert KeyVaultState(VAULT, "kv").missing(BMS, needed) == needed  # no entry: everything missing


def test_rbac_grants_need_data_actions_not_control_plane_roles() -> None:
    needed = needed_permissions((BEK, KEK))[VAULT.casefold()]
    reader = RoleGrant("a1", "Key Vault Reader", VAULT, ("Microsoft.KeyVault/vaults/*/read",
                                                         "Microsoft.KeyVault/vaults/secrets/readMetadata/action"))
    rbac = KeyVaultState(VAULT, "kv", rbac=True, role_grants=(reader,),
                         policies=(AccessPolicyEntry("t", BMS, ("all",), ("all",)),))  # ignored: RBAC vault
    assert format_permissions(rbac.missing(BMS, needed)) == "keys backup; secrets backup, get"
    admin = RoleGrant("a2", "Key Vault Administrator", "/subscriptions/s", ("Microsoft.KeyVault/vaults/*",),
                      ("Microsoft.KeyVault/vaults/keys/backup/action",))
    assert KeyVaultState(VAULT, "kv", rbac=True, role_grants=(admin,)).missing(BMS, needed) == (("keys", "backup"),)


def test_access_missing_names_vaults_as_read_and_says_nothing_without_the_principal() -> None:
    vault = KeyVaultState(VAULT, "kv", "t")
    access = KeyVaultAccess(keys=(BEK, KEK), vaults=(vault,), principal_object_id=BMS)
    assert list(access.missing()) == [VAULT] and access.sources == ("disk", "vm model")
    assert KeyVaultAccess(keys=(BEK,), vaults=(vault,)).missing() == {}
