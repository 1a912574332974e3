"""The gateway through the real SDK clients against the in-process sandbox: typed reads,
caching, error classification by ARM code, retry cap, cloud selection and the request counter."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.credentials import AccessToken

from azbackup_fix import (
    AzureOperationError,
    InvalidInputError,
    InvalidResourceIdError,
    PermissionDeniedError,
    SandboxCredential,
    VmNotFoundError,
    VmNotProtectedError,
)
from azbackup_fix.gateway import CLOUDS, Gateway, get_cloud, observe_vm
from azbackup_fix.ids import ProtectedItemRef, VmRef
from azbackup_sandbox import Sandbox
from tests.gateway.sandbox_arm import BROKEN, NEIGHBOUR, VM_RG, Target, writes


class ScopeRecordingCredential:
    """A TokenCredential that remembers the scopes it was asked for (ours, not an SDK object)."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("recorded", 4_102_444_800)


def _gateway(sandbox: Sandbox, **kwargs: Any) -> Gateway:
    from azbackup_sandbox.core.control import subscription_ids

    kwargs.setdefault("transport", sandbox.transport())
    return Gateway(kwargs.pop("credential", SandboxCredential()), subscription_ids(sandbox)[0], **kwargs)


def test_vm_read_is_one_get_with_instance_view() -> None:
    sandbox = Sandbox(scenario="failed-vmsnapshot-linux")
    gateway = _gateway(sandbox)
    vm = gateway.get_vm(Target(sandbox).vm())
    log = sandbox.requests()
    assert len(log) == 1 and log[0].method == "GET" and "$expand=instanceView" in log[0].query
    assert vm.os_family == "linux" and vm.is_running and vm.provisioning_failed
    ext = vm.backup_extension
    assert ext is not None and ext.type == "VMSnapshotLinux" and ext.is_failed
    assert ext.status_message and "could not be loaded" in ext.status_message
    assert vm.agent.is_ready and vm.agent.known_version
    assert any(d.is_os_disk for d in vm.disks) and all(d.size_gb for d in vm.disks)
    assert gateway.request_count == 1


def test_no_secret_reaches_the_models() -> None:
    sandbox = Sandbox(scenario="healthy")
    observation = observe_vm(_gateway(sandbox), Target(sandbox).vm())
    assert "sandbox-secret" not in repr(observation)  # protectedSettings carry SAS URIs


def test_lists_are_cached_per_resource_group_for_the_gateway_lifetime() -> None:
    sandbox = Sandbox(scenario="rp-limit-locked")
    target = Target(sandbox)
    gateway = _gateway(sandbox)
    observe_vm(gateway, target.vm(BROKEN))
    first = gateway.request_count
    observe_vm(gateway, target.vm(NEIGHBOUR))
    second = gateway.request_count - first
    assert second == 4  # VM, backupStatus, item, the neighbour's own collection
    lock_lists = [r for r in sandbox.requests() if r.path.endswith("/Microsoft.Authorization/locks")]
    assert len(lock_lists) == 3  # subscription, VM group, restore-point group: once each
    gateway.invalidate()
    observe_vm(gateway, target.vm(NEIGHBOUR))
    assert gateway.request_count - first - second == 12


def test_restore_point_collections_matched_by_source_not_name() -> None:
    sandbox = Sandbox(scenario="rp-limit-locked")
    target = Target(sandbox)
    gateway = _gateway(sandbox)
    mine = gateway.restore_point_collections_for_vm(target.vm(BROKEN), ["AzureBackupRG_eastus_1"])
    assert len(mine) == 1 and len(mine[0].restore_points) == 18 and mine[0].is_for(target.vm(BROKEN))
    listed = gateway.list_restore_point_collections("AzureBackupRG_eastus_1")
    assert len(listed) == 2 and all(not c.restore_points for c in listed)  # a list never carries points
    expanded = [r for r in sandbox.requests() if "$expand=restorePoints" in r.query]
    assert len(expanded) == 1 and BROKEN in expanded[0].path


def test_locks_and_backup_reads_are_typed() -> None:
    sandbox = Sandbox(scenario="rp-limit-custom-rg")
    target = Target(sandbox)
    gateway = _gateway(sandbox)
    locks = gateway.list_resource_group_locks("rg-vmbackup-rp-1-eus")
    assert [lk.name for lk in locks] == ["keep-backup-rg"] and locks[0].level.value == "CanNotDelete"
    status = gateway.get_backup_status(target.vm(), "East US")
    assert status.protected and status.vault is not None and status.vault.name == "rsv-prod-eastus"
    item = gateway.get_protected_item(ProtectedItemRef.for_vm(status.vault, target.vm()))
    assert item.vm_id == target.vm().resource_id and item.policy_id
    from azbackup_fix.ids import BackupPolicyRef

    policy = gateway.get_policy(BackupPolicyRef.parse(item.policy_id))
    assert (policy.rg_prefix, policy.rg_suffix) == ("rg-vmbackup-rp-", "-eus")
    jobs = gateway.jobs_for_vm(status.vault, target.vm())
    failed = [j for j in jobs if j.is_failed]
    assert failed and failed[0].primary_error and failed[0].primary_error.error_title
    detail = gateway.get_job(failed[0].ref)
    assert detail.ref == failed[0].ref and detail.errors
    assert writes(sandbox.requests()) == []


