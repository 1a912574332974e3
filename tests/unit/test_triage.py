"""Triage: catalogue rows routed through the shipped files, option merging, purity, properties."""

from __future__ import annotations

import copy
import textwrap
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbackup_fix.checks import CATALOGUE, Playbook
from azbackup_fix.models import Diagnosis, Finding, Severity
from azbackup_fix.playbook_file import GuardRails, PlaybookFile, PlaybookRule, load_playbook_file
from azbackup_fix.triage import PlaybookRequest, route, routing_codes

from .test_playbook_file import REGISTRY, SCHEMAS

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
DEFAULT = load_playbook_file(PLAYBOOKS / "default.yaml", schemas=REGISTRY)
DIAGNOSE_ONLY = load_playbook_file(PLAYBOOKS / "diagnose-only.yaml", schemas=REGISTRY)
PERMISSIVE = replace(DEFAULT, guard_rails=GuardRails(allow_disruptive=True, allow_protection_changes=True,
                                                     allow_extension_changes=True,
                                                     allow_permission_changes=True,
                                                     allow_guest_changes=True,
                                                     allow_network_changes=True))
WHEN = datetime(2025, 1, 5, 2, 52, 9, tzinfo=timezone.utc)

CLEAR, REINSTALL, RESOLVE, TRIGGER = (
    Playbook.CLEAR_RESTORE_POINT_LIMIT, Playbook.REINSTALL_BACKUP_EXTENSION,
    Playbook.RESOLVE_BACKUP_IN_PROGRESS, Playbook.TRIGGER_BACKUP,
)
RECOVER, RESUME, STOP = Playbook.RECOVER_VM_PROVISIONING, Playbook.RESUME_PROTECTION, Playbook.STOP_PROTECTION_RETAIN_DATA
INSPECT = "inspect-vm"
RERUN, WAIT = Playbook.RERUN_FAILED_EXTENSION, Playbook.WAIT_FOR_VM_STATE
GRANT = Playbook.GRANT_BACKUP_KEY_VAULT_ACCESS
FIXG = Playbook.FIX_GUEST
ORPHANS = Playbook.DELETE_ORPHANED_RESTORE_POINTS
NETWORK = Playbook.ALLOW_STORAGE_OUTBOUND
AGENT = (RECOVER, INSPECT, TRIGGER)  # with allow_disruptive: reapply and restart, then back up

