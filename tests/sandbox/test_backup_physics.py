"""The backup job engine, cause and effect, through the real RecoveryServicesBackupClient (and
ManagementLockClient for locks): each rule of physics.py yields its documented errorTitle, and fixing
the cause makes the next backup succeed. The clock only moves through `arm.advance`."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicesbackup import models as m
from azure.mgmt.resource.locks import ManagementLockClient
from backup_estate import SUB, VAULT_RG, VM_RG, Estate, add_vm, seed, seed_restore_points
from sandbox_arm import Arm

from azbackup_sandbox.core.config import SandboxConfig
from azbackup_sandbox.providers.backup.models import BackupJob, JobTask
from azbackup_sandbox.providers.backup.physics import RP_LIMIT
from azbackup_sandbox.providers.compute.models import AgentState, DataDisk, Extension

CFG = SandboxConfig()
SNAP, XFER, FAIL = CFG.backup_snapshot_seconds, CFG.backup_transfer_seconds, CFG.backup_fail_seconds
VAULT = "vault-01"


def _client(arm: Arm) -> RecoveryServicesBackupClient:
    return arm.client(RecoveryServicesBackupClient, SUB)


def trigger(arm: Arm, e: Estate) -> str:
    """Trigger an on-demand backup and return the job id the operation status names."""
    client = _client(arm)
    headers = client.backups.trigger(
        VAULT, VAULT_RG, "Azure", e.container, e.item_name,
        m.BackupRequestResource(properties=m.IaasVMBackupRequest()),
        cls=lambda pipeline, _d, _h: dict(pipeline.http_response.headers),
    )
    op_id = headers["Azure-AsyncOperation"].split("/operationsStatus/")[1].split("?")[0]
    status = client.protected_item_operation_statuses.get(VAULT, VAULT_RG, "Azure", e.container, e.item_name, op_id)
    assert status.status == "Succeeded"
    return status.properties["jobId"]


def job(arm: Arm, job_id: str) -> Any:
    return _client(arm).job_details.get(VAULT, VAULT_RG, job_id).properties


def error_title(arm: Arm, job_id: str) -> str:
    props = job(arm, job_id)
    assert props.status == "Failed", props.status
    (detail,) = props.error_details
    assert isinstance(detail.error_code, int) and detail.error_string and detail.recommendations
    return detail.error_title


def fails_with(arm: Arm, e: Estate, title: str) -> str:
    job_id = trigger(arm, e)
    assert job(arm, job_id).status == "InProgress"
    arm.advance(FAIL)
    assert error_title(arm, job_id) == title
    return job_id


def succeeds(arm: Arm, e: Estate) -> str:
    job_id = trigger(arm, e)
    arm.advance(SNAP + XFER)
    assert job(arm, job_id).status == "Completed"
    return job_id


def lock_group(arm: Arm, group: str, level: str, name: str = "keep") -> None:
    with arm.client(ManagementLockClient, SUB) as client:
        client.management_locks.create_or_update_at_resource_group_level(group, name, {"level": level})


def unlock_group(arm: Arm, group: str, name: str = "keep") -> None:
    with arm.client(ManagementLockClient, SUB) as client:
        client.management_locks.delete_at_resource_group_level(group, name)


def backup_extensions(e: Estate) -> list[Extension]:
    return [x for x in e.vm.extensions.values() if x.is_backup]


# ---- success -------------------------------------------------------------------------------------
def test_healthy_backup_walks_both_phases_and_leaves_a_restore_point(arm: Arm) -> None:
    e = seed(arm.sandbox)
    job_id = trigger(arm, e)
    props = job(arm, job_id)
    assert props.status == "InProgress" and props.actions_info == ["Cancellable"]
    assert [(t.task_id, t.status) for t in props.extended_info.tasks_list] == [
        ("Take Snapshot", "InProgress"), ("Transfer data to vault", "NotStarted")]
    (ext,) = backup_extensions(e)
    assert (ext.name, ext.publisher, ext.type, ext.type_handler_version) == (
        "VMSnapshot", "Microsoft.Azure.RecoveryServices", "VMSnapshot", "1.9")
    assert ext.settings["commandToExecute"] == "snapshot" and ext.settings["taskId"]
    assert ext.settings["vmType"] == "microsoft.compute/virtualmachines"

    arm.advance(SNAP)
    props = job(arm, job_id)
    assert [t.status for t in props.extended_info.tasks_list] == ["Completed", "InProgress"]
    assert not props.actions_info  # the transfer phase cannot be cancelled
    (rpc,) = arm.sandbox.compute.collections_for_vm(e.vm.id)
    assert rpc.resource_group == "AzureBackupRG_eastus_1"
    assert rpc.name.startswith("AzureBackup_appVM01_") and 0 <= int(rpc.name.rsplit("_", 1)[1]) < 2**64
    assert [p.name for p in rpc.points] == ["AzureBackup_20261102_080500"]
    assert arm.sandbox.resources.find_group(SUB, "AzureBackupRG_eastus_1").location == "eastus"

    arm.advance(XFER)
    props = job(arm, job_id)
    assert props.status == "Completed" and props.end_time is not None
    item = _client(arm).protected_items.get(VAULT, VAULT_RG, "Azure", e.container, e.item_name).properties
    assert item["lastBackupStatus"] == "Completed" and item["protectionState"] == "Protected"
    assert item["lastBackupTime"].startswith("2026-11-02T08:00:00")
    assert item["healthStatus"] == "Passed" and "lastRecoveryPoint" in item


def test_linux_vm_gets_vmsnapshotlinux_and_secrets_never_leak(arm: Arm) -> None:
    e = seed(arm.sandbox, os_type="Linux")
    succeeds(arm, e)
    (ext,) = backup_extensions(e)
    assert (ext.name, ext.type, ext.type_handler_version) == ("VMSnapshotLinux", "VMSnapshotLinux", "1.0")
    assert "sandbox-secret" in json.dumps(ext.protected_settings)
    assert "sandbox-secret" not in json.dumps(arm.snapshot())


def test_custom_policy_resource_group_gets_the_collection(arm: Arm) -> None:
    e = seed(arm.sandbox, rg_prefix="myBackupRG_", rg_suffix="_rp")
    assert _client(arm).protection_policies.get(VAULT, VAULT_RG, "DefaultPolicy").properties[
        "instantRPDetails"] == {"azureBackupRGNamePrefix": "myBackupRG_", "azureBackupRGNameSuffix": "_rp"}
    succeeds(arm, e)
    (rpc,) = arm.sandbox.compute.collections_for_vm(e.vm.id)
    assert rpc.resource_group == "myBackupRG_1_rp"


# ---- restore point limit and locks -----------------------------------------------------------------
def test_locked_restore_point_group_at_the_limit_fails_until_the_lock_goes(arm: Arm) -> None:
    e = seed(arm.sandbox)
    rpc = seed_restore_points(arm.sandbox, e.vm, "AzureBackupRG_eastus_1", RP_LIMIT, age_days=5)
    lock_group(arm, "AzureBackupRG_eastus_1", "CanNotDelete")
    fails_with(arm, e, "UserErrorRpCollectionLimitReached")
    assert len(rpc.points) == RP_LIMIT  # the lock stopped the service's clean-up

    unlock_group(arm, "AzureBackupRG_eastus_1")
    succeeds(arm, e)
    assert [p.name for p in rpc.points] == ["AzureBackup_20261102_080700"]  # old ones pruned, one new


def test_too_many_recent_points_hit_the_limit_even_without_a_lock(arm: Arm) -> None:
    e = seed(arm.sandbox)
    seed_restore_points(arm.sandbox, e.vm, "AzureBackupRG_eastus_1", RP_LIMIT, age_days=0.1)
    fails_with(arm, e, "UserErrorRpCollectionLimitReached")


def test_subscription_lock_also_blocks_the_clean_up(arm: Arm) -> None:
    e = seed(arm.sandbox)
    seed_restore_points(arm.sandbox, e.vm, "AzureBackupRG_eastus_1", RP_LIMIT, age_days=5)
    with arm.client(ManagementLockClient, SUB) as client:
        client.management_locks.create_or_update_at_subscription_level("sub-lock", {"level": "CanNotDelete"})
    fails_with(arm, e, "UserErrorRpCollectionLimitReached")


def test_readonly_lock_below_the_limit_surfaces_as_crp_reported_scope_locked(arm: Arm) -> None:
    e = seed(arm.sandbox)
    seed_restore_points(arm.sandbox, e.vm, "AzureBackupRG_eastus_1", 3, age_days=0.1)
    lock_group(arm, "AzureBackupRG_eastus_1", "ReadOnly")
    job_id = fails_with(arm, e, "UserErrorCrpReportedUserError")
    props = job(arm, job_id)
    assert "ScopeLocked" in props.error_details[0].error_string
    assert "cannot perform write operation" in props.extended_info.dynamic_error_message


def test_trigger_itself_is_refused_when_the_vault_group_is_read_only(arm: Arm) -> None:
    e = seed(arm.sandbox)
    lock_group(arm, VAULT_RG, "ReadOnly")
    with pytest.raises(HttpResponseError) as raised:
        trigger(arm, e)
    assert raised.value.status_code == 409 and raised.value.error.code == "ScopeLocked"
    assert not arm.sandbox.backup.jobs


# ---- extension, agent, power, provisioning ----------------------------------------------------------
def _failed_snapshot(e: Estate) -> None:
    arm_vm = e.vm
    e.sandbox.compute.install_extension(arm_vm, Extension(
        "VMSnapshot", "Microsoft.Azure.RecoveryServices", "VMSnapshot", "1.9", provisioning_state="Failed",
        status_code="ProvisioningState/failed/1", status_level="Error", status_message="Enable failed."))


def test_failed_vmsnapshot_fails_the_job_and_deleting_it_heals_the_next_backup(arm: Arm) -> None:
    e = seed(arm.sandbox)
    _failed_snapshot(e)
    assert e.vm.provisioning_state == "Failed"
    fails_with(arm, e, "UserErrorVmProvisioningStateFailed")

    with arm.sandbox.lock:
        arm.sandbox.compute.delete_extension(e.vm, "VMSnapshot")
    arm.advance(CFG.extension_delete_seconds)
    assert not backup_extensions(e) and e.vm.provisioning_state == "Succeeded"
    succeeds(arm, e)
    (ext,) = backup_extensions(e)
    assert ext.provisioning_state == "Succeeded"


def test_failed_extension_on_a_healthy_vm_is_extension_operation_failed(arm: Arm) -> None:
    e = seed(arm.sandbox)
    _failed_snapshot(e)
    e.vm.provisioning_state, e.vm.provisioning_error = "Succeeded", None
    fails_with(arm, e, "ExtensionOperationFailedForManagedDisks")


def test_vm_failed_for_another_reason_is_provisioning_state_failed(arm: Arm) -> None:
    e = seed(arm.sandbox, provisioning_state="Failed", provisioning_error="OSProvisioningTimedOut")
    fails_with(arm, e, "UserErrorVmProvisioningStateFailed")


def test_agent_not_ready(arm: Arm) -> None:
    e = seed(arm.sandbox, agent=AgentState("Not Ready", "Unknown", "VM Agent is unresponsive."))
    fails_with(arm, e, "UserErrorGuestAgentStatusUnavailable")
    assert not backup_extensions(e)
    e.vm.agent = AgentState()
    succeeds(arm, e)


@pytest.mark.parametrize("os_type", ["Windows", "Linux"])
@pytest.mark.parametrize("power", ["deallocated", "stopped"])
def test_stopped_vm_is_backed_up_offline_crash_consistent(arm: Arm, power: str, os_type: str) -> None:
    """Support matrix: a stopped VM's backup is offline and crash-consistent; no agent is needed
    (here: none answers) and the service installs no extension."""
    e = seed(arm.sandbox, power_state=power, os_type=os_type,
             agent=AgentState("", "2.7.41491.1102", ""))
    job_id = succeeds(arm, e)
    assert job(arm, job_id).error_details is None
    assert not backup_extensions(e)
    (rpc,) = arm.sandbox.compute.collections_for_vm(e.vm.id)
    (point,) = rpc.points
    assert point.consistency_mode == "CrashConsistent"
    wire = arm.client(ComputeManagementClient, SUB).restore_points.get(
        rpc.resource_group, rpc.name, point.name)
    assert wire.properties.consistency_mode == "CrashConsistent"
    item = _client(arm).protected_items.get(VAULT, VAULT_RG, "Azure", e.container, e.item_name).properties
    assert item["lastBackupStatus"] == "Completed" and item["healthStatus"] == "Passed"


@pytest.mark.parametrize(("os_type", "mode"), [("Windows", "ApplicationConsistent"), ("Linux", "FileSystemConsistent")])
def test_running_vm_gets_an_agent_consistent_point(arm: Arm, os_type: str, mode: str) -> None:
    e = seed(arm.sandbox, os_type=os_type)
    succeeds(arm, e)
    (rpc,) = arm.sandbox.compute.collections_for_vm(e.vm.id)
    assert [p.consistency_mode for p in rpc.points] == [mode]


def test_stopped_vm_with_a_failed_backup_extension_is_still_backed_up_offline(arm: Arm) -> None:
    e = seed(arm.sandbox, power_state="deallocated")
    _failed_snapshot(e)
    e.vm.provisioning_state, e.vm.provisioning_error = "Succeeded", None
    succeeds(arm, e)
    (ext,) = backup_extensions(e)
    assert ext.failed  # untouched: offline, the service does not push the extension


@pytest.mark.parametrize("power", ["starting", "stopping", "deallocating"])
def test_vm_changing_power_state_fails_the_backup(arm: Arm, power: str) -> None:
    e = seed(arm.sandbox, power_state=power)
    fails_with(arm, e, "UserErrorGuestAgentStatusUnavailable")
    assert not backup_extensions(e)


# ---- a ReadOnly lock on the VM blocks the extension install ----------------------------------------
@pytest.mark.parametrize("scope", ["group", "vm"])
def test_readonly_lock_on_the_vm_blocks_the_extension_install(arm: Arm, scope: str) -> None:
    e = seed(arm.sandbox)
    with arm.client(ManagementLockClient, SUB) as client:
        if scope == "group":
            client.management_locks.create_or_update_at_resource_group_level(VM_RG, "ro", {"level": "ReadOnly"})
        else:
            client.management_locks.create_or_update_at_resource_level(
                VM_RG, "Microsoft.Compute", "", "virtualMachines", e.vm.name, "ro", {"level": "ReadOnly"})
    job_id = fails_with(arm, e, "UserErrorCrpReportedUserError")
    props = job(arm, job_id)
    ext_id = f"{e.vm.id}/extensions/VMSnapshot"
    assert f"The scope '{ext_id}' cannot perform write operation" in props.extended_info.dynamic_error_message
    assert not backup_extensions(e) and not arm.sandbox.compute.collections_for_vm(e.vm.id)

    with arm.client(ManagementLockClient, SUB) as client:
        if scope == "group":
            client.management_locks.delete_at_resource_group_level(VM_RG, "ro")
        else:
            client.management_locks.delete_at_resource_level(
                VM_RG, "Microsoft.Compute", "", "virtualMachines", e.vm.name, "ro")
    succeeds(arm, e)
    assert len(backup_extensions(e)) == 1


def test_readonly_lock_on_the_vm_group_does_not_stop_an_offline_backup(arm: Arm) -> None:
    e = seed(arm.sandbox, power_state="deallocated")
    lock_group(arm, VM_RG, "ReadOnly")
    succeeds(arm, e)
    assert not backup_extensions(e)


def test_cannotdelete_lock_on_the_vm_group_lets_the_extension_install(arm: Arm) -> None:
    e = seed(arm.sandbox)
    lock_group(arm, VM_RG, "CanNotDelete")
    succeeds(arm, e)
    assert len(backup_extensions(e)) == 1


# ---- on-demand backups per day ---------------------------------------------------------------------
def _trigger_raw(arm: Arm, e: Estate) -> None:
    _client(arm).backups.trigger(VAULT, VAULT_RG, "Azure", e.container, e.item_name,
                                 m.BackupRequestResource(properties=m.IaasVMBackupRequest()))


def test_the_tenth_on_demand_backup_of_a_utc_day_is_refused(arm: Arm) -> None:
    e = seed(arm.sandbox)  # the clock starts at 08:00 UTC
    limit = CFG.on_demand_backups_per_day
    assert limit == 9
    for _ in range(limit):
        succeeds(arm, e)
    with pytest.raises(HttpResponseError) as raised:
        _trigger_raw(arm, e)
    assert raised.value.status_code == 400
    assert raised.value.error.code == "BMSUserErrorOnDemandBackupLimitReached"
    assert "(9)" in raised.value.error.message
    assert len(arm.sandbox.backup.jobs) == limit  # the refusal created no job

    # Another item of the vault has its own count.
    other_vm, other = add_vm(arm.sandbox, e.vault, e.policy, "appVM02")
    succeeds(arm, Estate(arm.sandbox, e.vault, e.policy, other_vm, other))

    # The count is per UTC day of the virtual clock: after midnight the item may back up again.
    now = arm.sandbox.clock.now()
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    arm.advance((midnight - now).total_seconds())
    succeeds(arm, e)


def test_failed_on_demand_backups_count_towards_the_limit(arm: Arm) -> None:
    e = seed(arm.sandbox)
    e.item.protection_state = "ProtectionStopped"
    for _ in range(CFG.on_demand_backups_per_day):
        fails_with(arm, e, "UserErrorBcmDatasourceNotPresent")
    with pytest.raises(HttpResponseError) as raised:
        _trigger_raw(arm, e)
    assert raised.value.error.code == "BMSUserErrorOnDemandBackupLimitReached"


def test_the_limit_is_a_sandbox_setting(arm: Arm) -> None:
    e = seed(arm.sandbox)
    arm.sandbox.config.update({"on_demand_backups_per_day": 1})
    succeeds(arm, e)
    with pytest.raises(HttpResponseError):
        _trigger_raw(arm, e)


# ---- jobs in progress, protection state, missing VM ------------------------------------------------
def test_second_trigger_fails_within_a_second_as_another_backup_runs(arm: Arm) -> None:
    e = seed(arm.sandbox)
    first = trigger(arm, e)
    second = trigger(arm, e)
    arm.advance(1)
    assert error_title(arm, second) == "UserErrorBackupOperationInProgress"
    assert job(arm, second).error_details[0].error_code == 400249
    assert job(arm, first).status == "InProgress"


def test_stuck_seeded_job_never_finishes_and_blocks_backups(arm: Arm) -> None:
    e = seed(arm.sandbox)
    now = arm.sandbox.clock.now()
    stuck = arm.sandbox.backup.add_job(BackupJob(
        e.vault, "00000000-0000-0000-0000-0000000000aa", e.item, e.vm.name, start=now - timedelta(hours=30),
        tasks=[JobTask("Take Snapshot", "InProgress", now - timedelta(hours=30)), JobTask("Transfer data to vault")],
        stuck=True))
    arm.advance(24 * 3600)
    assert job(arm, stuck.job_id).status == "InProgress"
    new = trigger(arm, e)
    arm.advance(1)
    assert error_title(arm, new) == "UserErrorBackupOperationInProgress"


@pytest.mark.parametrize("state", ["ProtectionStopped", "ProtectionPaused"])
def test_protection_stopped(arm: Arm, state: str) -> None:
    e = seed(arm.sandbox)
    e.item.protection_state = state
    fails_with(arm, e, "UserErrorBcmDatasourceNotPresent")


def test_deleted_vm(arm: Arm) -> None:
    e = seed(arm.sandbox)
    arm.sandbox.compute.delete_vm(e.vm)
    fails_with(arm, e, "UserErrorVmNotFoundV2")


# ---- disks and encryption ---------------------------------------------------------------------------
def test_disk_over_32_tb(arm: Arm) -> None:
    e = seed(arm.sandbox, data_disks=[DataDisk(0, "big", 32 * 1024 + 1)])
    fails_with(arm, e, "UserErrorUnsupportedDiskSize")


def test_encrypted_disk_over_4_tb(arm: Arm) -> None:
    e = seed(arm.sandbox, encrypted=True, data_disks=[DataDisk(0, "big", 4 * 1024 + 1)])
    fails_with(arm, e, "UserErrorUnsupportedDiskSize")


def test_encrypted_vm_without_key_vault_access(arm: Arm) -> None:
    e = seed(arm.sandbox, encrypted=True, key_vault_url="https://kv-app.vault.azure.net")
    e.item.key_vault_access = False
    fails_with(arm, e, "UserErrorKeyvaultPermissionsNotConfigured")
    e.item.key_vault_access = True
    fails_with(arm, e, "UserErrorKeyvaultPermissionsNotConfigured")  # the vault itself is not there
    from azbackup_sandbox.providers.graph.models import backup_service_object_id
    from azbackup_sandbox.providers.keyvault.models import AccessPolicy, KeyVault

    sub = e.vm.subscription_id
    tenant = arm.sandbox.resources.require_subscription(sub).tenant_id
    vault = arm.sandbox.keyvault.add(KeyVault(sub, e.vm.resource_group, "kv-app", e.vm.location, tenant))
    vault.policies.append(AccessPolicy(tenant, backup_service_object_id(tenant), {"secrets": ["get", "list"]}))
    fails_with(arm, e, "UserErrorKeyvaultPermissionsNotConfigured")  # BEK secrets need backup too
    vault.policies[0].permissions["secrets"].append("Backup")
    succeeds(arm, e)


# ---- cancel -----------------------------------------------------------------------------------------
def test_cancel_during_snapshot(arm: Arm) -> None:
    e = seed(arm.sandbox)
    job_id = trigger(arm, e)
    client = _client(arm)
    client.job_cancellations.trigger(VAULT, VAULT_RG, job_id)
    assert job(arm, job_id).status == "Cancelling"
    arm.advance(CFG.cancel_seconds)
    props = job(arm, job_id)
    assert props.status == "Cancelled" and props.extended_info.tasks_list[0].status == "Cancelled"
    arm.advance(SNAP + XFER)
    assert job(arm, job_id).status == "Cancelled"  # the phases do not resume
    succeeds(arm, e)  # and nothing blocks the next backup


def test_cancel_during_transfer_is_refused(arm: Arm) -> None:
    e = seed(arm.sandbox)
    job_id = trigger(arm, e)
    arm.advance(SNAP + 1)
    with pytest.raises(HttpResponseError) as raised:
        _client(arm).job_cancellations.trigger(VAULT, VAULT_RG, job_id)
    assert raised.value.status_code == 400 and raised.value.error.code == "BMSUserErrorJobNotCancellable"
    arm.advance(XFER)
    assert job(arm, job_id).status == "Completed"


# ---- lost answer ------------------------------------------------------------------------------------
def test_trigger_with_a_lost_answer_still_starts_exactly_one_backup(arm: Arm) -> None:
    e = seed(arm.sandbox)
    arm.add_faults({"operation": "Backups_Trigger", "drop_after": True})
    with pytest.raises(ServiceResponseError):
        _trigger_raw(arm, e)  # the SDK does not resend a POST after a lost answer
    (only,) = arm.sandbox.backup.jobs.values()
    assert only.status == "InProgress" and backup_extensions(e)  # processed: the job runs
    arm.advance(SNAP + XFER)
    assert job(arm, only.job_id).status == "Completed"
