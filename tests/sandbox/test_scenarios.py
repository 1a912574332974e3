"""Every seeded scenario read back through the real SDK clients: the broken VM shows its catalogue row's
state, its latest backup job failed with that row's errorTitle, and the healthy neighbour is fine."""

from __future__ import annotations

from collections import Counter

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.resource.locks import ManagementLockClient
from sandbox_arm import Arm

from azbackup_sandbox.scenarios import SINGLE_SCENARIOS

VAULT_RG, VAULT = "rg-backup-prod", "rsv-prod-eastus"

# scenario -> errorTitle of the broken VM's latest job (None: it succeeded or is still running)
EXPECTED_TITLE = {
    "healthy": None,
    "rp-limit-locked": "UserErrorRpCollectionLimitReached",
    "rp-limit-custom-rg": "UserErrorRpCollectionLimitReached",
    "failed-vmsnapshot-windows": "UserErrorVmProvisioningStateFailed",
    "failed-vmsnapshot-linux": "UserErrorVmProvisioningStateFailed",
    "agent-not-ready": "UserErrorGuestAgentStatusUnavailable",
    "vm-deallocated": None,  # backed up offline, crash-consistent (support matrix)
    "backup-in-progress": "UserErrorBackupOperationInProgress",
    "protection-stopped": "UserErrorBcmDatasourceNotPresent",
    "disk-too-large": "UserErrorUnsupportedDiskSize",
    "vm-deleted": "UserErrorVmNotFoundV2",
    # Issue 12: another extension fails the VM; a VM caught starting; no agent; an agent only a redeploy revives.
    "failed-extension-rerun": "UserErrorVmProvisioningStateFailed",
    "failed-extension-persists": "UserErrorVmProvisioningStateFailed",
    "vm-transitioning": "UserErrorGuestAgentStatusUnavailable",
    "agent-not-installed": "UserErrorGuestAgentStatusUnavailable",
    "agent-not-ready-redeploy": "UserErrorGuestAgentStatusUnavailable",
    # Restore-point layouts of guide 000 (tests/scenarios/rp_layouts.py drives the fixes).
    "rp-readonly-at-limit": "UserErrorRpCollectionLimitReached",
    "rp-readonly-below-limit": "UserErrorCrpReportedUserError",  # the ReadOnly lock blocks the point's write
    "rp-old-layout-vm-group": "UserErrorRpCollectionLimitReached",
    "rp-collection-scope-lock": "UserErrorRpCollectionLimitReached",
    "rp-vm-group-lock-unrelated": "UserErrorRpCollectionLimitReached",
    "rp-custom-group-n2": "UserErrorRpCollectionLimitReached",
    "rp-deleted-vm-orphans": "UserErrorVmNotFoundV2",
    # Encrypted VMs whose Key Vault does not let the Backup Management Service read their keys.
    "keyvault-access-policy": "UserErrorKeyvaultPermissionsNotConfigured",
    "keyvault-rbac": "UserErrorKeyvaultPermissionsNotConfigured",
    "keyvault-single-pass": "UserErrorKeyvaultPermissionsNotConfigured",
    "keyvault-bek-only": "UserErrorKeyvaultPermissionsNotConfigured",
    # The network path to storage (tests/scenarios/test_network_scenarios.py drives the fixes).
    "network-nic-nsg-deny-internet": "ExtensionSnapshotFailedNoNetwork",
    "network-subnet-nsg-deny-storage": "ExtensionSnapshotFailedNoNetwork",
    "network-udr-virtual-appliance": "ExtensionSnapshotFailedNoNetwork",
    "network-custom-dns": "ExtensionSnapshotFailedNoNetwork",
    "network-open-agent-unreachable": "UserErrorGuestAgentStatusUnavailable",
    # Guest causes (the VM's guest model decides; issue 14).
    "guest-vss-writer-failed": "ExtensionFailedVssWriterInBadState",
    "guest-complus-stopped": "ExtensionSnapshotFailedCOM",
    "guest-strong-crypto-missing": "ExtensionFailedSecureNetworkChannel",
    "guest-defender-blocking": "GuestAgentSnapshotTaskStatusError",
    "guest-linux-extensions-disabled": "GuestAgentSnapshotTaskStatusError",
    "guest-linux-agent-outdated": "GuestAgentSnapshotTaskStatusError",
    "guest-firewall-wireserver": "UserErrorGuestAgentStatusUnavailable",
    "guest-machinekeys-acl": "ExtensionConfigParsingFailure",
    "guest-sql-vss-full-backup": "GuestAgentSnapshotTaskStatusError",
    "guest-applocker-blocking": "GuestAgentSnapshotTaskStatusError",
    "guest-bitlocker-locked": "ExtensionSnapshotFailedBitLocker",
    "guest-reboot-pending": None,
    "guest-vmsnapshot-stale-plugin": "UserErrorVmProvisioningStateFailed",
    "guest-clean": None,
    "guest-linux-dhcp-off": None,  # the lease holds until the next boot
    "guest-linux-proxy": "ExtensionSnapshotFailedNoNetwork",
    "guest-linux-selinux-denials": "GuestAgentSnapshotTaskStatusError",
    "guest-linux-fs-not-clean": "UserErrorFsFreezeFailed",
    "guest-linux-var-full": "GuestAgentSnapshotTaskStatusError",
    # Issue 12: a Deny policy on the restore-point group; jobs in an old vault, a transitory cancel, a long backup.
    "policy-deny-rp-group": "UserErrorRequestDisallowedByPolicy",
    "backup-old-vault-in-progress": "UserErrorBackupOperationInProgress",  # the old vault's job still runs
    "backup-cancel-transitory": "UserErrorBackupOperationInProgress",
    "backup-running-long": "UserErrorBackupOperationInProgress",  # the slow nightly one still transfers
}