# code -> (playbooks under the default guard rails, playbooks with every guard rail allowed)
TABLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "VmNotFoundButProtected": ((), (STOP,)),
    "UserErrorVmNotFound": ((), (STOP,)),
    "UserErrorVmNotFoundV2": ((), (STOP,)),
    "UserErrorVmProvisioningStateFailed": ((RECOVER, TRIGGER), (RECOVER, TRIGGER)),
    "VmProvisioningStateTransitioning": ((WAIT, TRIGGER), (WAIT, TRIGGER)),
    "VmPowerStateTransitioning": ((WAIT, TRIGGER), (WAIT, TRIGGER)),
    "VmNotRunning": ((), ()),  # offline, crash-consistent: an info finding (an unknown state: report)
    "VmAgentNotInstalled": ((INSPECT,), (INSPECT,)),
    "AgentlessCrashConsistentBackup": ((), ()),
    "UserErrorGuestAgentStatusUnavailable": ((INSPECT, TRIGGER), AGENT),
    "VmAgentOutOfDate": ((INSPECT,), (INSPECT,)),
    "ExtensionProvisioningFailed": ((), (RERUN, TRIGGER)),
    "BackupExtensionFailed": ((REINSTALL, TRIGGER), (REINSTALL, TRIGGER)),
    "ExtensionStuckInDeletionState": ((REINSTALL, TRIGGER), (REINSTALL, TRIGGER)),
    # Reinstalling did not help: the full reinstall, only with the extension and guest rails.
    "BackupExtensionKeepsFailing": ((), (Playbook.REINSTALL_BACKUP_EXTENSION_CLEAN, TRIGGER)),
    "BackupExtensionNotInstalled": ((), ()),
    "GuestAgentSnapshotTaskStatusError": ((INSPECT,), (FIXG, RECOVER, INSPECT, TRIGGER)),
    "UserErrorRpCollectionLimitReached": ((CLEAR, TRIGGER), (CLEAR, TRIGGER)),
    "RestorePointResourceGroupLocked": ((CLEAR, TRIGGER), (CLEAR, TRIGGER)),
    "VmResourceGroupLocked": ((), ()),
    "SubscriptionLocked": ((), ()),
    "OrphanedRestorePointCollection": ((), (ORPHANS,)),
    "UserErrorKeyvaultPermissionsNotConfigured": ((), (GRANT, TRIGGER)),
    # No restart for it (no guide prescribes one; it changes no NSG, route or DNS): the network check's
    # findings route the fix.
    "ExtensionSnapshotFailedNoNetwork": ((INSPECT,), (INSPECT,)),
    "StorageOutboundDenied": ((INSPECT,), (NETWORK, INSPECT, TRIGGER)),
    "StorageOutboundOpenedByFix": ((TRIGGER,), (TRIGGER,)),
    "StorageRoutedToAppliance": ((INSPECT,), (INSPECT,)),
    "CustomDnsServers": ((INSPECT,), (INSPECT,)),
    "NetworkPathOpenCheckGuest": ((INSPECT,), (INSPECT,)),
    "NetworkPathNotVisible": ((INSPECT,), (INSPECT,)),
    "NetworkPathUnreadable": ((INSPECT,), (INSPECT,)),
    "ExtensionOperationFailedForManagedDisks": ((REINSTALL, TRIGGER), (REINSTALL, TRIGGER)),
    "ExtensionOperationFailed": ((REINSTALL, TRIGGER), (REINSTALL, TRIGGER)),
    "ExtentionOperationFailed": ((REINSTALL, TRIGGER), (REINSTALL, TRIGGER)),
    "BackUpOperationFailed": ((TRIGGER,), (TRIGGER,)),
    "BackUpOperationFailedV2": ((TRIGGER,), (TRIGGER,)),
    "UserErrorUnsupportedDiskSize": ((INSPECT,), (INSPECT,)),
    "UserErrorBackupOperationInProgress": ((RESOLVE, TRIGGER), (RESOLVE, TRIGGER)),
    "BackupJobInProgress": ((RESOLVE, TRIGGER), (RESOLVE, TRIGGER)),
    "BackupJobInProgressElsewhere": ((RESOLVE, TRIGGER), (RESOLVE, TRIGGER)),
    "UserErrorCrpReportedUserError": ((INSPECT,), (INSPECT,)),
    "UserErrorBcmDatasourceNotPresent": ((), (RESUME, TRIGGER)),
    "VmNotProtected": ((), ()),
    "EnhancedPolicyMigration": ((), ()),
    "BackupJobTakingLong": ((), ()),
    # Microsoft's current guide 001: guest causes report only until the guest channel lands; the policy,
    # restore and Trusted Launch rows have no Azure-side fix here.
    "VMRestorePointInternalError": ((INSPECT,), (INSPECT,)),
    "ExtensionFailedSnapshotLimitReachedError": ((INSPECT,), (INSPECT,)),
    "ExtensionFailedTimeoutVMNetworkUnresponsive": ((INSPECT,), (INSPECT,)),
    "ExtensionFailedVssServiceInBadState": ((INSPECT,), (INSPECT,)),
    "UserErrorRequestDisallowedByPolicy": ((), ()),
    "UserErrorInstantRpNotFound": ((), ()),
    "UserErrorMigrationFromTrustedLaunchVMToNonTrustedVMNotAllowed": ((), ()),
    # Inside the guest (issue 14): fixed through Run Command only with allow_guest_changes.
    **dict.fromkeys(("ExtensionFailedVssWriterInBadState", "ExtensionSnapshotFailedCOM", "ExtensionInstallationFailedCOM",
                     "ExtensionInstallationFailedMDTC", "ExtensionFailedSecureNetworkChannel",
                     "ExtensionVCRedistInstallationFailure", "ExtensionConfigParsingFailure",
                     "SqlServerVssCopyBackupNotSet", "AntivirusBlockingBackupExtension", "AgentConfigurationNotSet", "GuestAgentOutOfDate"),
                    ((INSPECT,), (FIXG, INSPECT, TRIGGER))),
    **dict.fromkeys(("ApplicationControlBlockingBackupExtension", "ExtensionSnapshotFailedBitLocker",
                     "GuestRebootPending",
                     "WireServerUnreachable", "GuestChannelUnavailable", "GuestProbeFailed", "GuestProbeSuggested"),
                    ((INSPECT,), (INSPECT,))),
    # The Linux probes and storage reachability from the guest (report only).
    **dict.fromkeys(("GuestDhcpDisabled", "ProxyNotBypassingWireServer", "SELinuxDeniesAgent", "UserErrorFsFreezeFailed",
                     "GuestVarLowOnSpace", "StorageUnreachableFromGuest", "StorageReachabilityNotChecked"),
                    ((INSPECT,), (INSPECT,))),
}
CATALOGUE_CODES = [code for entry in CATALOGUE for code in entry.codes]


