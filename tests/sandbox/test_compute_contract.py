"""Microsoft.Compute contract: every emulated operation driven through the real ComputeManagementClient,
in-process and over HTTPS, asserting what the SDK returns, the wire (status codes, headers) and the
sandbox state afterwards. Seeding goes straight through the models (same process in both modes)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import VirtualMachineExtensionUpdate
from sandbox_arm import Arm

from azbackup_sandbox.providers.compute.models import (
    AgentState,
    DataDisk,
    Extension,
    RestorePoint,
    RestorePointCollection,
    VirtualMachine,
)

SUB = "5f1a7c2e-0b7d-4c55-9d0e-2a3b4c5d6e7f"
RG = "rg-app"
RP_RG = "AzureBackupRG_eastus_1"
T0 = datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc)


# ---- seeding and helpers ---------------------------------------------------------------------------
def _estate(arm: Arm) -> None:
    sb = arm.sandbox
    with sb.lock:
        if sb.resources.find_group(SUB, RG) is None:
            sb.resources.add_subscription(SUB)
            sb.resources.add_group(SUB, RG, "eastus")
            sb.resources.add_group(SUB, RP_RG, "eastus")


def _vm(arm: Arm, name: str = "vm-linux-01", os_type: str = "Linux", *, snapshot_ext: bool = True,
        rg: str = RG, **kwargs: Any) -> VirtualMachine:
    _estate(arm)
    sb = arm.sandbox
    with sb.lock:
        vm = sb.compute.add_vm(VirtualMachine(
            SUB, rg, name, "eastus", os_type, str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
            data_disks=[DataDisk(0, f"{name}-data0", 256)], time_created=T0, **kwargs))
        if snapshot_ext:
            ext_type = "VMSnapshotLinux" if os_type == "Linux" else "VMSnapshot"
            sb.compute.install_extension(vm, Extension(
                ext_type, "Microsoft.Azure.RecoveryServices", ext_type, "1.0",
                settings={"commandToExecute": "snapshot", "vmType": "microsoft.compute/virtualmachines"},
                protected_settings={"objectStr": "TOP-SECRET-SAS"}, status_message="Enable succeeded"))
    return vm


def _collection(arm: Arm, vm: VirtualMachine, points: int, name: str = "AzureBackup_vm-linux-01_1") -> None:
    sb = arm.sandbox
    with sb.lock:
        sb.compute.add_collection(RestorePointCollection(
            SUB, RP_RG, name, "eastus", vm.id, str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
            points=[RestorePoint(f"AzureBackup_{(T0 + timedelta(days=i)):%Y%m%d_%H%M%S}", T0 + timedelta(days=i))
                    for i in range(points)]))


def _client(arm: Arm) -> ComputeManagementClient:
    return arm.client(ComputeManagementClient, SUB)


def _raw(arm: Arm, method: str, path: str, **kwargs: Any) -> Any:
    params = {"api-version": "2026-04-01", **kwargs.pop("params", {})}
    return arm.call(method, path, params=params, **kwargs)


def _path(vm: VirtualMachine) -> str:
    return vm.id


def _compute_state(arm: Arm) -> dict[str, Any]:
    return arm.snapshot()["resources"]["compute"]


def _vm_state(arm: Arm, name: str) -> dict[str, Any]:
    return next(v for v in _compute_state(arm)["virtualMachines"] if v["id"].lower().endswith("/" + name.lower()))


class Hook:
    """Collects (status, headers) of every response the SDK sees, via its raw_response_hook."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, dict[str, str], str]] = []

    def __call__(self, response: Any) -> None:
        http = response.http_response
        self.seen.append((http.status_code, dict(http.headers), http.request.url))


# ---- virtual machines: GET and instance views --------------------------------------------------------
def test_vm_get_without_expand_has_model_resources_and_etag(arm: Arm) -> None:
    vm = _vm(arm)
    hook = Hook()
    got = _client(arm).virtual_machines.get(RG, vm.name, raw_response_hook=hook)
    assert got.id == vm.id and got.type == "Microsoft.Compute/virtualMachines" and got.location == "eastus"
    props = got.properties
    assert props.vm_id == vm.vm_id and props.provisioning_state == "Succeeded"
    assert props.instance_view is None  # only with $expand
    assert props.hardware_profile.vm_size == "Standard_D2s_v3"
    assert props.storage_profile.os_disk.os_type == "Linux" and props.storage_profile.os_disk.disk_size_gb == 127
    assert props.storage_profile.os_disk.managed_disk.id.endswith(f"/disks/{props.storage_profile.os_disk.name}")
    assert [(d.lun, d.disk_size_gb) for d in props.storage_profile.data_disks] == [(0, 256)]
    assert props.storage_profile.os_disk.encryption_settings is None
    assert props.os_profile.computer_name == vm.name[:15]
    assert props.time_created == T0
    [ext] = got.resources
    assert (ext.name, ext.properties.publisher, ext.properties.type) == (
        "VMSnapshotLinux", "Microsoft.Azure.RecoveryServices", "VMSnapshotLinux")
    assert got.etag and got.etag.startswith('"')
    status, headers, _ = hook.seen[-1]
    assert status == 200 and headers["ETag"] == got.etag
    assert headers["Server"] == "Microsoft-HTTPAPI/2.0"
    assert headers["x-ms-ratelimit-remaining-resource"] == (
        "Microsoft.Compute/LowCostGet3Min;3999,Microsoft.Compute/LowCostGet30Min;31999")
    _client(arm).virtual_machines.get(RG, vm.name, raw_response_hook=hook)
    assert hook.seen[-1][1]["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/LowCostGet3Min;3998,")


