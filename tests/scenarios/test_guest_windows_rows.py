"""Guide 001's remaining Windows rows through the CLI over the HTTPS sandbox (in-process ``main``, the
endpoint, CA bundle and managed identity from the environment): diagnose --probe-guest names the cause with
the guest's evidence; apply without the guest rail changes nothing in the guest; with it the fix runs
(journaled with the value before), the backup completes, the sandbox's guest is healthy and a second plan
has nothing left. Report-only rows say what the operator must do and never waste a backup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix.journal import Journal
from azbackup_fix.steps.guest import GUEST_FIX_ACTION
from azbackup_sandbox import Sandbox, SandboxServer
from tests.cli.cli_runner import run
from tests.gateway.sandbox_arm import BROKEN, Target
from tests.sandbox_cli import server_environment

FAST = 1e3  # Run Command's ~30 s and the backup job cost little real time
SUB = "a8383246-6edc-5168-a99f-ca020b3b8fc5"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/{BROKEN}"

# scenario -> (finding code, evidence field, its value, journaled setting)
FIXED_BY_CLI: dict[str, tuple[str, str, Any, str]] = {
    "guest-machinekeys-acl": ("ExtensionConfigParsingFailure", "guest_acl_sddl",
                              "O:SYG:SYD:PAI(A;;0x120089;;;WD)(A;;FA;;;BA)(A;;FA;;;BU)",
                              "C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys"),
    "guest-sql-vss-full-backup": ("SqlServerVssCopyBackupNotSet", "guest_sql_instance", "MSSQLSERVER",
                                  "HKLM\\SOFTWARE\\Microsoft\\BcdrAgent\\USEVSSCOPYBACKUP"),
}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    servers: list[SandboxServer] = []

    def start(scenario: str) -> SandboxServer:
        server = SandboxServer(Sandbox(scenario=scenario), clock_rate=FAST).__enter__()
        servers.append(server)
        for name, value in server_environment(server, tmp_path / "journal.sqlite").items():
            if name.startswith(("AZBACKUP_", "REQUESTS_", "IDENTITY_")):
                monkeypatch.setenv(name, value)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _json(*args: str) -> tuple[int, Any]:
    code, out, err = run(*args, "--output", "json")
    assert out.strip(), err
    return code, json.loads(out)


def _guest(server: SandboxServer):  # noqa: ANN202 - the sandbox's guest model
    return next(vm for vm in server.sandbox.compute.vms.values() if vm.name == BROKEN).guest


@pytest.mark.parametrize("scenario", sorted(FIXED_BY_CLI))
def test_cli_probes_fixes_backs_up_and_is_done(scenario: str, cli: Any, tmp_path: Path) -> None:
    code_, field, value, setting = FIXED_BY_CLI[scenario]
    server = cli(scenario)
    code, found = _json("diagnose", "--vm", VM, "--probe-guest")
    assert code == 4
    [finding] = [f for f in found["findings"] if f["code"] == code_]
    assert finding["evidence_fields"][field] == value and finding["guide"]
    before = _guest(server).to_estate()
    code, refused = _json("apply", "--yes", "--vm", VM)
    assert "allow_guest_changes" in json.dumps(refused) and _guest(server).to_estate() == before
    code, report = _json("apply", "--yes", "--vm", VM, "--allow-guest-changes")
    steps = {s["step"]: s for p in report["playbooks"] for s in p["steps"]}
    assert code == 0 and steps["fix-guest"]["status"] == "changed", report
    assert steps["trigger-backup"]["detail"]["job_status"] == "Completed"
    assert _guest(server).backup_failure() is None
    entries = [json.loads(c.detail) for c in Journal(str(tmp_path / "journal.sqlite")).changes_by_action(GUEST_FIX_ACTION)]
    assert [e["setting"] for e in entries] == [setting]
    assert entries[0]["before"] == (value if field == "guest_acl_sddl" else None)  # the value before it changed
    code, again = _json("plan", "--vm", VM, "--allow-guest-changes")
    assert not [s for p in again["playbooks"] for s in p["steps"] if s["status"] == "planned"], again


# scenario -> (finding code, severity, evidence field, its value, what the title tells the operator)
REPORTED: dict[str, tuple[str, str, str, Any, str]] = {
    "guest-applocker-blocking": ("ApplicationControlBlockingBackupExtension", "error", "guest_applocker_rule",
                                 "Deny Packages", "an Allow rule"),
    "guest-bitlocker-locked": ("ExtensionSnapshotFailedBitLocker", "error", "guest_locked_volume", "F:", "unlock"),
    "guest-reboot-pending": ("GuestRebootPending", "warning", "guest_pending_reboot", "Windows Update",
                             "restart the VM"),
}


@pytest.mark.parametrize("scenario", sorted(REPORTED))
def test_cli_reports_what_the_operator_must_do_and_wastes_no_backup(scenario: str, cli: Any) -> None:
    code_, severity, field, value, advice = REPORTED[scenario]
    server = cli(scenario)
    code, found = _json("diagnose", "--vm", VM, "--probe-guest")
    [finding] = [f for f in found["findings"] if f["code"] == code_]
    assert finding["severity"] == severity and finding["guide"] and advice in finding["title"]
    assert finding["evidence_fields"][field] == value
    vm_id = next(vm.id for vm in server.sandbox.compute.vms.values() if vm.name == BROKEN)
    jobs, before = len(server.sandbox.backup.jobs_for_vm(vm_id)), _guest(server).to_estate()
    code, report = _json("apply", "--yes", "--vm", VM, "--allow-guest-changes")
    changed = [s["step"] for p in report["playbooks"] for s in p["steps"] if s["status"] == "changed"]
    assert "fix-guest" not in changed and _guest(server).to_estate() == before  # nothing to fix in the guest
    if severity == "error":  # the guest still breaks the backup: none is triggered
        assert code != 0 and "trigger-backup" not in changed
        assert len(server.sandbox.backup.jobs_for_vm(vm_id)) == jobs
        assert _guest(server).backup_failure() is not None
    else:  # a pending restart decides nothing: the backups succeed
        assert code == 0 and _guest(server).backup_failure() is None


@pytest.mark.parametrize("scenario", sorted(REPORTED))
def test_api_reports_the_row_with_its_guide_and_plans_no_guest_change(scenario: str) -> None:
    code_, severity, _, _, _ = REPORTED[scenario]
    target = Target(Sandbox(scenario=scenario))
    with target.remediator() as fix:
        probed = fix.diagnose(target.vm(), probe_guest=True)
        plan = fix.plan(target.vm(), allow_guest_changes=True, probe_guest=True)  # probed: a dry run probes only when asked
    [finding] = [f for f in probed.findings if f.code == code_]
    assert finding.severity.value == severity and finding.guide_section and finding.playbooks == ()
    planned = [s.step for p in plan.playbooks for s in p.steps if s.status.value == "planned"]
    assert "fix-guest" not in planned
    assert "trigger-backup" not in planned, planned  # an error row still fails it; a pending restart failed none


def test_cli_full_reinstall_of_the_backup_extension(cli: Any, tmp_path: Path) -> None:
    server = cli("guest-vmsnapshot-stale-plugin")
    code, found = _json("diagnose", "--vm", VM)
    assert code == 4 and "BackupExtensionKeepsFailing" in [f["code"] for f in found["findings"]]
    code, refused = _json("apply", "--yes", "--vm", VM, "--allow-extension-changes")
    assert code == 3 and "allow_guest_changes" in refused["rails_needed"] and _guest(server).plugin_stale
    code, report = _json("apply", "--yes", "--vm", VM, "--allow-extension-changes", "--allow-guest-changes")
    steps = {s["step"]: s for p in report["playbooks"] for s in p["steps"]}
    assert code == 0, report
    assert [steps[k]["status"] for k in ("delete-extension", "clean-backup-plugin")] == ["changed", "changed"]
    assert steps["trigger-backup"]["detail"]["job_status"] == "Completed"
    assert not _guest(server).plugin_stale and _guest(server).backup_failure() is None
    entries = [json.loads(c.detail) for c in Journal(str(tmp_path / "journal.sqlite")).changes_by_action(GUEST_FIX_ACTION)]
    assert {e["action"] for e in entries} == {"remove-item"} and len(entries) == 2
    code, again = _json("plan", "--vm", VM, "--allow-extension-changes", "--allow-guest-changes")
    assert not [s for p in again["playbooks"] for s in p["steps"] if s["status"] == "planned"], again