def test_missing_vm_and_unprotected_vm() -> None:
    sandbox = Sandbox(scenario="healthy")
    target = Target(sandbox)
    gateway = _gateway(sandbox)
    with pytest.raises(VmNotFoundError) as missing:
        gateway.get_vm(target.vm("vm-nope"))
    assert missing.value.exit_code == 2 and isinstance(missing.value.__cause__, Exception)
    with pytest.raises(VmNotFoundError):
        observe_vm(gateway, target.vm("vm-nope"))
    with pytest.raises(VmNotFoundError):
        gateway.get_vm(VmRef(target.subscription, "rg-missing", "vm-app-01"))  # ResourceGroupNotFound
    # Stop protection entirely: the VM exists, but nothing protects it.
    sandbox.backup.items.clear()
    with pytest.raises(VmNotProtectedError):
        observe_vm(gateway, target.vm(BROKEN))
    assert writes(sandbox.requests()) == []


def test_other_subscription_is_refused_before_any_request() -> None:
    sandbox = Sandbox(scenario="healthy")
    gateway = _gateway(sandbox)
    with pytest.raises(InvalidInputError):
        gateway.get_vm(VmRef("00000000-0000-0000-0000-000000000001", VM_RG, BROKEN))
    assert sandbox.requests() == []


def test_authorization_failed_names_the_missing_action() -> None:
    sandbox = Sandbox(scenario="healthy")
    sandbox.config.rbac = sandbox.rbac.enforce = True
    sandbox.rbac.assign("reader-without-backup", actions=("Microsoft.Compute/*/read",))
    sandbox.rbac.tokens["limited"] = "reader-without-backup"
    gateway = _gateway(sandbox, credential=SandboxCredential("limited"))
    with pytest.raises(PermissionDeniedError) as denied:
        observe_vm(gateway, Target(sandbox).vm())
    assert denied.value.exit_code == 3
    assert denied.value.action == "Microsoft.Resources/subscriptions/resources/read"
    assert "\n" not in str(denied.value)


def test_scope_locked_is_classified_by_code_not_class() -> None:
    sandbox = Sandbox(scenario="healthy")
    sandbox.faults.add({"method": "GET", "path": "virtualMachines/vm-app-01$", "status": 409, "code": "ScopeLocked"})
    with pytest.raises(AzureOperationError) as failed:
        _gateway(sandbox).get_vm(Target(sandbox).vm())
    error = failed.value
    assert (error.status_code, error.arm_code) == (409, "ScopeLocked")
    assert error.request_id == sandbox.requests()[-1].request_id
    assert type(error.__cause__).__name__ == "ResourceExistsError"


def test_retry_after_is_capped_and_retries_are_not_counted_twice() -> None:
    sandbox = Sandbox(scenario="healthy")
    sandbox.faults.add({"method": "GET", "path": "virtualMachines/vm-app-01$", "status": 429,
                        "code": "SubscriptionRequestsThrottled", "retry_after": 3600})
    before = sandbox.clock.now()
    gateway = _gateway(sandbox, retry_after_cap=5)
    vm = gateway.get_vm(Target(sandbox).vm())
    waited = (sandbox.clock.now() - before).total_seconds()
    assert vm.is_running
    assert 5 <= waited < 60  # one capped wait instead of an hour
    assert [r.status for r in sandbox.requests()] == [429, 200]
    assert gateway.request_count == 1  # one logical call (the counter is a per-call policy)


def test_retry_total_zero_fails_fast() -> None:
    sandbox = Sandbox(scenario="healthy")
    sandbox.faults.add({"method": "GET", "path": "virtualMachines/vm-app-01$", "status": 503})
    with pytest.raises(AzureOperationError) as failed:
        _gateway(sandbox, retry_total=0).get_vm(Target(sandbox).vm())
    assert failed.value.status_code == 503 and len(sandbox.requests()) == 1


@pytest.mark.parametrize("name", ["AzureCloud", "AzureChinaCloud", "azureusgovernment"])
def test_cloud_selection_sets_endpoint_and_scope(name: str) -> None:
    sandbox = Sandbox(scenario="healthy")
    credential = ScopeRecordingCredential()
    gateway = _gateway(sandbox, cloud=name, credential=credential)
    cloud = get_cloud(name)
    assert gateway.base_url == cloud.arm_endpoint
    gateway.get_vm(Target(sandbox).vm())
    assert credential.scopes == [(cloud.credential_scope,)]


def test_custom_endpoint_and_scopes_pass_through() -> None:
    sandbox = Sandbox(scenario="healthy")
    credential = ScopeRecordingCredential()
    gateway = _gateway(sandbox, base_url="https://arm.contoso.example/", credential=credential,
                       credential_scopes=["https://arm.contoso.example/.default"])
    assert gateway.base_url == "https://arm.contoso.example"
    gateway.get_vm(Target(sandbox).vm())
    assert credential.scopes == [("https://arm.contoso.example/.default",)]


def test_unknown_cloud_is_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        get_cloud("AzureGermanCloud")
    assert set(CLOUDS) == {"azurecloud", "azurechinacloud", "azureusgovernment"}


def test_malformed_vm_id_raises_before_any_request() -> None:
    target = Target(Sandbox(scenario="healthy"))
    with target.remediator() as fix:
        for bad in ("", "vm-app-01", "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v",
                    f"/subscriptions/{target.subscription}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s"):
            with pytest.raises(InvalidResourceIdError):
                fix.diagnose(bad)
    assert target.sandbox.requests() == []
