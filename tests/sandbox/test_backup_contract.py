"""Microsoft.RecoveryServices wire contract, through the real RecoveryServicesBackupClient 11.2 (and the
generic ResourceManagementClient for vaults) plus raw calls where the SDK hides headers."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicesbackup import models as m
from azure.mgmt.resource.locks import ManagementLockClient
from azure.mgmt.resource.resources import ResourceManagementClient
from backup_estate import SUB, VAULT_RG, Estate, add_vm, seed
from sandbox_arm import Arm
from test_backup_physics import trigger

from azbackup_sandbox.core.config import SandboxConfig
from azbackup_sandbox.providers.backup.models import BackupJob
from azbackup_sandbox.providers.compute.models import AgentState

VAULT = "vault-01"
VAULT_PATH = f"/subscriptions/{SUB}/resourceGroups/{VAULT_RG}/providers/Microsoft.RecoveryServices/vaults/{VAULT}"
API = {"api-version": "2026-10-01"}
CFG = SandboxConfig()


def _client(arm: Arm) -> RecoveryServicesBackupClient:
    return arm.client(RecoveryServicesBackupClient, SUB)


def _item_path(e: Estate) -> str:
    return f"{VAULT_PATH}/backupFabrics/Azure/protectionContainers/{quote(e.container)}/protectedItems/{quote(e.item_name)}"


# ---- vaults -------------------------------------------------------------------------------------------
def test_vault_through_generic_resource_reads(arm: Arm) -> None:
    seed(arm.sandbox)
    with arm.client(ResourceManagementClient, SUB) as client:
        vault = client.resources.get_by_id(VAULT_PATH, api_version="2023-04-01")
        assert (vault.name, vault.type, vault.location) == (VAULT, "Microsoft.RecoveryServices/vaults", "eastus")
        assert vault.properties["provisioningState"] == "Succeeded" and vault.sku.name == "RS0"
        listed = client.resources.list_by_resource_group(
            VAULT_RG, filter="resourceType eq 'Microsoft.RecoveryServices/vaults'")
        assert [r.name for r in listed] == [VAULT]
    for path in (f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults",
                 f"/subscriptions/{SUB}/resourceGroups/{VAULT_RG}/providers/Microsoft.RecoveryServices/vaults"):
        answer = arm.call("GET", path, params=API)
        assert answer.status == 200 and [v["name"] for v in answer.json()["value"]] == [VAULT]
        assert answer.headers["Content-Type"] == "application/json"


def test_missing_vault_is_the_gateway_not_found(arm: Arm) -> None:
    seed(arm.sandbox)
    answer = arm.call("GET", VAULT_PATH.replace(VAULT, "nope") + "/backupJobs", params=API)
    assert answer.status == 404 and answer.json()["error"]["code"] == "ResourceNotFound"
    assert answer.headers["x-ms-failure-cause"] == "gateway"


# ---- policies -----------------------------------------------------------------------------------------
def test_policies_get_and_list(arm: Arm) -> None:
    seed(arm.sandbox)
    client = _client(arm)
    (policy,) = list(client.backup_policies.list(VAULT, VAULT_RG, filter="backupManagementType eq 'AzureIaasVM'"))
    assert policy.name == "DefaultPolicy" and policy.properties.instant_rp_retention_range_in_days == 2
    assert policy.properties.policy_type == "V2" and policy.properties.instant_rp_details is not None
    got = client.protection_policies.get(VAULT, VAULT_RG, "defaultpolicy")
    assert got.id.endswith("/backupPolicies/DefaultPolicy") and got.properties["protectedItemsCount"] == 1
    with pytest.raises(ResourceNotFoundError) as raised:
        client.protection_policies.get(VAULT, VAULT_RG, "missing")
    assert raised.value.error.code == "BMSUserErrorPolicyNotFound"


# ---- protected items ----------------------------------------------------------------------------------
def test_protected_item_get_names_and_fields(arm: Arm) -> None:
    e = seed(arm.sandbox)
    client = _client(arm)
    item = client.protected_items.get(VAULT, VAULT_RG, "azure", e.container.upper(), e.item_name.upper())
    assert item.name == "VM;iaasvmcontainerv2;rg-app;appvm01"
    assert item.id.endswith("/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg-app;appvm01"
                            "/protectedItems/VM;iaasvmcontainerv2;rg-app;appvm01")
    props = item.properties
    assert props["protectedItemType"] == "Microsoft.Compute/virtualMachines"
    assert props["friendlyName"] == "appVM01" and props["containerName"] == "iaasvmcontainerv2;rg-app;appvm01"
    assert props["virtualMachineId"] == props["sourceResourceId"] == e.vm.id
    assert props["policyName"] == "DefaultPolicy" and props["lastBackupTime"] == "2001-01-01T00:00:00Z"
    assert props["backupManagementType"] == "AzureIaasVM" and props["workloadType"] == "VM"
    raw = arm.call("GET", _item_path(e), params=API)
    assert raw.headers["Content-Type"] == "application/json" and raw.headers["Server"] == "Microsoft-IIS/10.0"
    with pytest.raises(ResourceNotFoundError) as raised:
        client.protected_items.get(VAULT, VAULT_RG, "Azure", "IaasVMContainer;iaasvmcontainerv2;x;y",
                                   "VM;iaasvmcontainerv2;x;y")
    assert raised.value.error.code == "BMSUserErrorObjectNotFound"


def test_protected_items_list_filter_and_paging(arm: Arm) -> None:
    e = seed(arm.sandbox)
    add_vm(arm.sandbox, e.vault, e.policy, "dbVM02", os_type="Linux")
    arm.configure(page_size=1)
    client = _client(arm)
    names = [i.properties["friendlyName"] for i in client.backup_protected_items.list(
        VAULT, VAULT_RG, filter="backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'")]
    assert names == ["appVM01", "dbVM02"]
    first = arm.call("GET", VAULT_PATH + "/backupProtectedItems", params=API).json()
    assert len(first["value"]) == 1 and "%24skiptoken=1" in first["nextLink"]
    assert not list(client.backup_protected_items.list(VAULT, VAULT_RG, filter="itemType eq 'SQLDataBase'"))


def test_stop_protection_retaining_data_then_resume(arm: Arm) -> None:
    e = seed(arm.sandbox)
    client = _client(arm)
    stop = m.ProtectedItemResource(properties={
        "protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": e.vm.id,
        "protectionState": "ProtectionStopped"})
    item = client.protected_items.begin_create_or_update(VAULT, VAULT_RG, "Azure", e.container, e.item_name,
                                                        stop).result()
    assert item.properties["protectionState"] == "ProtectionStopped" and item.properties["policyId"] == ""
    resume = m.ProtectedItemResource(properties={
        "protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": e.vm.id,
        "policyId": e.policy.id})
    item = client.protected_items.begin_create_or_update(VAULT, VAULT_RG, "Azure", e.container, e.item_name,
                                                        resume).result()
    assert item.properties["policyName"] == "DefaultPolicy" and item.properties["protectionState"] == "IRPending"
    ops = [j.properties.operation for j in client.backup_jobs.list(VAULT, VAULT_RG)]
    assert sorted(ops) == ["ConfigureBackup", "DisableBackup"]


# ---- trigger and its operation ------------------------------------------------------------------------
def test_trigger_answers_202_with_operation_headers(arm: Arm) -> None:
    e = seed(arm.sandbox)
    answer = arm.call("POST", _item_path(e) + "/backup", params=API,
                      json={"properties": {"objectType": "IaasVMBackupRequest",
                                           "recoveryPointExpiryTimeInUTC": "2026-12-01T00:00:00.000Z"}})
    assert answer.status == 202 and answer.body == b""
    location, status_url = answer.headers["Location"], answer.headers["Azure-AsyncOperation"]
    assert ";iaasvmcontainerv2;rg-app;appvm01/operationResults/" in location
    assert "/protectedItems/VM;iaasvmcontainerv2;rg-app;appvm01/operationsStatus/" in status_url
    assert status_url.endswith("?api-version=2026-10-01") and answer.headers["Retry-After"] == "60"
    op_id = status_url.split("/operationsStatus/")[1].split("?")[0]
    client = _client(arm)
    status = client.protected_item_operation_statuses.get(VAULT, VAULT_RG, "Azure", e.container, e.item_name, op_id)
    assert status.status == "Succeeded" and status.properties["objectType"] == "OperationStatusJobExtendedInfo"
    vault_level = client.backup_operation_statuses.get(VAULT, VAULT_RG, op_id)
    assert vault_level.properties["jobId"] == status.properties["jobId"]
    result = arm.call("GET", _item_path(e) + f"/operationResults/{op_id}", params=API)
    assert result.status == 204
    bag = client.job_details.get(VAULT, VAULT_RG, status.properties["jobId"]).properties.extended_info.property_bag
    assert bag["Recovery Point Expiry Time in UTC"] == "12/1/2026 12:00:00 AM" and bag["VM Name"] == "appVM01"
    missing = arm.call("GET", _item_path(e) + "/operationsStatus/00000000-0000-0000-0000-000000000000", params=API)
    assert missing.status == 404 and missing.json()["error"]["code"].startswith("BMSUserError")


# ---- backup status ------------------------------------------------------------------------------------
def test_backup_status_protected_and_not(arm: Arm) -> None:
    e = seed(arm.sandbox)
    client = _client(arm)
    got = client.backup_status.get("eastus", m.BackupStatusRequest(resource_id=e.vm.id, resource_type="VM"))
    assert got.protection_status == "Protected" and got.fabric_name == "Azure" and got.error_code == "Success"
    assert got.vault_id.lower() == e.vault.id.lower() and got.policy_name == "DefaultPolicy"
    assert got.protected_item_name.lower() == e.item_name.lower()
    other = e.vm.id.replace("appVM01", "notProtected")
    assert client.backup_status.get("eastus", m.BackupStatusRequest(
        resource_id=other, resource_type="VM")).protection_status == "NotProtected"
    # A read-like POST: a ReadOnly lock on the subscription does not refuse it.
    with arm.client(ManagementLockClient, SUB) as locks:
        locks.management_locks.create_or_update_at_subscription_level("ro", {"level": "ReadOnly"})
    assert client.backup_status.get("eastus", m.BackupStatusRequest(
        resource_id=e.vm.id, resource_type="VM")).protection_status == "Protected"


# ---- jobs ---------------------------------------------------------------------------------------------
def test_job_get_has_extended_info_and_list_omits_it(arm: Arm) -> None:
    e = seed(arm.sandbox)
    job_id = trigger(arm, e)
    client = _client(arm)
    full = client.job_details.get(VAULT, VAULT_RG, job_id)
    assert full.type == "Microsoft.RecoveryServices/vaults/backupJobs" and full.name == job_id
    info = full.properties.extended_info
    assert info.internal_property_bag == {"IsInstantRpJob": "True"}
    raw = arm.call("GET", f"{VAULT_PATH}/backupJobs/{job_id}", params=API).json()
    tasks = raw["properties"]["extendedInfo"]["tasksList"]
    assert tasks[1]["startTime"] == tasks[1]["endTime"] == "0001-01-01T00:00:00"
    assert raw["properties"]["actionsInfo"] == ["Cancellable"] and "endTime" not in raw["properties"]
    listed = arm.call("GET", f"{VAULT_PATH}/backupJobs", params=API).json()["value"]
    assert listed[0]["name"] == job_id and "extendedInfo" not in listed[0]["properties"]
    assert listed[0]["properties"]["actionsInfo"] == ["Cancellable"]
    with pytest.raises(ResourceNotFoundError) as raised:
        client.job_details.get(VAULT, VAULT_RG, "00000000-0000-0000-0000-000000000000")
    assert raised.value.error.code == "BMSUserErrorJobNotFound"


def test_job_list_keeps_error_details(arm: Arm) -> None:
    e = seed(arm.sandbox, agent=AgentState("Not Ready", "Unknown", "VM Agent is unresponsive."))
    trigger(arm, e)
    arm.advance(CFG.backup_fail_seconds)
    (listed,) = _client(arm).backup_jobs.list(VAULT, VAULT_RG)
    assert listed.properties.status == "Failed"
    assert listed.properties.error_details[0].error_title == "UserErrorGuestAgentStatusUnavailable"


def _seed_jobs(arm: Arm, e: Estate) -> None:
    now = arm.sandbox.clock.now()
    rows = [("Backup", "Completed", 1), ("Backup", "Failed", 2), ("ConfigureBackup", "Completed", 3),
            ("Backup", "Completed", 10)]
    for n, (operation, status, days) in enumerate(rows):
        start = now - timedelta(days=days)
        arm.sandbox.backup.add_job(BackupJob(e.vault, f"00000000-0000-0000-0000-00000000000{n}", e.item,
                                             e.vm.name, operation=operation, status=status, start=start,
                                             end=start + timedelta(minutes=20), cancellable=False))


def test_job_list_filters_newest_first(arm: Arm) -> None:
    e = seed(arm.sandbox)
    _seed_jobs(arm, e)
    client = _client(arm)

    def names(flt: str | None) -> list[str]:
        return [j.name[-1] for j in client.backup_jobs.list(VAULT, VAULT_RG, filter=flt)]

    assert names(None) == ["0", "1", "2"]  # newest first, 7-day default window
    assert names("status eq 'Failed'") == ["1"]
    assert names("operation eq 'Backup' and backupManagementType eq 'AzureIaasVM'") == ["0", "1"]
    assert names("operation eq ''") == ["0", "1", "2"]
    assert names("startTime eq '2026-10-20 08:00:00 AM' and endTime eq '2026-11-01 11:59:59 AM'") == ["0", "1", "2", "3"]
    assert names("startTime eq '2026-10-30 12:00:00 AM' and endTime eq '2026-10-31 11:59:59 PM' "
                 "and status eq 'Completed'") == ["2"]
    assert names("entityFriendlyName eq 'APPVM01' and status eq 'Completed'") == ["0", "2"]
    with pytest.raises(HttpResponseError) as raised:
        names("colour eq 'blue'")
    assert raised.value.status_code == 400 and raised.value.error.code.startswith("BMSUserError")


def test_job_list_pages_with_skiptoken(arm: Arm) -> None:
    e = seed(arm.sandbox)
    _seed_jobs(arm, e)
    arm.configure(job_page_size=2)
    first = arm.call("GET", f"{VAULT_PATH}/backupJobs", params={**API, "$filter": "operation eq ''"}).json()
    assert len(first["value"]) == 2 and "%24skiptoken=2" in first["nextLink"]
    assert len(list(_client(arm).backup_jobs.list(VAULT, VAULT_RG))) == 3


def test_cancel_answers_202_with_the_old_status_api_version(arm: Arm) -> None:
    e = seed(arm.sandbox)
    job_id = trigger(arm, e)
    answer = arm.call("POST", f"{VAULT_PATH}/backupJobs/{job_id}/cancel", params=API)
    assert answer.status == 202 and answer.body == b""
    assert f"/backupJobs/{job_id}/operationResults/" in answer.headers["Location"]
    status_url = answer.headers["Azure-AsyncOperation"]
    assert f"/backupJobs/{job_id}/operationsStatus/" in status_url
    assert status_url.endswith("?api-version=2019-05-13-preview")
    op_id = answer.headers["Location"].split("/operationResults/")[1].split("?")[0]
    client = _client(arm)
    raw = client.job_operation_results.get(VAULT, VAULT_RG, job_id, op_id, cls=lambda p, d, h: p.http_response)
    assert raw.status_code == 202
    arm.advance(CFG.cancel_seconds)
    raw = client.job_operation_results.get(VAULT, VAULT_RG, job_id, op_id, cls=lambda p, d, h: p.http_response)
    assert raw.status_code == 204
    assert client.job_details.get(VAULT, VAULT_RG, job_id).properties.status == "Cancelled"
    again = arm.call("POST", f"{VAULT_PATH}/backupJobs/{job_id}/cancel", params=API)
    assert again.status == 400 and again.json()["error"]["code"] == "BMSUserErrorJobNotCancellable"
