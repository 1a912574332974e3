"""Every sandbox scenario, diagnosed through the real SDK clients in-process and over HTTPS:
the catalogue's finding and playbook, with evidence, an economical request log and no writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azbackup_fix import Diagnosis, Severity
from azbackup_fix.checks import entry_for
from azbackup_sandbox import Sandbox, SandboxServer
from tests.gateway.sandbox_arm import BROKEN, NEIGHBOUR, Target, duplicate_gets, writes

# scenario -> (finding code, playbook or None, evidence label, expected evidence value or None)
EXPECTED: dict[str, list[tuple[str, str | None, str, object]]] = {
    "healthy": [],
    "rp-limit-locked": [
        ("UserErrorRpCollectionLimitReached", "clear-restore-point-limit", "restore points", 18),
        ("RestorePointResourceGroupLocked", "clear-restore-point-limit", "resource group", "AzureBackupRG_eastus_1"),
    ],
    "rp-limit-custom-rg": [
        ("UserErrorRpCollectionLimitReached", "clear-restore-point-limit", "restore point group naming",
         "rg-vmbackup-rp-<n>-eus"),
        ("RestorePointResourceGroupLocked", "clear-restore-point-limit", "resource group", "rg-vmbackup-rp-1-eus"),
    ],
    "failed-vmsnapshot-windows": [
        ("UserErrorVmProvisioningStateFailed", "reinstall-backup-extension", "backup extension state", "Failed"),
        ("BackupExtensionFailed", "reinstall-backup-extension", "type", "Microsoft.Azure.RecoveryServices.VMSnapshot"),
    ],
    "failed-vmsnapshot-linux": [
        ("UserErrorVmProvisioningStateFailed", "reinstall-backup-extension", "backup extension state", "Failed"),
        ("BackupExtensionFailed", "reinstall-backup-extension", "type",
         "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"),
    ],
    "agent-not-ready": [("UserErrorGuestAgentStatusUnavailable", None, "error title",
                         "UserErrorGuestAgentStatusUnavailable")],
    # Backed up offline, crash-consistent: context about the power state, no error.
    "vm-deallocated": [("VmNotRunning", None, "power state", "deallocated")],
    "failed-extension-rerun": [
        ("UserErrorVmProvisioningStateFailed", "rerun-failed-extension", "other failed extensions",
         "MicrosoftMonitoringAgent"),
        ("ExtensionProvisioningFailed", "rerun-failed-extension", "type",
         "Microsoft.EnterpriseCloud.Monitoring.MicrosoftMonitoringAgent"),
    ],
    "failed-extension-persists": [
        ("ExtensionProvisioningFailed", "rerun-failed-extension", "extension", "CustomScript"),
    ],
    "vm-transitioning": [("VmPowerStateTransitioning", "wait-for-vm-state", "power state", "starting"),
                         ("VmProvisioningStateTransitioning", "wait-for-vm-state", "provisioning state", "Updating")],
    "agent-not-installed": [("VmAgentNotInstalled", None, "provisionVMAgent", False)],
    "agent-not-ready-redeploy": [("UserErrorGuestAgentStatusUnavailable", None, "agent status", "Not Ready")],
    "backup-in-progress": [
        ("UserErrorBackupOperationInProgress", "resolve-backup-in-progress", "error title",
         "UserErrorBackupOperationInProgress"),
        ("BackupJobInProgress", "resolve-backup-in-progress", "status", "InProgress"),
    ],
    "protection-stopped": [("UserErrorBcmDatasourceNotPresent", "resume-protection", "protection state",
                            "ProtectionStopped")],
    "disk-too-large": [("UserErrorUnsupportedDiskSize", None, None, None)],
    "vm-deleted": [("VmNotFoundButProtected", "stop-protection-retain-data", "protection state", "Protected")],
    # Encrypted VMs: exactly the permissions the Backup Management Service lacks, read from the vault.
    "keyvault-access-policy": [("UserErrorKeyvaultPermissionsNotConfigured", "grant-backup-key-vault-access",
                                "missing permissions", "keys backup, list; secrets backup, list")],
    "keyvault-rbac": [("UserErrorKeyvaultPermissionsNotConfigured", "grant-backup-key-vault-access",
                       "missing permissions", "keys backup; secrets backup, get")],
    "keyvault-single-pass": [("UserErrorKeyvaultPermissionsNotConfigured", "grant-backup-key-vault-access",
                              "encryption found in", "disk")],
    "keyvault-bek-only": [("UserErrorKeyvaultPermissionsNotConfigured", "grant-backup-key-vault-access",
                           "missing permissions", "secrets backup")],
}

# Scenarios whose backups succeed: their findings are context (info) only.
INFO_ONLY = {"vm-deallocated"}


@pytest.fixture(scope="module")
def https_server() -> Iterator[SandboxServer]:
    server = SandboxServer(Sandbox(), clock_rate=0.0)
    with server:
        yield server


@pytest.fixture(params=["inprocess", "https"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def _target(mode: str, scenario: str, request: pytest.FixtureRequest) -> Target:
    if mode == "https":
        server: SandboxServer = request.getfixturevalue("https_server")
        server.sandbox.load(scenario)
        return Target(server.sandbox, server)
    return Target(Sandbox(scenario=scenario))


def _finding(diagnosis: Diagnosis, code: str):
    found = [f for f in diagnosis.findings if f.code == code]
    assert found, f"no {code} in {[f.code for f in diagnosis.findings]}"
    return found[0]


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_broken_vm_gets_the_catalogue_finding(scenario: str, mode: str, request: pytest.FixtureRequest) -> None:
    target = _target(mode, scenario, request)
    target.sandbox.clear_requests()
    with target.remediator() as fix:
        report = fix.diagnose(target.vm(BROKEN))
    log = target.sandbox.requests()

    expected = EXPECTED[scenario]
    if not expected:
        assert not report.errors, [f.code for f in report.errors]
    for code, playbook, label, value in expected:
        finding = _finding(report, code)
        assert finding.severity in (Severity.ERROR, Severity.WARNING) or scenario in INFO_ONLY
        assert finding.guide and finding.guide_section
        assert finding.evidence, f"{code} has no evidence"
        if playbook:
            assert playbook in finding.playbooks and playbook in report.playbooks
        if label is not None:
            assert finding.evidence_value(label) == value, finding.evidence
    if scenario in INFO_ONLY:
        assert not report.errors, [f.code for f in report.errors]
        assert {f.severity for f in report.findings} == {Severity.INFO}
    elif expected:
        assert report.errors, "a broken VM must yield at least one error finding"
    # One finding per problem: a job's errorTitle that is an alias of a state finding merges into it.
    entries = [entry_for(f.code) for f in report.findings if entry_for(f.code) is not None]
    assert len(entries) == len({id(e) for e in entries}), [f.code for f in report.findings]

    # The report counts exactly the requests the sandbox served; none repeated, none writing.
    assert report.request_count == len(log) > 0
    assert duplicate_gets(log) == []
    assert writes(log) == []
    assert all(r.status < 400 or r.status == 404 for r in log)  # 404: looking for a deleted VM's item


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_healthy_neighbour_has_no_error(scenario: str) -> None:
    target = Target(Sandbox(scenario=scenario))
    with target.remediator() as fix:
        report = fix.diagnose(target.vm(NEIGHBOUR))
    assert not report.errors, [(f.code, f.title) for f in report.errors]
    assert report.request_count == len(target.sandbox.requests())


def test_request_count_per_scenario_is_bounded() -> None:
    """The economy budget: one VM diagnosis reads each thing once (12 requests for the usual
    estate: VM, vaults, backupStatus, item, policy, groups, 3 lock lists, collections list,
    one collection with points, the vault's jobs)."""
    counts, network = {}, {}
    for scenario in EXPECTED:
        target = Target(Sandbox(scenario=scenario))
        with target.remediator() as fix:
            total = fix.diagnose(target.vm(BROKEN)).request_count
        # The network path (read only when the failure points at it) is budgeted apart: NIC, VNet, service
        # tags, watchers, and four long-running POSTs of three requests each.
        network[scenario] = sum(1 for r in target.sandbox.requests() if "/providers/microsoft.network/" in r.path.lower())
        counts[scenario] = total - network[scenario]
    assert max(network.values()) <= 16, network
    # A running VM whose agent is not ready; not one that never had an agent or is between power states.
    assert {s for s, n in network.items() if n} == {"agent-not-ready", "agent-not-ready-redeploy"}, network
    assert counts["rp-limit-locked"] == 12
    assert counts["vm-deleted"] <= 9  # no VM: no backupStatus; its orphaned collections and their group locks
    plain = {k: v for k, v in counts.items() if not k.startswith("keyvault-")}
    assert max(plain.values()) <= 14, counts  # the custom RG adds its own locks and collections lists
    # An encrypted VM adds its two disks, one Graph lookup and its vault (an RBAC vault: the principal's
    # role assignments and each one's role definition).
    assert counts["keyvault-access-policy"] <= counts["healthy"] + 4, counts
    assert counts["keyvault-rbac"] <= counts["healthy"] + 7, counts


def test_demo_estate_shares_lists_between_vms() -> None:
    target = Target(Sandbox(scenario="demo"))
    with target.remediator() as fix:
        vms = fix.list_protected_vms()
        target.sandbox.clear_requests()
        reports = fix.diagnose_many(vms, fresh=False)
    assert len(reports) == 5
    codes = {r.target.rsplit("/", 1)[1]: {f.code for f in r.errors} for r in reports}
    assert "UserErrorRpCollectionLimitReached" in codes["vm-sql-01"]
    assert "BackupExtensionFailed" in codes["vm-web-01"]
    assert "UserErrorGuestAgentStatusUnavailable" in codes["vm-api-01"]
    assert "UserErrorBackupOperationInProgress" in codes["vm-files-01"]
    assert codes["vm-dc-01"] == set()
    log = target.sandbox.requests()
    assert sum(r.request_count for r in reports) == len(log)
    assert duplicate_gets(log) == []
    # The shared lists (groups, locks, collections, jobs) are read for the first VM only.
    assert reports[0].request_count > max(r.request_count for r in reports[1:])


def test_fleet_small_every_protected_vm_diagnosed() -> None:
    sandbox = Sandbox(scenario="fleet-small")
    from azbackup_sandbox.core.control import subscription_ids

    total = 0
    for subscription in subscription_ids(sandbox):
        target = Target(sandbox)
        with target.remediator(subscription) as fix:
            outcomes = list(fix.iter_diagnoses(fix.list_protected_vms(), fresh=False))
        assert outcomes and all(o.diagnosis is not None for o in outcomes), [
            str(o.error) for o in outcomes if o.error
        ][:3]
        total += len(outcomes)
    assert total == 300
    assert writes(sandbox.requests()) == []
    assert duplicate_gets(sandbox.requests()) == []
