"""Resource id parsing, validation messages, canonical form and Azure Backup naming."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbackup_fix.errors import InvalidInputError, InvalidResourceIdError
from azbackup_fix.ids import (
    BackupJobRef,
    BackupPolicyRef,
    LockRef,
    ProtectedItemRef,
    ResourceGroupRef,
    ResourceId,
    RestorePointCollectionRef,
    RestorePointRgNaming,
    ScopeKind,
    SubscriptionRef,
    VaultRef,
    VmRef,
    backup_container_name,
    normalize_region,
    protected_item_name,
    vm_names_from_backup_name,
)

SUB = "11111111-2222-3333-4444-555555555555"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/Prod-RG/providers/Microsoft.Compute/virtualMachines/WebVM1"
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/backup-rg/providers/Microsoft.RecoveryServices/vaults/vault1"


def test_vm_ref_parses_parts() -> None:
    vm = VmRef.parse(VM_ID)
    assert (vm.subscription_id, vm.resource_group, vm.name) == (SUB, "Prod-RG", "WebVM1")
    assert vm.id == VM_ID
    assert str(vm) == VM_ID


def test_ids_compare_case_insensitively() -> None:
    lowered = VM_ID.replace("resourceGroups", "resourcegroups").replace("Prod-RG", "PROD-rg")
    assert VmRef.parse(lowered) == VmRef.parse(VM_ID)
    assert hash(VmRef.parse(lowered)) == hash(VmRef.parse(VM_ID))
    assert ResourceId.parse(VM_ID.upper().replace(SUB.upper(), SUB)) == ResourceId.parse(VM_ID)
    assert len({VmRef.parse(VM_ID), VmRef.parse(lowered)}) == 1


def test_refs_of_different_types_are_never_equal() -> None:
    assert VmRef.parse(VM_ID) != ResourceId.parse(VM_ID)


def test_accepts_management_url_query_and_trailing_slash() -> None:
    url = f"https://management.azure.com{VM_ID}/?api-version=2024-07-01"
    assert VmRef.parse(url) == VmRef.parse(VM_ID)
    assert VmRef.parse("  " + VM_ID[1:] + "  ") == VmRef.parse(VM_ID)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "resource id is empty"),
        ("   ", "resource id is empty"),
        ("vm1", "resource id must start with '/subscriptions/', got 'vm1'"),
        ("/subscriptions/xyz/resourceGroups/rg", "subscription id 'xyz' is not a GUID"),
        (
            f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines/vm",
            "resource id is missing the resource group segment",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa",
            "expected a Microsoft.Compute/virtualMachines id, got Microsoft.Storage/storageAccounts",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines",
            "resource id is missing a name after type 'virtualMachines'",
        ),
        (f"/subscriptions/{SUB}/resourceGroups/rg", "expected a Microsoft.Compute/virtualMachines id, got a resource group id"),
        (f"/subscriptions/{SUB}/resourceGroups//providers", "resource id has an empty segment ('//')"),
        (f"/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.Compute/virtualMachines/v",
         "resource group name 'rg.' must not end with a period"),
        (f"/subscriptions/{SUB}/resourceGroups/r g/providers/Microsoft.Compute/virtualMachines/v",
         "resource group name 'r g' contains characters other than"),
        (f"/subscriptions/{SUB}/foo/bar", "unexpected segment 'foo' after the subscription"),
        (f"/subscriptions/{SUB}/resourceGroups/rg/providers/compute/virtualMachines/v",
         "provider namespace 'compute' is not of the form 'Company.Service'"),
        (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/a%25b",
         "virtualMachines name 'a%b' contains characters ARM does not allow"),
        (
            VM_ID + "/extensions/VMSnapshot",
            "expected a Microsoft.Compute/virtualMachines id, got Microsoft.Compute/virtualMachines/extensions",
        ),
    ],
)
def test_vm_parse_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidResourceIdError) as info:
        VmRef.parse(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_non_string_input_is_an_invalid_id() -> None:
    with pytest.raises(InvalidResourceIdError, match="must be a string"):
        ResourceId.parse(42)  # type: ignore[arg-type]


def test_generic_id_parent_child_and_kind() -> None:
    rid = ResourceId.parse(VM_ID + "/extensions/VMSnapshot")
    assert rid.resource_type == "Microsoft.Compute/virtualMachines/extensions"
    assert rid.kind is ScopeKind.RESOURCE
    assert rid.parent == ResourceId.parse(VM_ID)
    assert rid.parent.parent == ResourceId.parse(f"/subscriptions/{SUB}/resourceGroups/Prod-RG")
    assert rid.parent.parent.kind is ScopeKind.RESOURCE_GROUP
    assert rid.parent.parent.parent == ResourceId(SUB)
    assert ResourceId(SUB).parent is None
    assert ResourceId.parse(VM_ID).child("extensions", "VMSnapshot") == rid
    lock = ResourceId.parse(VM_ID).child("Microsoft.Authorization/locks", "l1")
    assert lock.id == VM_ID + "/providers/Microsoft.Authorization/locks/l1"
    assert lock.scope == ResourceId.parse(VM_ID)
    assert lock.parent == ResourceId.parse(VM_ID)
    with pytest.raises(InvalidResourceIdError, match="needs a provider namespace"):
        ResourceId(SUB, "rg").child("virtualMachines", "v")


def test_lock_refs_at_every_scope() -> None:
    rg_lock = LockRef.parse(f"/subscriptions/{SUB}/resourcegroups/AzureBackupRG_westeurope_1/providers/Microsoft.Authorization/locks/nodelete")
    assert rg_lock.scope_kind is ScopeKind.RESOURCE_GROUP
    assert rg_lock.resource_group == "AzureBackupRG_westeurope_1"
    assert rg_lock.name == "nodelete"
    sub_lock = LockRef.parse(f"/subscriptions/{SUB}/providers/Microsoft.Authorization/locks/sub-lock")
    assert sub_lock.scope_kind is ScopeKind.SUBSCRIPTION
    assert sub_lock.resource_group is None
    res_lock = LockRef.parse(VM_ID + "/providers/Microsoft.Authorization/locks/vm-lock")
    assert res_lock.scope_kind is ScopeKind.RESOURCE
    assert res_lock.scope == ResourceId.parse(VM_ID)
    assert LockRef.parse(res_lock.id) == res_lock
    with pytest.raises(InvalidResourceIdError, match="expected a Microsoft.Authorization/locks id"):
        LockRef.parse(VM_ID)


def test_protected_item_ref_decodes_percent_encoded_semicolons() -> None:
    encoded = (
        f"{VAULT_ID}/backupFabrics/Azure/protectionContainers/IaasVMContainer%3Biaasvmcontainerv2%3Bprod-rg%3Bwebvm1"
        "/protectedItems/VM%3Biaasvmcontainerv2%3Bprod-rg%3Bwebvm1"
    )
    item = ProtectedItemRef.parse(encoded)
    assert item.container_name == "IaasVMContainer;iaasvmcontainerv2;prod-rg;webvm1"
    assert item.item_name == "VM;iaasvmcontainerv2;prod-rg;webvm1"
    assert item.vault == VaultRef.parse(VAULT_ID)
    assert ";" in item.id and "%3B" not in item.id
    assert item == ProtectedItemRef.for_vm(VaultRef.parse(VAULT_ID), VmRef.parse(VM_ID))
    assert item.concerns(VmRef.parse(VM_ID))


def test_backup_names_lower_case_rg_and_vm() -> None:
    vm = VmRef.parse(VM_ID)
    assert backup_container_name(vm) == "IaasVMContainer;iaasvmcontainerv2;prod-rg;webvm1"
    assert protected_item_name(vm) == "VM;iaasvmcontainerv2;prod-rg;webvm1"
    assert vm_names_from_backup_name("iaasvmcontainerv2;Prod-RG;WebVM1") == ("prod-rg", "webvm1")
    assert vm_names_from_backup_name("VM%3Biaasvmcontainerv2%3Brg%3Bvm") == ("rg", "vm")
    with pytest.raises(InvalidResourceIdError, match="is not of the form"):
        vm_names_from_backup_name("SQLDataBase;mssqlserver;db")


def test_vault_child_refs() -> None:
    job = BackupJobRef.parse(f"{VAULT_ID}/backupJobs/0d0c8a4e-0000-4000-8000-000000000001")
    assert job.vault == VaultRef.parse(VAULT_ID) and job.name.startswith("0d0c8a4e")
    policy = BackupPolicyRef.parse(f"{VAULT_ID}/backupPolicies/DefaultPolicy")
    assert policy.name == "DefaultPolicy"
    with pytest.raises(InvalidResourceIdError, match="expected a Microsoft.RecoveryServices/vaults/backupJobs id"):
        BackupJobRef.parse(f"{VAULT_ID}/backupPolicies/DefaultPolicy")


def test_other_typed_refs() -> None:
    assert SubscriptionRef.parse(SUB).id == f"/subscriptions/{SUB}"
    assert SubscriptionRef.parse(f"/subscriptions/{SUB.upper()}") == SubscriptionRef(SUB)
    rg = ResourceGroupRef.parse(f"/subscriptions/{SUB}/resourceGroups/rg1")
    assert rg.name == "rg1" and rg.subscription == SubscriptionRef(SUB)
    rpc = RestorePointCollectionRef.parse(
        f"/subscriptions/{SUB}/resourceGroups/AzureBackupRG_westeurope_1/providers/Microsoft.Compute/"
        "restorePointCollections/AzureBackup_WebVM1_123"
    )
    assert rpc.resource_group_ref.name == "AzureBackupRG_westeurope_1"
    with pytest.raises(InvalidResourceIdError, match="expected a subscription id, got a resource group id"):
        SubscriptionRef.parse(rg.id)
    with pytest.raises(InvalidResourceIdError, match="subscription id 'nope' is not a GUID"):
        VmRef(subscription_id="nope", resource_group="rg", name="vm")


class TestRestorePointRgNaming:
    def test_default_pattern_uses_region(self) -> None:
        naming = RestorePointRgNaming(region="West Europe")
        assert naming.name(1) == "AzureBackupRG_westeurope_1"
        assert naming.matches("azurebackuprg_WESTEUROPE_12")
        assert naming.number("AzureBackupRG_westeurope_3") == 3
        assert not naming.matches("AzureBackupRG_northeurope_1")
        assert not naming.matches("AzureBackupRG_westeurope_")
        assert not naming.matches("AzureBackupRG_westeurope_0")
        assert not naming.matches("xAzureBackupRG_westeurope_1")

    def test_default_without_region_matches_any_region(self) -> None:
        naming = RestorePointRgNaming()
        assert naming.matches("AzureBackupRG_eastus2_1")
        with pytest.raises(InvalidInputError, match="needs the VM's region"):
            naming.name(1)

    def test_custom_prefix_and_suffix_number_appended_directly(self) -> None:
        naming = RestorePointRgNaming(region="westeurope", prefix="Contoso_", suffix="ForVMs")
        assert naming.is_custom
        assert naming.name(2) == "Contoso_2ForVMs"
        assert naming.matches("contoso_1forvms")
        assert not naming.matches("Contoso_1")
        assert not naming.matches("AzureBackupRG_westeurope_1")

    def test_custom_prefix_without_suffix(self) -> None:
        naming = RestorePointRgNaming(prefix="rp-store-")
        assert naming.matches("rp-store-1") and naming.number("RP-STORE-10") == 10
        assert not naming.matches("rp-store-1-old")
        assert naming.describe() == "rp-store-<n>"

    def test_region_normalisation(self) -> None:
        assert normalize_region(" North Europe ") == "northeurope"


# -- properties ---------------------------------------------------------------------------------

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.;()", min_size=1, max_size=20)
_rg_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_()", min_size=1, max_size=30)
_types = st.from_regex(r"\A[A-Za-z][A-Za-z0-9]{0,15}\Z")
_namespaces = st.from_regex(r"\A[A-Z][a-z]{1,8}\.[A-Z][A-Za-z]{1,12}\Z")
_subs = st.uuids().map(str)


@st.composite
def resource_ids(draw: st.DrawFn) -> ResourceId:
    sub = draw(_subs)
    rg = draw(st.one_of(st.none(), _rg_names))
    if draw(st.booleans()):
        return ResourceId(sub, rg)
    pairs = tuple(draw(st.lists(st.tuples(_types, _names), min_size=1, max_size=3)))
    base = ResourceId(sub, rg, draw(_namespaces), pairs)
    if draw(st.booleans()):
        return base.child("Microsoft.Authorization/locks", draw(_names))
    return base


@given(resource_ids())
@settings(max_examples=300)
def test_parse_format_round_trip(rid: ResourceId) -> None:
    parsed = ResourceId.parse(rid.id)
    assert parsed == rid
    assert parsed.id == rid.id
    assert ResourceId.parse(rid.id.lower()) == rid  # case never matters


@given(st.text(max_size=200))
@settings(max_examples=500)
def test_garbage_only_raises_invalid_resource_id(text: str) -> None:
    try:
        rid = ResourceId.parse(text)
    except InvalidResourceIdError as exc:
        assert "\n" not in str(exc)
    else:
        assert ResourceId.parse(rid.id) == rid


_segments = st.sampled_from(
    ["subscriptions", SUB, "resourceGroups", "rg", "providers", "Microsoft.Compute", "virtualMachines", "vm",
     "", "%3B", "%ZZ", "x y", "..", "locks", "Microsoft.Authorization", "\x00", "%2F"]
)


@given(st.lists(_segments, max_size=12))
@settings(max_examples=500)
def test_near_miss_ids_only_raise_invalid_resource_id(parts: list[str]) -> None:
    text = "/" + "/".join(parts)
    for parse in (ResourceId.parse, VmRef.parse, LockRef.parse, ProtectedItemRef.parse):
        try:
            parsed = parse(text)
        except InvalidResourceIdError as exc:
            assert str(exc)
        else:
            assert type(parsed).parse(parsed.id) == parsed