def _latest_backup_job(backup: RecoveryServicesBackupClient, vm: str):  # noqa: ANN202 - SDK model
    jobs = [j for j in backup.backup_jobs.list(VAULT, VAULT_RG, filter="operation eq 'Backup'")
            if j.properties.entity_friendly_name == vm]
    return max(jobs, key=lambda j: j.properties.start_time)


@pytest.mark.parametrize("scenario", sorted(SINGLE_SCENARIOS))
def test_scenario_reads_back_through_the_sdk(arm: Arm, scenario: str) -> None:
    assert set(EXPECTED_TITLE) == set(SINGLE_SCENARIOS)
    arm.load(scenario)
    compute = arm.client(ComputeManagementClient)
    backup = arm.client(RecoveryServicesBackupClient)
    locks = arm.client(ManagementLockClient)

    broken = _latest_backup_job(backup, "vm-app-01").properties
    titles = [e.error_title for e in broken.error_details or []]
    expected = EXPECTED_TITLE[scenario]
    assert titles == ([expected] if expected else []), (scenario, broken.status, titles)
    assert isinstance((broken.error_details or [None])[0].error_code if expected else 0, int)

    neighbour = _latest_backup_job(backup, "vm-app-02").properties
    if scenario.startswith("rp-readonly"):  # the ReadOnly lock on the shared group stops its point too
        assert [e.error_title for e in neighbour.error_details] == ["UserErrorCrpReportedUserError"]
    elif scenario == "policy-deny-rp-group":  # the neighbour's backup needs the same group: denied too
        assert [e.error_title for e in neighbour.error_details] == ["UserErrorRequestDisallowedByPolicy"]
    else:
        assert neighbour.status == "Completed" and not neighbour.error_details

    names = {vm.name for vm in compute.virtual_machines.list("rg-app-prod")}
    deleted = scenario in ("vm-deleted", "rp-deleted-vm-orphans")
    assert names == ({"vm-app-02"} if deleted else {"vm-app-01", "vm-app-02"})
    if deleted:
        return
    view = compute.virtual_machines.get("rg-app-prod", "vm-app-01", expand="instanceView").instance_view
    codes = [s.code for s in view.statuses]
    if scenario.startswith("failed-vmsnapshot"):
        assert codes[0] == "ProvisioningState/failed/VMExtensionProvisioningError"
        backup_ext = [e for e in compute.virtual_machine_extensions.list("rg-app-prod", "vm-app-01").value
                      if e.publisher == "Microsoft.Azure.RecoveryServices"]
        assert [e.provisioning_state for e in backup_ext] == ["Failed"]
    if scenario == "agent-not-ready":
        assert view.vm_agent.statuses[0].display_status == "Not Ready"
        assert view.vm_agent.vm_agent_version == "Unknown"
    if scenario == "vm-deallocated":
        assert codes[-1] == "PowerState/deallocated"
        assert broken.status == "Completed"
        (rpc,) = [c for c in compute.restore_point_collections.list("AzureBackupRG_eastus_1")
                  if c.source.id.lower().endswith("/vm-app-01")]
        full = compute.restore_point_collections.get("AzureBackupRG_eastus_1", rpc.name, expand="restorePoints")
        assert full.restore_points[-1].consistency_mode == "CrashConsistent"
    if scenario.startswith("rp-limit"):
        collections = [c for rg in {c.id.split("/")[4] for c in compute.restore_point_collections.list_all()}
                       for c in compute.restore_point_collections.list(rg)
                       if c.source.id.lower().endswith("/vm-app-01")]
        assert len(collections) == 1
        rg = collections[0].id.split("/")[4]
        full = compute.restore_point_collections.get(rg, collections[0].name, expand="restorePoints")
        assert len(full.restore_points) == 18
        assert [lk.level for lk in locks.management_locks.list_at_resource_group_level(rg)] == ["CanNotDelete"]
        if scenario == "rp-limit-custom-rg":
            assert rg == "rg-vmbackup-rp-1-eus"
        else:
            assert rg == "AzureBackupRG_eastus_1"


def test_fleet_small_has_its_mix_and_every_vm_is_protected(arm: Arm) -> None:
    arm.load("fleet-small")
    kinds: Counter[str] = Counter()
    protected = 0
    for sub in arm.subscription_ids:
        compute = arm.client(ComputeManagementClient, sub)
        kinds.update(vm.tags["kind"] for vm in compute.virtual_machines.list_all())
        backup = arm.client(RecoveryServicesBackupClient, sub)
        for vault in arm.sandbox.backup.list_vaults(sub):
            protected += len(list(backup.backup_protected_items.list(vault.name, vault.resource_group)))
    deleted = sum(1 for i in arm.sandbox.backup.items.values() if arm.sandbox.compute.vm_by_id(i.vm_id) is None)
    assert sum(kinds.values()) + deleted == 300 == protected
    assert kinds["healthy"] > 200 and len(kinds) >= 6
