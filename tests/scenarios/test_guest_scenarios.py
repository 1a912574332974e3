"""The guest scenarios through the Python API and the CLI, against the sandbox's guest model: diagnose with
probes names the guest cause with its evidence; without allow_guest_changes nothing runs in the guest; with
it the fix runs (journaled with the value before), the re-probe is clean, the backup succeeds and a second
run plans nothing. Impossible channels (agent Not Ready, Extensions.Enable=n) say so and trigger no backup;
a probe whose output is cut is reported as such, never as healthy."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from azbackup_fix.journal import Journal
from azbackup_fix.models import Severity
from azbackup_fix.steps.guest import GUEST_FIX_ACTION
from azbackup_sandbox import Sandbox
from azbackup_sandbox.scenarios.files import ESTATES_DIR
from tests.cli.cli_runner import run as _cli
from tests.cli.test_remediate_cli import VM
from tests.gateway.sandbox_arm import BROKEN, Target

# scenario -> (code the probe finds, evidence label, value, rails the fix needs beyond allow_guest_changes)
FIXABLE: dict[str, tuple[str, str, object, tuple[str, ...]]] = {
    "guest-vss-writer-failed": ("ExtensionFailedVssWriterInBadState", "guest vss writer", "SqlServerWriter",
                                ("allow_disruptive",)),
    "guest-complus-stopped": ("ExtensionSnapshotFailedCOM", "guest msdtc account", "LocalSystem",
                              ("allow_disruptive",)),
    "guest-strong-crypto-missing": ("ExtensionFailedSecureNetworkChannel", "guest registry key",
                                    "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319", ()),
    "guest-defender-blocking": ("AntivirusBlockingBackupExtension", "guest folder not excluded",
                                "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot", ()),
    "guest-linux-agent-outdated": ("GuestAgentOutOfDate", "guest agent version", "2.2.9", ()),
    "guest-machinekeys-acl": ("ExtensionConfigParsingFailure", "guest acl sddl",
                              "O:SYG:SYD:PAI(A;;0x120089;;;WD)(A;;FA;;;BA)(A;;FA;;;BU)", ()),
    "guest-sql-vss-full-backup": ("SqlServerVssCopyBackupNotSet", "guest sql instance", "MSSQLSERVER", ()),
}


def _run_command_requests(sandbox: Sandbox) -> list[str]:
    return [r.operation for r in sandbox.requests() if "RunCommand" in r.operation]


def _vm_model(sandbox: Sandbox):  # noqa: ANN202 - the sandbox's model
    return next(vm for vm in sandbox.compute.vms.values() if vm.name == BROKEN)


@pytest.mark.parametrize("scenario", sorted(FIXABLE))
def test_probe_names_the_guest_cause_with_evidence(scenario: str) -> None:
    code, label, value, _ = FIXABLE[scenario]
    target = Target(Sandbox(scenario=scenario))
    with target.remediator() as fix:
        plain = fix.diagnose(target.vm())
        assert _run_command_requests(target.sandbox) == []  # off by default: nothing runs in the guest
        assert any(f.code == "GuestProbeSuggested" and f.severity is Severity.INFO for f in plain.findings) \
            or scenario == "guest-linux-agent-outdated"
        probed = fix.diagnose(target.vm(), probe_guest=True)
    finding = next(f for f in probed.findings if f.code == code)
    assert finding.severity is Severity.ERROR and finding.guide and "fix-guest" in finding.playbooks
    assert value in [e.value for e in finding.evidence if e.label == label], finding.evidence
    assert finding.evidence_value("guest channel") in ("managed", "action")
    assert _run_command_requests(target.sandbox)


@pytest.mark.parametrize("scenario", sorted(FIXABLE))
def test_fix_needs_the_rail_then_fixes_verifies_backs_up_and_is_done(scenario: str, tmp_path: Path) -> None:
    code, _, _, extra = FIXABLE[scenario]
    sandbox = Sandbox(scenario=scenario)
    target = Target(sandbox)
    journal = tmp_path / "j.sqlite"
    guest_before = _vm_model(sandbox).guest.to_estate()
    with target.remediator(journal_path=str(journal)) as fix:
        refused = fix.run(target.vm(), apply=True)
        assert "allow_guest_changes" in refused.withheld_rails
        assert _run_command_requests(sandbox) == [] and _vm_model(sandbox).guest.to_estate() == guest_before
        rails = {rail: True for rail in ("allow_guest_changes", *extra)}
        report = fix.run(target.vm(), apply=True, **rails)
        [step] = [s for p in report.playbooks if p.playbook == "fix-guest" for s in p.steps]
        assert step.status.value == "changed", step.reason
        [backup] = [s for p in report.playbooks for s in p.steps if s.step == "trigger-backup"]
        assert backup.status.value == "changed" and backup.detail_value("job_status") == "Completed"
        again = fix.plan(target.vm(), **rails)
    assert not [s for p in again.playbooks for s in p.steps if s.status.value == "planned"]
    assert _vm_model(sandbox).guest.backup_failure() is None
    entries = Journal(str(journal)).changes_by_action(GUEST_FIX_ACTION)
    assert entries and all("before" in json.loads(e.detail) for e in entries)
    assert all(e.target.startswith(target.vm().id + "#") for e in entries)


def test_a_service_restart_needs_allow_disruptive_too(tmp_path: Path) -> None:
    sandbox = Sandbox(scenario="guest-vss-writer-failed")
    target = Target(sandbox)
    with target.remediator(journal_path=str(tmp_path / "j.sqlite")) as fix:
        report = fix.run(target.vm(), apply=True, allow_guest_changes=True)
    [step] = [s for p in report.playbooks if p.playbook == "fix-guest" for s in p.steps]
    assert step.refused and step.rail == "allow_disruptive"
    assert [op for op in _run_command_requests(sandbox)] and _vm_model(sandbox).guest.backup_failure() is not None
    assert not [s for p in report.playbooks for s in p.steps if s.step == "trigger-backup" and s.status.value == "changed"]


@pytest.mark.parametrize(("scenario", "why"), [
    ("guest-firewall-wireserver", "Azure-side levers only"),
    ("guest-linux-extensions-disabled", "Extensions.Enable=n"),
])
def test_an_impossible_channel_says_so_and_wastes_no_backup(scenario: str, why: str, tmp_path: Path) -> None:
    sandbox = Sandbox(scenario=scenario)
    target = Target(sandbox)
    with target.remediator(journal_path=str(tmp_path / "j.sqlite")) as fix:
        probed = fix.diagnose(target.vm(), probe_guest=True)
        report = fix.run(target.vm(), apply=True, allow_guest_changes=True)
    [finding] = [f for f in probed.findings if f.code == "GuestChannelUnavailable"]
    assert why in finding.title
    assert not [s for p in report.playbooks for s in p.steps if s.step == "trigger-backup" and s.status.value == "changed"]
    assert len([j for j in sandbox.backup.jobs_for_vm(_vm_model(sandbox).id)]) == len(
        [j for j in Sandbox(scenario=scenario).backup.jobs_for_vm(_vm_model(sandbox).id)])


def test_a_cut_probe_is_reported_as_such_never_as_healthy() -> None:
    document = yaml.safe_load((ESTATES_DIR / "guest-clean.yaml").read_text(encoding="utf-8"))
    vm = next(v for v in document["subscriptions"][0]["vms"] if v["name"] == BROKEN)
    writers = [{"name": f"Writer {i:03d} with a long name", "service": "VSS"} for i in range(80)]
    vm["guest"] = {"vssWriters": writers}
    target = Target(Sandbox(estate=copy.deepcopy(document)))
    with target.remediator() as fix:
        report = fix.diagnose(target.vm(), probe_guest=True)
    [finding] = [f for f in report.findings if f.code == "GuestProbeFailed"]
    assert "4,096 bytes" in finding.title and finding.severity is Severity.WARNING
    assert not report.is_healthy


def test_disabled_windows_installer_is_found_and_set_to_manual(tmp_path: Path) -> None:
    document = yaml.safe_load((ESTATES_DIR / "guest-clean.yaml").read_text(encoding="utf-8"))
    vm = next(v for v in document["subscriptions"][0]["vms"] if v["name"] == BROKEN)
    vm["guest"] = {"registry": {"HKLM\\SYSTEM\\CurrentControlSet\\Services\\msiserver\\Start": 4}}
    sandbox = Sandbox(estate=document)
    assert _vm_model(sandbox).guest.backup_failure()[0] == "ExtensionVCRedistInstallationFailure"
    target = Target(sandbox)
    with target.remediator(journal_path=str(tmp_path / "j.sqlite")) as fix:
        found = fix.diagnose(target.vm(), probe_guest=True)
        assert found.findings and found.findings[0].evidence_value("guest msiserver start") == 4
        report = fix.run(target.vm(), playbooks=["fix-guest", "trigger-backup"], apply=True, allow_guest_changes=True)
    assert [s.status.value for s in report.steps] == ["changed", "changed"], report.to_dict()
    assert _vm_model(sandbox).guest.registry["HKLM\\SYSTEM\\CurrentControlSet\\Services\\msiserver\\Start"] == 3


def test_clean_guest_probes_find_nothing() -> None:
    target = Target(Sandbox(scenario="guest-clean"))
    with target.remediator() as fix:
        report = fix.diagnose(target.vm(), probe_guest=True)
    assert report.findings == () and _run_command_requests(target.sandbox)


# ---- the CLI ------------------------------------------------------------------------------------------
def test_cli_diagnose_probe_guest_and_apply_with_the_rail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZBACKUP_JOURNAL", str(tmp_path / "journal.sqlite"))
    code, out, _ = _cli("diagnose", "--sandbox", "guest-defender-blocking", "--vm", VM, "--probe-guest",
                        "--output", "json")
    assert code == 4
    codes = [f["code"] for f in json.loads(out)["findings"]]
    assert "AntivirusBlockingBackupExtension" in codes
    code, out, _ = _cli("plan", "--sandbox", "guest-defender-blocking", "--vm", VM, "--output", "json")
    assert "allow_guest_changes" in json.dumps(json.loads(out))
    code, out, _ = _cli("apply", "--sandbox", "guest-defender-blocking", "--vm", VM, "--yes",
                        "--allow-guest-changes", "--output", "json")
    doc = json.loads(out)
    steps = {s["step"]: s["status"] for p in doc["playbooks"] for s in p["steps"]}
    assert code == 0 and steps == {"fix-guest": "changed", "trigger-backup": "changed"}