def test_instance_view_ready_agent(arm: Arm) -> None:
    vm = _vm(arm)
    view = _client(arm).virtual_machines.get(RG, vm.name, expand="instanceView").properties.instance_view
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    assert view.statuses[0].display_status == "Provisioning succeeded" and view.statuses[0].time is not None
    assert view.statuses[1].display_status == "VM running" and view.statuses[1].time is None
    assert view.computer_name == vm.name[:15] and view.os_name and view.os_version and view.hyper_v_generation
    agent = view.vm_agent
    assert agent.vm_agent_version == vm.agent.version
    [agent_status] = agent.statuses
    assert (agent_status.code, agent_status.level, agent_status.display_status) == (
        "ProvisioningState/succeeded", "Info", "Ready")
    [handler] = agent.extension_handlers
    assert handler.type == "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"  # publisher-qualified
    assert handler.status.display_status == "Ready"
    [ext] = view.extensions
    assert ext.name == "VMSnapshotLinux" and ext.type == "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
    assert ext.statuses[0].code == "ProvisioningState/succeeded"
    assert [d.name for d in view.disks][1:] == [f"{vm.name}-data0"]
    assert all(d.statuses[0].code == "ProvisioningState/succeeded" for d in view.disks)


def test_instance_view_not_ready_agent(arm: Arm) -> None:
    vm = _vm(arm, agent=AgentState(status="Not Ready", version="Unknown"))
    view = _client(arm).virtual_machines.instance_view(RG, vm.name)
    agent = view.vm_agent
    assert agent.vm_agent_version == "Unknown"
    [status] = agent.statuses
    assert (status.code, status.level, status.display_status, status.message) == (
        "ProvisioningState/Unavailable", "Warning", "Not Ready", "VM Agent is unresponsive.")
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]


def test_instance_view_deallocated_omits_agent_and_extensions(arm: Arm) -> None:
    vm = _vm(arm, power_state="deallocated")
    answer = _raw(arm, "GET", _path(vm) + "/instanceView")
    assert answer.status == 200
    body = answer.json()
    assert "properties" not in body  # the bare VirtualMachineInstanceView
    assert "vmAgent" not in body and "extensions" not in body
    assert [s["code"] for s in body["statuses"]] == ["ProvisioningState/succeeded", "PowerState/deallocated"]
    assert body["statuses"][1]["displayStatus"] == "VM deallocated"
    assert body["disks"]


def test_instance_view_failed_provisioning_from_failed_extension(arm: Arm) -> None:
    vm = _vm(arm, "vm-win-01", "Windows", snapshot_ext=False)
    with arm.sandbox.lock:
        arm.sandbox.compute.install_extension(vm, Extension(
            "VMSnapshot", "Microsoft.Azure.RecoveryServices", "VMSnapshot", "1.0", provisioning_state="Failed",
            status_code="ProvisioningState/failed/1", status_level="Error",
            status_message="Enable failed: snapshot extension could not start."))
    got = _client(arm).virtual_machines.get(RG, vm.name, expand="instanceView")
    assert got.properties.provisioning_state == "Failed"
    statuses = got.properties.instance_view.statuses
    assert len([s for s in statuses if s.code.startswith("ProvisioningState/")]) == 1
    assert statuses[0].code == "ProvisioningState/failed/VMExtensionProvisioningError"
    assert statuses[0].level == "Error" and statuses[0].display_status == "Provisioning failed"
    assert "VMSnapshot" in statuses[0].message
    assert statuses[1].code == "PowerState/running"
    [ext] = got.properties.instance_view.extensions
    assert ext.statuses[0].display_status == "Provisioning failed" and ext.statuses[0].level == "Error"
    ext_get = _client(arm).virtual_machine_extensions.get(RG, vm.name, "VMSnapshot", expand="instanceView")
    assert ext_get.properties.provisioning_state == "Failed"
    assert ext_get.properties.instance_view.type == "Microsoft.Azure.RecoveryServices.VMSnapshot"


def test_encrypted_vm_shows_encryption_settings(arm: Arm) -> None:
    vm = _vm(arm, encrypted=True, key_vault_url="https://kv-app.vault.azure.net/")
    os_disk = _client(arm).virtual_machines.get(RG, vm.name).properties.storage_profile.os_disk
    assert os_disk.encryption_settings.enabled is True
    assert os_disk.encryption_settings.disk_encryption_key.secret_url.startswith("https://kv-app.vault.azure.net/secrets/")


def test_missing_vm_is_gateway_resource_not_found(arm: Arm) -> None:
    _estate(arm)
    with pytest.raises(ResourceNotFoundError) as caught:
        _client(arm).virtual_machines.get(RG, "vm-nope")
    assert caught.value.error.code == "ResourceNotFound"
    assert caught.value.error.message == (
        f"The Resource 'Microsoft.Compute/virtualMachines/vm-nope' under resource group '{RG}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix")
    assert caught.value.response.headers["x-ms-failure-cause"] == "gateway"
    with pytest.raises(ResourceNotFoundError):
        _client(arm).virtual_machines.instance_view(RG, "vm-nope")