def finding(code: str, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(code=code, severity=severity, title=f"{code} seen")


def diagnosis(*findings: Finding) -> Diagnosis:
    return Diagnosis(target="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
                     findings=findings, request_count=3, generated_at=WHEN)


def ids(requests: tuple[PlaybookRequest, ...]) -> tuple[str, ...]:
    return tuple(r.playbook_id for r in requests)


def test_the_table_is_the_catalogue() -> None:
    assert sorted(TABLE) == sorted(CATALOGUE_CODES)


@pytest.mark.parametrize("code", CATALOGUE_CODES)
@pytest.mark.parametrize("severity", [Severity.ERROR, Severity.WARNING])
def test_each_catalogue_code_routes_as_the_guides_prescribe(code: str, severity: Severity) -> None:
    expected, permissive = TABLE[code]
    assert ids(route(diagnosis(finding(code, severity)), DEFAULT)) == expected
    assert ids(route(diagnosis(finding(code, severity)), PERMISSIVE)) == permissive
    for request in route(diagnosis(finding(code, severity)), PERMISSIVE):
        assert request.reason_codes == (code,)


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.code)
def test_routing_includes_the_catalogues_playbooks(entry) -> None:
    findings = [finding(entry.code)]
    if entry.code == "UserErrorVmProvisioningStateFailed":
        # Its catalogue playbook (reinstall) is right only when the backup extension failed,
        # which the checks report as a finding of its own.
        findings.append(finding("BackupExtensionFailed"))
    routed = ids(route(diagnosis(*findings), PERMISSIVE))
    assert set(entry.playbooks) <= set(routed)
    if entry.code == "UserErrorVmProvisioningStateFailed":
        assert routed == (REINSTALL, TRIGGER)


@pytest.mark.parametrize("cause", ["StorageOutboundDenied", "StorageRoutedToAppliance", "CustomDnsServers",
                                   "StorageOutboundOpenedByFix"])
def test_no_restart_while_the_network_path_is_the_cause(cause: str) -> None:
    for agent in ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError"):
        routed = ids(route(diagnosis(finding(agent), finding(cause)), PERMISSIVE))
        assert RECOVER not in routed and INSPECT in routed


@pytest.mark.parametrize("code", CATALOGUE_CODES)
def test_info_findings_never_route(code: str) -> None:
    assert route(diagnosis(finding(code, Severity.INFO)), PERMISSIVE) == ()


@pytest.mark.parametrize("code", CATALOGUE_CODES)
def test_diagnose_only_routes_nothing(code: str) -> None:
    assert route(diagnosis(finding(code)), DIAGNOSE_ONLY) == ()
    assert route(diagnosis(finding(code)), replace(PERMISSIVE, writes_allowed=False)) == ()


def test_healthy_and_unknown_codes_route_nothing() -> None:
    assert route(diagnosis(), DEFAULT) == ()
    assert route(diagnosis(finding("BackupJobFailed"), finding("SomethingNew")), DEFAULT) == ()


