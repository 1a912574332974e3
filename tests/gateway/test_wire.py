"""Pure conversions of ARM JSON: timestamps, case-insensitive lookups, job and lock shapes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from azbackup_fix.gateway.convert_backup import backup_status_from_wire, job_from_wire, lock_from_wire
from azbackup_fix.gateway.convert_compute import vm_from_wire
from azbackup_fix.gateway.wire import arm_time, dig
from azbackup_fix.ids import VmRef

SUB = "11111111-2222-3333-4444-555555555555"
VAULT = f"/subscriptions/{SUB}/resourceGroups/rg-b/providers/Microsoft.RecoveryServices/vaults/v1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-05T02:52:09Z", datetime(2025, 1, 5, 2, 52, 9, tzinfo=timezone.utc)),
        ("2025-01-05T02:52:09.1234567Z", datetime(2025, 1, 5, 2, 52, 9, 123456, tzinfo=timezone.utc)),
        ("2025-01-05T02:52:09.5+00:00", datetime(2025, 1, 5, 2, 52, 9, 500000, tzinfo=timezone.utc)),
        ("2025-01-05T04:52:09+0200", datetime(2025, 1, 5, 2, 52, 9, tzinfo=timezone.utc)),
        ("2025-01-05T02:52:09", datetime(2025, 1, 5, 2, 52, 9, tzinfo=timezone.utc)),
        ("0001-01-01T00:00:00", None),
        ("", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_arm_time(text: str | None, expected: datetime | None) -> None:
    assert arm_time(text) == expected


def test_dig_ignores_key_case_and_missing_levels() -> None:
    data = {"Properties": {"instanceView": {"statuses": [{"code": "x"}]}}}
    assert dig(data, "properties", "InstanceView", "statuses", 0, "code") == "x"
    assert dig(data, "properties", "nothing", "deeper", default=3) == 3
    assert dig(data, "properties", "instanceView", "statuses", 5) is None


def test_job_actions_info_old_and_new_forms_and_error_details() -> None:
    base = {"id": f"{VAULT}/backupJobs/j1", "name": "j1"}
    old = job_from_wire({**base, "properties": {"status": "InProgress", "actionsInfo": [1]}})
    new = job_from_wire({**base, "properties": {"status": "InProgress", "actionsInfo": ["Cancellable"]}})
    none = job_from_wire({**base, "properties": {"status": "Failed", "errorDetails": [
        {"errorCode": 400249, "errorTitle": "UserErrorBackupOperationInProgress", "errorString": "busy",
         "recommendations": ["wait"]}]}})
    assert old.cancellable and new.cancellable and not none.cancellable
    assert none.primary_error is not None and none.primary_error.error_code == 400249
    assert none.primary_error.recommendations == ("wait",)


def test_backup_status_not_protected_and_vault_url() -> None:
    assert backup_status_from_wire({"protectionStatus": "NotProtected"}).vault is None
    status = backup_status_from_wire({"protectionStatus": "Protected", "vaultId": f"https://management.azure.com{VAULT}"})
    assert status.protected and status.vault is not None and status.vault.name == "v1"


def test_lock_owners_and_level() -> None:
    lock = lock_from_wire({"id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Authorization/locks/l",
                           "properties": {"level": "readonly", "owners": [{"applicationId": "app"}]}})
    assert lock.level.value == "ReadOnly" and lock.owners == ("app",) and lock.resource_group == "rg"


def test_deallocated_vm_without_agent_or_extension_views() -> None:
    ref = VmRef(SUB, "rg", "vm")
    vm = vm_from_wire(ref, {"location": "eastus", "properties": {
        "provisioningState": "Succeeded",
        "storageProfile": {"osDisk": {"osType": "Linux", "name": "os", "diskSizeGB": 30}},
        "instanceView": {"statuses": [{"code": "ProvisioningState/succeeded"}, {"code": "PowerState/deallocated"}]},
    }, "resources": [{"name": "VMSnapshotLinux", "properties": {
        "publisher": "Microsoft.Azure.RecoveryServices", "type": "VMSnapshotLinux", "provisioningState": "Succeeded"}}]})
    assert vm.power_state == "deallocated" and not vm.agent.is_reported
    assert vm.backup_extension is not None and vm.backup_extension.status_code is None