# ---- lists and paging --------------------------------------------------------------------------------
def test_list_by_group_and_all_page_with_next_link(arm: Arm) -> None:
    for i in range(3):
        _vm(arm, f"vm-a{i}", snapshot_ext=False)
    _estate(arm)
    with arm.sandbox.lock:
        arm.sandbox.resources.add_group(SUB, "rg-other", "eastus")
    for i in range(2):
        _vm(arm, f"vm-b{i}", snapshot_ext=False, rg="rg-other")
    arm.configure(page_size=2)
    arm.clear_requests()
    client = _client(arm)
    assert [v.name for v in client.virtual_machines.list(RG)] == ["vm-a0", "vm-a1", "vm-a2"]
    assert [v.name for v in client.virtual_machines.list_all()] == ["vm-a0", "vm-a1", "vm-a2", "vm-b0", "vm-b1"]
    ops = [r["operation"] for r in arm.requests()]
    assert ops.count("VirtualMachines_List") == 2 and ops.count("VirtualMachines_ListAll") == 3
    first = _raw(arm, "GET", f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines").json()
    assert len(first["value"]) == 2 and "skiptoken=2" in first["nextLink"]
    assert "resources" not in first["value"][0] and "instanceView" not in first["value"][0]["properties"]


# ---- actions: restart, start, reapply, run command ---------------------------------------------------------
def test_run_command_linux_returns_output(arm: Arm) -> None:
    vm = _vm(arm)
    hook = Hook()
    result = _client(arm).virtual_machines.begin_run_command(
        RG, vm.name, {"commandId": "RunShellScript", "script": ["systemctl status walinuxagent"]},
        raw_response_hook=hook).result()
    [entry] = result.value
    assert entry.code == "ProvisioningState/succeeded" and entry.display_status == "Provisioning succeeded"
    assert entry.message.startswith("Enable succeeded: \n[stdout]\n") and "walinuxagent" in entry.message
    initial_status, initial, _ = hook.seen[0]
    assert initial_status == 202
    region_ops = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/"
    assert region_ops in initial["Azure-AsyncOperation"] and "monitor=true" in initial["Location"]
    assert "Retry-After" not in initial  # frozen clock: no hint on the initial response
    assert initial["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/UpdateVM3Min;")
    op_id = initial["Azure-AsyncOperation"].split("/operations/")[1].split("?")[0]
    assert initial["x-ms-request-id"] == op_id
    # The final GET went to the Location (monitor=true) URL and returned the RunCommandResult.
    assert "monitor=true" in hook.seen[-1][2] and hook.seen[-1][0] == 200
    polled = _raw(arm, "GET", region_ops + op_id).json()
    assert polled["status"] == "Succeeded" and polled["name"] == op_id
    assert polled["properties"]["output"]["value"][0]["code"] == "ProvisioningState/succeeded"


def test_run_command_windows_returns_stdout_and_stderr(arm: Arm) -> None:
    vm = _vm(arm, "vm-win-01", "Windows")
    # The sandbox runs no PowerShell: it answers the documented directives (docs/guest-protocol.md).
    result = _client(arm).virtual_machines.begin_run_command(
        RG, vm.name, {"commandId": "RunPowerShellScript",
                      "script": ["Get-Service WindowsAzureGuestAgent", "#azsandbox probe"]}).result()
    assert [e.code for e in result.value] == ["ComponentStatus/StdOut/succeeded", "ComponentStatus/StdErr/succeeded"]
    reply = json.loads(result.value[0].message)
    assert reply["schema"] == "azbackup-guest/v1" and reply["facts"]["agent"]["service"] == "running"
    assert result.value[1].message == ""
    plain = _client(arm).virtual_machines.begin_run_command(
        RG, vm.name, {"commandId": "RunPowerShellScript", "script": ["Get-Service WindowsAzureGuestAgent"]}).result()
    assert plain.value[0].message == "" and "runs no PowerShell" in plain.value[1].message


def test_operation_status_in_progress_then_succeeded(arm: Arm) -> None:
    vm = _vm(arm)
    started = _raw(arm, "POST", _path(vm) + "/runCommand", json={"commandId": "RunShellScript", "script": ["id"]})
    assert started.status == 202 and started.body == b""
    status_url = started.headers["Azure-AsyncOperation"]
    path = status_url.split("management.azure.com")[-1].split("127.0.0.1")[-1]
    path = path[path.index("/subscriptions"):].split("?")[0]
    pending = _raw(arm, "GET", path)
    assert pending.status == 200 and pending.json()["status"] == "InProgress" and "endTime" not in pending.json()
    assert pending.headers["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/GetOperation3Min;")
    monitor = _raw(arm, "GET", path, params={"monitor": "true"})
    assert monitor.status == 202 and monitor.body == b""
    arm.advance(arm.sandbox.config.run_command_seconds)
    done = _raw(arm, "GET", path).json()
    assert done["status"] == "Succeeded" and done["endTime"] and done["startTime"].endswith("+00:00")
    assert _raw(arm, "GET", path, params={"monitor": "true"}).json()["value"]


def test_restart_revives_unresponsive_agent(arm: Arm) -> None:
    vm = _vm(arm, agent=AgentState(status="Not Ready", version="Unknown"))
    client = _client(arm)
    assert client.virtual_machines.instance_view(RG, vm.name).vm_agent.statuses[0].display_status == "Not Ready"
    client.virtual_machines.begin_restart(RG, vm.name).result()
    agent = client.virtual_machines.instance_view(RG, vm.name).vm_agent
    assert agent.statuses[0].display_status == "Ready" and agent.vm_agent_version != "Unknown"
    assert _vm_state(arm, vm.name)["agent"]["status"] == "Ready"
    ops = [r["operation"] for r in arm.requests()]
    assert "VirtualMachines_Restart" in ops and "ComputeOperations_Get" in ops


def test_restart_shows_vm_updating_while_in_flight(arm: Arm) -> None:
    vm = _vm(arm)
    client = _client(arm)
    client.virtual_machines.begin_restart(RG, vm.name, polling=False)
    view = client.virtual_machines.get(RG, vm.name, expand="instanceView").properties
    assert view.provisioning_state == "Updating"
    assert view.instance_view.statuses[0].code == "ProvisioningState/updating"
    with pytest.raises(ResourceExistsError) as caught:  # a second VM operation conflicts
        client.virtual_machines.begin_restart(RG, vm.name)
    assert caught.value.error.code == "OperationNotAllowed"
    arm.advance(arm.sandbox.config.vm_action_seconds)
    assert client.virtual_machines.get(RG, vm.name).properties.provisioning_state == "Succeeded"


def test_start_and_reapply(arm: Arm) -> None:
    vm = _vm(arm, "vm-stopped", power_state="deallocated", agent=AgentState(status=""))
    client = _client(arm)
    client.virtual_machines.begin_start(RG, vm.name).result()
    view = client.virtual_machines.instance_view(RG, vm.name)
    assert view.statuses[1].code == "PowerState/running" and view.vm_agent.statuses[0].display_status == "Ready"
    client.virtual_machines.begin_reapply(RG, vm.name).result()
    assert _vm_state(arm, vm.name)["provisioningState"] == "Succeeded"


def test_deallocated_vm_rejects_run_command_and_restart(arm: Arm) -> None:
    vm = _vm(arm, power_state="deallocated")
    client = _client(arm)
    for call in (lambda: client.virtual_machines.begin_run_command(RG, vm.name, {"commandId": "RunShellScript"}),
                 lambda: client.virtual_machines.begin_restart(RG, vm.name)):
        with pytest.raises(ResourceExistsError) as caught:
            call()
        assert caught.value.status_code == 409
        assert caught.value.error.code == "OperationNotAllowed"
        assert caught.value.error.message == "The operation requires the VM to be running (or set to run)."
    assert _vm_state(arm, vm.name)["powerState"] == "deallocated"


def test_run_command_with_unresponsive_agent_fails_the_operation(arm: Arm) -> None:
    vm = _vm(arm, agent=AgentState(status="Not Ready", version="Unknown", revived_by_restart=False))
    poller = _client(arm).virtual_machines.begin_run_command(RG, vm.name, {"commandId": "RunShellScript"})
    with pytest.raises(HttpResponseError) as caught:
        poller.result()
    assert "VMAgentStatusCommunicationError" in str(caught.value)


def test_run_command_requires_command_id(arm: Arm) -> None:
    vm = _vm(arm)
    answer = _raw(arm, "POST", _path(vm) + "/runCommand", json={"script": ["id"]})
    assert answer.status == 400 and answer.json()["error"]["code"] == "InvalidParameter"


# ---- extensions ------------------------------------------------------------------------------------------
def test_extension_list_and_get_never_show_protected_settings(arm: Arm) -> None:
    vm = _vm(arm)
    client = _client(arm)
    [listed] = client.virtual_machine_extensions.list(RG, vm.name).value
    assert listed.name == "VMSnapshotLinux" and listed.type == "Microsoft.Compute/virtualMachines/extensions"
    assert listed.properties.settings["commandToExecute"] == "snapshot"
    got = client.virtual_machine_extensions.get(RG, vm.name, "vmsnapshotlinux", expand="instanceView")
    assert got.id == f"{vm.id}/extensions/VMSnapshotLinux"
    assert got.properties.instance_view.statuses[0].code == "ProvisioningState/succeeded"
    for raw in (_raw(arm, "GET", _path(vm) + "/extensions"), _raw(arm, "GET", _path(vm)),
                _raw(arm, "GET", _path(vm) + "/extensions/VMSnapshotLinux")):
        assert b"protectedSettings" not in raw.body and b"TOP-SECRET" not in raw.body
        assert "nextLink" not in raw.json()


def test_missing_extension_is_rp_not_found(arm: Arm) -> None:
    vm = _vm(arm, snapshot_ext=False)
    with pytest.raises(ResourceNotFoundError) as caught:
        _client(arm).virtual_machine_extensions.get(RG, vm.name, "VMSnapshotLinux")
    assert caught.value.error.code == "NotFound"
    assert caught.value.error.message == "The entity was not found in this Azure location."
    assert "x-ms-failure-cause" not in caught.value.response.headers


def test_extension_delete_passes_through_deleting(arm: Arm) -> None:
    vm = _vm(arm)
    client = _client(arm)
    hook = Hook()
    client.virtual_machine_extensions.begin_delete(RG, vm.name, "VMSnapshotLinux", polling=False,
                                                   raw_response_hook=hook)
    status, headers, _ = hook.seen[0]
    assert status == 202
    assert headers["azure-asyncnotification"] == "Enabled"
    assert "?p=" in headers["Azure-AsyncOperation"] and "monitor=true" in headers["Location"]
    assert client.virtual_machine_extensions.get(RG, vm.name, "VMSnapshotLinux").properties.provisioning_state \
        == "Deleting"
    assert _vm_state(arm, vm.name)["extensions"][0]["provisioningState"] == "Deleting"
    arm.advance(arm.sandbox.config.extension_delete_seconds)
    with pytest.raises(ResourceNotFoundError):
        client.virtual_machine_extensions.get(RG, vm.name, "VMSnapshotLinux")
    assert _vm_state(arm, vm.name)["extensions"] == []
    assert client.virtual_machines.get(RG, vm.name).resources is None


def test_extension_delete_polls_to_completion(arm: Arm) -> None:
    vm = _vm(arm)
    _client(arm).virtual_machine_extensions.begin_delete(RG, vm.name, "VMSnapshotLinux").result()
    assert _vm_state(arm, vm.name)["extensions"] == []


def test_delete_missing_extension_is_204(arm: Arm) -> None:
    vm = _vm(arm, snapshot_ext=False)
    hook = Hook()
    _client(arm).virtual_machine_extensions.begin_delete(RG, vm.name, "VMSnapshot", raw_response_hook=hook).result()
    assert [s for s, _, _ in hook.seen] == [204]


def test_extension_create_then_update(arm: Arm) -> None:
    vm = _vm(arm, snapshot_ext=False)
    client = _client(arm)
    body = {"location": "eastus", "properties": {
        "publisher": "Microsoft.Azure.RecoveryServices", "type": "VMSnapshotLinux", "typeHandlerVersion": "1.0",
        "autoUpgradeMinorVersion": True, "settings": {"locale": "en-us"}, "protectedSettings": {"objectStr": "S3CRET"}}}
    hook = Hook()
    created = client.virtual_machine_extensions.begin_create_or_update(
        RG, vm.name, "VMSnapshotLinux", body, raw_response_hook=hook).result()
    assert hook.seen[0][0] == 201 and "Azure-AsyncOperation" in hook.seen[0][1]
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.protected_settings is None
    state = _vm_state(arm, vm.name)["extensions"]
    assert [(e["name"], e["provisioningState"]) for e in state] == [("VMSnapshotLinux", "Succeeded")]
    hook2 = Hook()
    body["properties"]["typeHandlerVersion"] = "1.1"
    updated = client.virtual_machine_extensions.begin_create_or_update(
        RG, vm.name, "vmsnapshotlinux", body, raw_response_hook=hook2).result()
    assert hook2.seen[0][0] == 200 and updated.name == "VMSnapshotLinux"
    assert updated.properties.type_handler_version == "1.1"


def test_extension_create_reports_creating_before_the_agent_answers(arm: Arm) -> None:
    vm = _vm(arm, snapshot_ext=False)
    answer = _raw(arm, "PUT", _path(vm) + "/extensions/CustomScript", json={"location": "eastus", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1"}})
    assert answer.status == 201 and answer.json()["properties"]["provisioningState"] == "Creating"
    assert "Location" not in answer.headers
    missing = _raw(arm, "PUT", _path(vm) + "/extensions/Bad", json={"properties": {"publisher": "x"}})
    assert missing.status == 400 and missing.json()["error"]["code"] == "InvalidParameter"


def test_extension_change_on_deallocated_vm_conflicts(arm: Arm) -> None:
    vm = _vm(arm, power_state="deallocated", snapshot_ext=False)
    with pytest.raises(ResourceExistsError) as caught:
        _client(arm).virtual_machine_extensions.begin_create_or_update(RG, vm.name, "VMSnapshotLinux", {
            "location": "eastus", "properties": {"publisher": "Microsoft.Azure.RecoveryServices",
                                                 "type": "VMSnapshotLinux", "typeHandlerVersion": "1.0"}})
    assert caught.value.error.code == "OperationNotAllowed"


def test_extension_delete_blocked_by_cannotdelete_lock(arm: Arm) -> None:
    vm = _vm(arm)
    with arm.sandbox.lock:
        arm.sandbox.locks.put(f"/subscriptions/{SUB}/resourceGroups/{RG}", "no-delete", "CanNotDelete")
    with pytest.raises(ResourceExistsError) as caught:
        _client(arm).virtual_machine_extensions.begin_delete(RG, vm.name, "VMSnapshotLinux")
    assert caught.value.error.code == "ScopeLocked"
    assert _vm_state(arm, vm.name)["extensions"][0]["provisioningState"] == "Succeeded"


# ---- restore point collections and restore points ------------------------------------------------------------
def test_collection_get_list_and_expand(arm: Arm) -> None:
    vm = _vm(arm)
    _collection(arm, vm, 3)
    _collection(arm, vm, 0, name="AzureBackup_vm-linux-01_2")
    client = _client(arm)
    got = client.restore_point_collections.get(RP_RG, "AzureBackup_vm-linux-01_1", expand="restorePoints")
    assert got.properties.source.id == vm.id and got.properties.source.location == "eastus"
    assert got.properties.provisioning_state == "Succeeded" and got.properties.restore_point_collection_id
    assert [p.name for p in got.properties.restore_points] == [
        "AzureBackup_20261001_080000", "AzureBackup_20261002_080000", "AzureBackup_20261003_080000"]
    point = got.properties.restore_points[0]
    assert point.properties.source_metadata.vm_id == vm.vm_id and point.properties.time_created == T0
    empty = _raw(arm, "GET", f"/subscriptions/{SUB}/resourceGroups/{RP_RG}/providers/Microsoft.Compute"
                              "/restorePointCollections/AzureBackup_vm-linux-01_2", params={"$expand": "restorePoints"})
    assert empty.json()["properties"]["restorePoints"] == []
    plain = client.restore_point_collections.get(RP_RG, "AzureBackup_vm-linux-01_1")
    assert plain.properties.restore_points is None
    listed = list(client.restore_point_collections.list(RP_RG))
    assert [c.name for c in listed] == ["AzureBackup_vm-linux-01_1", "AzureBackup_vm-linux-01_2"]
    assert all(c.properties.restore_points is None for c in listed)
    assert [c.name for c in client.restore_point_collections.list_all()] == [c.name for c in listed]


def test_collection_create_and_update(arm: Arm) -> None:
    vm = _vm(arm)
    client = _client(arm)
    hook = Hook()
    created = client.restore_point_collections.create_or_update(
        RP_RG, "rpc-manual", {"location": "eastus", "properties": {"source": {"id": vm.id}}},
        raw_response_hook=hook)
    assert hook.seen[-1][0] == 201 and created.properties.source.id == vm.id
    client.restore_point_collections.create_or_update(
        RP_RG, "rpc-manual", {"location": "eastus", "tags": {"owner": "ops"}, "properties": {"source": {"id": vm.id}}},
        raw_response_hook=hook)
    assert hook.seen[-1][0] == 200
    updated = client.restore_point_collections.update(RP_RG, "rpc-manual", {"tags": {"owner": "sre"}})
    assert updated.tags == {"owner": "sre"}
    assert any(c["id"].endswith("/rpc-manual") for c in _compute_state(arm)["restorePointCollections"])


def test_collection_delete_succeeds(arm: Arm) -> None:
    vm = _vm(arm)
    _collection(arm, vm, 5)
    hook = Hook()
    _client(arm).restore_point_collections.begin_delete(RP_RG, "AzureBackup_vm-linux-01_1",
                                                        raw_response_hook=hook).result()
    status, headers, _ = hook.seen[0]
    assert status == 202
    assert headers["azure-asyncnotification"] == "Enabled"
    assert "?p=" in headers["Azure-AsyncOperation"] and "&api-version=" in headers["Azure-AsyncOperation"]
    assert "?p=" in headers["Location"] and "&monitor=true&" in headers["Location"]
    assert headers["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/DeleteRestorePoints3Min;")
    assert all("monitor=true" not in url for _, _, url in hook.seen)  # DELETE: no final GET
    assert _compute_state(arm)["restorePointCollections"] == []
    with pytest.raises(ResourceNotFoundError) as caught:
        _client(arm).restore_point_collections.get(RP_RG, "AzureBackup_vm-linux-01_1")
    assert caught.value.error.code == "ResourceNotFound"


def test_large_collection_delete_times_out_then_succeeds_on_retry(arm: Arm) -> None:
    vm = _vm(arm)
    _collection(arm, vm, 25)
    arm.configure(rpc_delete_batch=10)
    client = _client(arm)
    for remaining in (15, 5):
        with pytest.raises(HttpResponseError) as caught:
            client.restore_point_collections.begin_delete(RP_RG, "AzureBackup_vm-linux-01_1").result()
        assert "OperationTimedOut" in str(caught.value)
        [rpc] = _compute_state(arm)["restorePointCollections"]
        assert len(rpc["restorePoints"]) == remaining and rpc["provisioningState"] == "Succeeded"
    client.restore_point_collections.begin_delete(RP_RG, "AzureBackup_vm-linux-01_1").result()
    assert _compute_state(arm)["restorePointCollections"] == []


def test_collection_delete_in_progress_shows_deleting(arm: Arm) -> None:
    vm = _vm(arm)
    _collection(arm, vm, 2)
    client = _client(arm)
    client.restore_point_collections.begin_delete(RP_RG, "AzureBackup_vm-linux-01_1", polling=False)
    got = client.restore_point_collections.get(RP_RG, "AzureBackup_vm-linux-01_1")
    assert got.properties.provisioning_state == "Deleting"
    arm.advance(arm.sandbox.config.rpc_delete_seconds)
    assert _compute_state(arm)["restorePointCollections"] == []


def test_collection_delete_blocked_by_cannotdelete_lock(arm: Arm) -> None:
    vm = _vm(arm)
    _collection(arm, vm, 3)
    with arm.sandbox.lock:
        arm.sandbox.locks.put(f"/subscriptions/{SUB}/resourceGroups/{RP_RG}", "keep", "CanNotDelete")
    with pytest.raises(ResourceExistsError) as caught:
        _client(arm).restore_point_collections.begin_delete(RP_RG, "AzureBackup_vm-linux-01_1")
    assert caught.value.status_code == 409 and caught.value.error.code == "ScopeLocked"
    assert "cannot perform delete operation" in caught.value.error.message
    [rpc] = _compute_state(arm)["restorePointCollections"]
    assert len(rpc["restorePoints"]) == 3 and rpc["provisioningState"] == "Succeeded"


def test_delete_missing_collection_is_204(arm: Arm) -> None:
    _estate(arm)
    answer = _raw(arm, "DELETE", f"/subscriptions/{SUB}/resourceGroups/{RP_RG}/providers/Microsoft.Compute"
                                 "/restorePointCollections/nope")
    assert answer.status == 204


def test_restore_point_get_and_delete(arm: Arm) -> None:
    vm = _vm(arm)
    _collection(arm, vm, 2)
    client = _client(arm)
    point = client.restore_points.get(RP_RG, "AzureBackup_vm-linux-01_1", "AzureBackup_20261001_080000")
    assert point.type == "Microsoft.Compute/restorePointCollections/restorePoints"
    assert point.properties.consistency_mode == "CrashConsistent"
    client.restore_points.begin_delete(RP_RG, "AzureBackup_vm-linux-01_1", "AzureBackup_20261001_080000").result()
    [rpc] = _compute_state(arm)["restorePointCollections"]
    assert rpc["restorePoints"] == ["AzureBackup_20261002_080000"]
    with pytest.raises(ResourceNotFoundError) as caught:
        client.restore_points.get(RP_RG, "AzureBackup_vm-linux-01_1", "AzureBackup_20261001_080000")
    assert caught.value.error.code == "NotFound"


def test_restore_point_create_through_arm(arm: Arm) -> None:
    # RestorePoints_Create: layouts can be built through ARM as in Azure (201 + LRO, Creating until done).
    vm = _vm(arm)
    client = _client(arm)
    client.restore_point_collections.create_or_update(
        RP_RG, "rpc-manual", {"location": "eastus", "properties": {"source": {"id": vm.id}}})
    hook = Hook()
    poller = client.restore_points.begin_create(RP_RG, "rpc-manual", "rp-1", {"properties": {}},
                                                raw_response_hook=hook)
    assert hook.seen[0][0] == 201
    [rpc] = [c for c in _compute_state(arm)["restorePointCollections"] if c["id"].endswith("/rpc-manual")]
    assert rpc["restorePoints"] == ["rp-1"]
    point = poller.result()
    assert point.provisioning_state == "Succeeded"
    got = client.restore_points.get(RP_RG, "rpc-manual", "rp-1")
    assert got.consistency_mode == "FileSystemConsistent"  # a running Linux VM: fsfreeze
    crash = client.restore_points.begin_create(RP_RG, "rpc-manual", "rp-2",
                                               {"properties": {"consistencyMode": "CrashConsistent"}}).result()
    assert crash.consistency_mode == "CrashConsistent"
    with pytest.raises(ResourceExistsError) as caught:  # points are immutable
        client.restore_points.begin_create(RP_RG, "rpc-manual", "rp-1", {}).result()
    assert caught.value.error.code == "OperationNotAllowed"
    with arm.sandbox.lock:
        vm.power_state = "deallocated"
    offline = client.restore_points.begin_create(RP_RG, "rpc-manual", "rp-3", {}).result()
    assert offline.consistency_mode == "CrashConsistent"
    with pytest.raises(ResourceExistsError) as caught:
        client.restore_points.begin_create(RP_RG, "rpc-manual", "rp-4", {"properties": {"consistencyMode": "FileSystemConsistent"}})
    assert caught.value.error.code == "OperationNotAllowed"
    with pytest.raises(HttpResponseError) as caught:
        client.restore_points.begin_create(RP_RG, "rpc-manual", "rp-5", {"properties": {"consistencyMode": "Sometimes"}})
    assert caught.value.status_code == 400 and caught.value.error.code == "InvalidParameter"
    with arm.sandbox.lock:
        arm.sandbox.locks.put(f"/subscriptions/{SUB}/resourceGroups/{RP_RG}", "ro", "ReadOnly")
    with pytest.raises(ResourceExistsError) as caught:
        client.restore_points.begin_create(RP_RG, "rpc-manual", "rp-6", {})
    assert caught.value.error.code == "ScopeLocked"
    [rpc] = [c for c in _compute_state(arm)["restorePointCollections"] if c["id"].endswith("/rpc-manual")]
    assert rpc["restorePoints"] == ["rp-1", "rp-2", "rp-3"]


# ---- server mode: Retry-After on initial LRO responses ------------------------------------------------------
def test_retry_after_on_initial_response_only_with_running_clock(arm: Arm) -> None:
    vm = _vm(arm)
    arm.set_clock_rate(60.0)
    try:
        answer = _raw(arm, "POST", _path(vm) + "/restart")
    finally:
        arm.set_clock_rate(0.0)
    assert answer.status == 202
    # 10 virtual seconds at 60x is 0.17 real seconds, sent as whole seconds (at least 1) in both modes.
    assert answer.headers["Retry-After"] == "1"


# ---- power operations (issue 12, item 9) ---------------------------------------------------------------
def _view(arm: Arm, vm: VirtualMachine) -> dict[str, Any]:
    return _raw(arm, "GET", _path(vm) + "/instanceView").json()


def _power(view: dict[str, Any]) -> str:
    return next(s["code"] for s in view["statuses"] if s["code"].startswith("PowerState/"))


@pytest.mark.parametrize(("action", "during", "after"), [
    ("deallocate", "PowerState/deallocating", "PowerState/deallocated"),
    ("powerOff", "PowerState/stopping", "PowerState/stopped"),
    ("restart", "PowerState/starting", "PowerState/running"),
    ("redeploy", "PowerState/starting", "PowerState/running"),
])
def test_power_operations_are_202_lros_that_pass_through_their_transitional_state(
        arm: Arm, action: str, during: str, after: str) -> None:
    vm = _vm(arm)
    started = _raw(arm, "POST", _path(vm) + f"/{action}")
    assert started.status == 202 and started.body == b""
    assert "/operations/" in started.headers["Azure-AsyncOperation"] and "monitor=true" in started.headers["Location"]
    view = _view(arm, vm)
    assert _power(view) == during and view["statuses"][0]["code"] == "ProvisioningState/updating"
    conflict = _raw(arm, "POST", _path(vm) + "/start")
    assert conflict.status == 409 and conflict.json()["error"]["code"] == "OperationNotAllowed"
    arm.advance(arm.sandbox.config.vm_action_seconds + 1)
    view = _view(arm, vm)
    assert _power(view) == after and view["statuses"][0]["code"] == "ProvisioningState/succeeded"
    assert ("vmAgent" in view) == (after == "PowerState/running" or after == "PowerState/stopped")


def test_sdk_power_operations_poll_to_the_end_and_start_brings_the_agent_back(arm: Arm) -> None:
    vm = _vm(arm)
    compute = _client(arm)
    compute.virtual_machines.begin_power_off(RG, vm.name, skip_shutdown=True).result()
    assert _vm_state(arm, vm.name)["powerState"] == "stopped"
    compute.virtual_machines.begin_deallocate(RG, vm.name).result()
    view = compute.virtual_machines.instance_view(RG, vm.name)
    assert view.statuses[-1].code == "PowerState/deallocated" and view.vm_agent is None
    compute.virtual_machines.begin_start(RG, vm.name).result()
    view = compute.virtual_machines.instance_view(RG, vm.name)
    assert view.statuses[-1].code == "PowerState/running" and view.vm_agent.statuses[0].display_status == "Ready"


def test_redeploy_moves_the_vm_to_a_new_host_and_revives_only_an_agent_a_new_host_fixes(arm: Arm) -> None:
    stuck = AgentState("Not Ready", "Unknown", "VM Agent is unresponsive.", revived_by_restart=False,
                       revived_by_redeploy=True)
    vm = _vm(arm, agent=stuck)
    compute = _client(arm)
    before = compute.virtual_machines.instance_view(RG, vm.name)
    compute.virtual_machines.begin_restart(RG, vm.name).result()
    assert compute.virtual_machines.instance_view(RG, vm.name).vm_agent.statuses[0].display_status == "Not Ready"
    compute.virtual_machines.begin_redeploy(RG, vm.name).result()
    after = compute.virtual_machines.instance_view(RG, vm.name)
    assert after.vm_agent.statuses[0].display_status == "Ready"
    assert (after.platform_update_domain, after.platform_fault_domain) != (
        before.platform_update_domain, before.platform_fault_domain)


def test_a_never_installed_agent_stays_absent_through_start_and_redeploy(arm: Arm) -> None:
    vm = _vm(arm, "vm-noagent", power_state="deallocated", agent=AgentState(status=""), provision_vm_agent=False)
    compute = _client(arm)
    got = compute.virtual_machines.get(RG, vm.name)
    assert got.os_profile.linux_configuration.provision_vm_agent is False
    compute.virtual_machines.begin_start(RG, vm.name).result()
    compute.virtual_machines.begin_redeploy(RG, vm.name).result()
    view = compute.virtual_machines.instance_view(RG, vm.name)
    assert view.statuses[-1].code == "PowerState/running" and view.vm_agent is None


def _failed_extension(arm: Arm, vm: VirtualMachine, *, persists: bool) -> None:
    with arm.sandbox.lock:
        arm.sandbox.compute.install_extension(vm, Extension(
            "MonitoringAgent", "Microsoft.EnterpriseCloud.Monitoring", "MicrosoftMonitoringAgent", "1.0",
            provisioning_state="Failed", settings={"workspaceId": "ws-1"}, protected_settings={"workspaceKey": "k"},
            status_code="ProvisioningState/failed/1", status_level="Error",
            status_message="Enable failed: workspace unreachable", cause_persists=persists))


@pytest.mark.parametrize("persists", [False, True])
def test_an_extension_reruns_only_for_a_new_force_update_tag_and_a_persisting_cause_fails_again(
        arm: Arm, persists: bool) -> None:
    vm = _vm(arm, snapshot_ext=False)
    _failed_extension(arm, vm, persists=persists)
    compute = _client(arm)
    assert _vm_state(arm, vm.name)["provisioningState"] == "Failed"
    with pytest.raises(HttpResponseError) as same:  # nothing changed: the handler does not run again
        compute.virtual_machine_extensions.begin_update(RG, vm.name, "MonitoringAgent", {}).result()
    assert same.value.error.code == "VMExtensionProvisioningError"
    poller = compute.virtual_machine_extensions.begin_update(
        RG, vm.name, "MonitoringAgent", VirtualMachineExtensionUpdate(force_update_tag="rerun-1"))
    if persists:
        with pytest.raises(HttpResponseError) as again:
            poller.result()
        assert again.value.error.code == "VMExtensionProvisioningError"
        assert "workspace unreachable" in again.value.error.message
    else:
        done = poller.result()
        assert done.provisioning_state == "Succeeded" and done.force_update_tag == "rerun-1"
    ext = compute.virtual_machine_extensions.get(RG, vm.name, "MonitoringAgent")
    assert ext.settings == {"workspaceId": "ws-1"} and ext.protected_settings is None
    assert arm.sandbox.compute.get_extension(vm, "MonitoringAgent").protected_settings == {"workspaceKey": "k"}
    state = _vm_state(arm, vm.name)
    assert state["provisioningState"] == ("Failed" if persists else "Succeeded")