def test_codes_match_case_insensitively_and_keep_the_findings_spelling() -> None:
    (clear, trigger) = route(diagnosis(finding("usererrorRPCollectionLimitReached")), DEFAULT)
    assert (clear.playbook_id, clear.reason_codes) == (CLEAR, ("usererrorRPCollectionLimitReached",))
    assert trigger.playbook_id == TRIGGER


def test_several_findings_dedupe_keep_rule_order_and_trigger_last() -> None:
    requests = route(
        diagnosis(
            finding("BackupJobInProgress", Severity.WARNING),
            finding("UserErrorRpCollectionLimitReached"),
            finding("RestorePointResourceGroupLocked", Severity.WARNING),
            finding("BackupExtensionFailed"),
            finding("VmNotRunning", Severity.WARNING),
        ),
        DEFAULT,
    )
    assert ids(requests) == (CLEAR, REINSTALL, RESOLVE, TRIGGER)
    by_id = {r.playbook_id: r for r in requests}
    assert by_id[CLEAR].reason_codes == ("UserErrorRpCollectionLimitReached", "RestorePointResourceGroupLocked")
    assert by_id[TRIGGER].reason_codes == (  # the diagnosis's order, not the rules'
        "BackupJobInProgress", "UserErrorRpCollectionLimitReached", "RestorePointResourceGroupLocked",
        "BackupExtensionFailed",
    )
    assert dict(by_id[TRIGGER].options) == {"retention_days": 30}
    # Its own verification backup runs before the locks come back (the runner drops the trailing one).
    assert dict(by_id[CLEAR].options) == {}


def test_aliases_of_one_code_count_once() -> None:
    requests = route(diagnosis(finding("ExtentionOperationFailed"), finding("ExtensionOperationFailedForManagedDisks")),
                     DEFAULT)
    assert [r.reason_codes for r in requests] == [("ExtentionOperationFailed",)] * 2
    assert routing_codes(diagnosis(finding("A"), finding("a"), finding("B", Severity.INFO))) == ("A",)


def test_guard_rails_gate_rules_that_require_them() -> None:
    deleted = diagnosis(finding("VmNotFoundButProtected"))
    assert route(deleted, DEFAULT) == ()
    only_protection = replace(DEFAULT, guard_rails=GuardRails(allow_protection_changes=True))
    assert ids(route(deleted, only_protection)) == (STOP,)
    agent = diagnosis(finding("UserErrorGuestAgentStatusUnavailable"))
    assert ids(route(agent, only_protection)) == (INSPECT, TRIGGER)  # the retry, held while the agent is down
    (recover, inspect, trigger) = route(agent, replace(DEFAULT, guard_rails=GuardRails(allow_disruptive=True)))
    assert dict(recover.options) == {"trigger_backup": False, "restart": True}
    assert (inspect.playbook_id, trigger.playbook_id) == (INSPECT, TRIGGER)


def _file(tmp_path: Path, text: str) -> PlaybookFile:
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_playbook_file(path, schemas=SCHEMAS)


def test_options_merge_defaults_then_later_rules_then_earlier_rules(tmp_path: Path) -> None:
    mine = _file(
        tmp_path,
        """
        version: 1
        defaults:
          trigger-backup: {retention_days: 30, wait: true, expiry_note: default}
        rules:
          - match: {error_codes: [MyFirstError]}
            playbooks: [trigger-backup, clear-restore-point-limit]
            options:
              trigger-backup: {retention_days: 7}
          - match: {finding_codes: [MySecondError]}
            playbooks: [trigger-backup]
            options:
              trigger-backup: {retention_days: 14, wait: false}
        """,
    )
    both = diagnosis(finding("MySecondError"), finding("MyFirstError"))
    clear, trigger = route(both, mine)
    assert clear.playbook_id == CLEAR and dict(clear.options) == {}
    assert dict(trigger.options) == {"retention_days": 7, "wait": False, "expiry_note": "default"}
    assert trigger.reason_codes == ("MySecondError", "MyFirstError")  # as the diagnosis lists them
    (only_second,) = route(diagnosis(finding("MySecondError")), mine)
    assert dict(only_second.options) == {"retention_days": 14, "wait": False, "expiry_note": "default"}
    with pytest.raises(TypeError):
        trigger.options["wait"] = True  # type: ignore[index]


