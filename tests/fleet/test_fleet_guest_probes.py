"""The diagnosis asks for guest probes itself when the job's error points inside the guest and the agent is
Ready: a single VM's GuestProbeSuggested names the command to run; a fleet scan without --probe-guest says
so per candidate and sends no Run Command; with it, it probes exactly those candidates (one Run Command
each) and names their guest causes. The generator's guest-cause kind gives a fleet such VMs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from azbackup_fix.models import Severity
from azbackup_sandbox import Sandbox
from azbackup_sandbox.scenarios.files import ESTATES_DIR
from tests.cli.cli_runner import run as cli
from tests.fleet.fleet_sandbox import Fleet, fleet
from tests.gateway.sandbox_arm import BROKEN, Target

GUEST_CODES = {"ExtensionFailedVssWriterInBadState", "ExtensionSnapshotFailedCOM", "ExtensionFailedSecureNetworkChannel",
               "AntivirusBlockingBackupExtension", "GuestAgentOutOfDate"}


def _run_commands(sandbox: Sandbox) -> list[str]:
    return [r.path for r in sandbox.requests() if r.method != "GET" and "RunCommand" in r.operation]


@pytest.mark.parametrize("scenario", ["guest-complus-stopped", "guest-defender-blocking", "guest-linux-agent-outdated",
                                      "guest-strong-crypto-missing", "guest-vss-writer-failed"])
def test_the_suggestion_names_the_command_to_run(scenario: str) -> None:
    target = Target(Sandbox(scenario=scenario))
    with target.remediator() as fix:
        report = fix.diagnose(target.vm())
    [hint] = [f for f in report.findings if f.code == "GuestProbeSuggested"]
    assert hint.severity is Severity.INFO
    assert f"azbackup-fix diagnose --vm {target.vm().id} --probe-guest" in hint.title
    assert _run_commands(target.sandbox) == []


def test_a_disabled_windows_installer_job_error_points_into_the_guest_too() -> None:
    document = yaml.safe_load((ESTATES_DIR / "guest-clean.yaml").read_text(encoding="utf-8"))
    sub = document["subscriptions"][0]
    vm = next(v for v in sub["vms"] if v["name"] == BROKEN)
    vm["guest"] = {"registry": {"HKLM\\SYSTEM\\CurrentControlSet\\Services\\msiserver\\Start": 4}}
    item = next(i for v in sub["vaults"] for i in v["protectedItems"] if i["vm"]["name"] == BROKEN)
    item["runBackups"] = 1  # tonight's backup runs through the job engine and meets the guest
    target = Target(Sandbox(estate=copy.deepcopy(document)))
    with target.remediator() as fix:
        report = fix.diagnose(target.vm())
    codes = [f.code for f in report.findings]
    assert "ExtensionVCRedistInstallationFailure" in codes and "GuestProbeSuggested" in codes, codes


def test_cli_diagnose_text_names_the_command() -> None:
    target = Target(Sandbox(scenario="guest-strong-crypto-missing"))
    code, out, err = cli("diagnose", "--sandbox", "guest-strong-crypto-missing", "--vm", target.vm().id,
                         "--output", "json")
    [hint] = [f for f in json.loads(out)["findings"] if f["code"] == "GuestProbeSuggested"]
    assert f"azbackup-fix diagnose --vm {target.vm().id} --probe-guest" in hint["title"], err


def test_a_fleet_scan_probes_only_when_asked_and_only_guest_candidates(tmp_path: Path) -> None:
    sb = fleet(60, "healthy=6,guest-cause=3,agent-not-ready=1", subscriptions=1, throttling=False)
    guest_vms = {vm.id.casefold() for vm in sb.compute.vms.values() if vm.tags["kind"] == "guest-cause"}
    assert guest_vms and {vm.tags.get("guest-cause") for vm in sb.compute.vms.values()} - {None}
    run = Fleet(sb, tmp_path / "journal.sqlite")
    sb.clear_requests()
    plain = run.scan()
    assert _run_commands(sb) == []
    hinted = {v.vm.casefold() for v in plain.vms if "--probe-guest" in (v.detail or "")}
    assert hinted == guest_vms
    assert all(f"azbackup-fix diagnose --vm {v.vm} --probe-guest" in (v.detail or "")
               for v in plain.vms if v.vm.casefold() in hinted)

    sb.clear_requests()
    probed = run.scan(probe_guest=True, fresh=True)
    reached = {p.split("/virtualMachines/")[1].split("/")[0].casefold() for p in _run_commands(sb)}
    assert reached == {i.rsplit("/", 1)[-1] for i in guest_vms}  # no Run Command for the agent-not-ready VMs
    runs = [p for p in _run_commands(sb) if p.lower().endswith("/runcommand") or "/runcommands/" in p.lower()]
    assert runs
    for v in probed.vms:
        if v.vm.casefold() in guest_vms:
            assert GUEST_CODES & set(v.findings), (v.vm, v.findings)
            assert "--probe-guest" not in (v.detail or "")


def test_a_fleet_scan_does_not_probe_a_guest_whose_path_explains_the_error(tmp_path: Path) -> None:
    # An NSG that denies storage explains ExtensionSnapshotFailedNoNetwork on its own: the guides fix the
    # path first, so --probe-guest spends no Run Command on those VMs (36 of 58 probes in docs/fleet.md's
    # benchmark were theirs) and says so; a guest cause is still probed.
    sb = fleet(60, "healthy=6,guest-cause=2,network-nsg-deny=2", subscriptions=1, throttling=False)
    kinds = {vm.id.casefold(): vm.tags["kind"] for vm in sb.compute.vms.values()}
    run = Fleet(sb, tmp_path / "journal.sqlite")
    sb.clear_requests()
    probed = run.scan(probe_guest=True)
    reached = {p.split("/virtualMachines/")[1].split("/")[0].casefold() for p in _run_commands(sb)}
    assert reached == {vm_id.rsplit("/", 1)[-1] for vm_id, kind in kinds.items() if kind == "guest-cause"}
    denied = [v for v in probed.vms if kinds[v.vm.casefold()] == "network-nsg-deny"]
    assert denied and all("StorageOutboundDenied" in v.findings for v in denied)
    assert all("the guest was not probed: StorageOutboundDenied explains" in (v.detail or "") for v in denied)