def test_unless_codes_veto_a_rule(tmp_path: Path) -> None:
    mine = _file(
        tmp_path,
        """
        version: 1
        rules:
          - match: {error_codes: [UserErrorRpCollectionLimitReached], unless_codes: [VmResourceGroupLocked]}
            playbooks: [clear-restore-point-limit]
        """,
    )
    assert ids(route(diagnosis(finding("UserErrorRpCollectionLimitReached")), mine)) == (CLEAR,)
    vetoed = diagnosis(finding("UserErrorRpCollectionLimitReached"), finding("vmresourcegrouplocked", Severity.WARNING))
    assert route(vetoed, mine) == ()
    info_only = diagnosis(finding("UserErrorRpCollectionLimitReached"), finding("VmResourceGroupLocked", Severity.INFO))
    assert ids(route(info_only, mine)) == (CLEAR,)


def test_route_is_pure() -> None:
    subject = diagnosis(finding("UserErrorBackupOperationInProgress"), finding("BackupExtensionFailed"))
    before = copy.deepcopy(subject.to_dict())
    first = route(subject, DEFAULT)
    assert route(subject, DEFAULT) == first
    assert subject.to_dict() == before
    assert DEFAULT == load_playbook_file(PLAYBOOKS / "default.yaml", schemas=REGISTRY)
    # No I/O: a file built in memory, with a path that does not exist, routes the same.
    in_memory = PlaybookFile(
        path="/nonexistent/never-read.yaml", version=1, rules=DEFAULT.rules, defaults=DEFAULT.defaults,
        guard_rails=DEFAULT.guard_rails, writes_allowed=True,
    )
    assert route(subject, in_memory) == first


def test_rule_built_in_code_routes_without_a_file() -> None:
    rule = PlaybookRule(error_codes=("Custom1",), playbooks=(TRIGGER, RESOLVE))
    in_memory = PlaybookFile("mem", 1, (rule,), {}, GuardRails(), True)
    assert route(diagnosis(finding("custom1")), in_memory) == (
        PlaybookRequest(RESOLVE, {}, ("custom1",)),
        PlaybookRequest(TRIGGER, {}, ("custom1",)),
    )


# -- properties ---------------------------------------------------------------------------------------

_CASED_CODES = st.sampled_from(CATALOGUE_CODES + ["BackupJobFailed", "MyOwnError"]).flatmap(
    lambda code: st.sampled_from([code, code.lower(), code.upper()])
)
_FINDINGS = st.lists(st.builds(finding, _CASED_CODES, st.sampled_from(list(Severity))), max_size=12)
_FILES = st.sampled_from([DEFAULT, PERMISSIVE, DIAGNOSE_ONLY])


@settings(max_examples=300, deadline=None)
@given(findings=_FINDINGS, playbook_file=_FILES, data=st.data())
def test_routing_is_deterministic_and_well_formed(findings, playbook_file, data) -> None:
    subject = diagnosis(*findings)
    requests = route(subject, playbook_file)
    assert route(diagnosis(*findings), playbook_file) == requests
    routed = ids(requests)
    assert len(set(routed)) == len(routed)
    assert set(routed) <= set(playbook_file.playbook_ids)
    if TRIGGER in routed:
        assert routed[-1] == TRIGGER
    codes = {f.code for f in findings if f.severity is not Severity.INFO}
    for request in requests:
        assert request.reason_codes and set(request.reason_codes) <= codes
    if not playbook_file.writes_allowed or not codes:
        assert requests == ()
    # At most one on-demand backup: with trigger-backup routed, no other playbook triggers its own.
    if TRIGGER in routed:
        for request in requests[:-1]:
            if "trigger_backup" in REGISTRY[request.playbook_id] and request.playbook_id != CLEAR:
                assert request.options["trigger_backup"] is False, request
    # Which playbooks run, and in which order, depends on the rules, not on the findings' order.
    shuffled = data.draw(st.permutations(findings))
    assert ids(route(diagnosis(*shuffled), playbook_file)) == routed
