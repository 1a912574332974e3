"""Issue 12, items 1-3, through the real SDK clients in-process: a failed extension that is not the
backup extension (re-run under allow_extension_changes, removed only when asked, a persisting cause
stops the run without a backup), VM states (offline is context, a transient state is waited out),
and the agent (never installed vs not ready; redeploy beside restart). Each asserts the report, the
sandbox state and that no on-demand backup is spent on a backup the diagnosis says would fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix import RunReport, StepStatus
from azbackup_fix.journal import Journal
from azbackup_fix.steps import REMOVE_EXTENSION, RERUN_EXTENSION
from azbackup_sandbox import Sandbox
from tests.gateway.sandbox_arm import Target, writes

RERUN = "rerun-failed-extension"


@pytest.fixture
def journal_path(tmp_path: Path) -> str:
    return str(tmp_path / "journal.sqlite")


def _vm_state(sandbox: Sandbox, name: str = "vm-app-01") -> dict[str, Any]:
    vms = sandbox.snapshot()["resources"]["compute"]["virtualMachines"]
    return next(v for v in vms if v["id"].lower().endswith("/" + name))


def _extension(sandbox: Sandbox, name: str) -> dict[str, Any] | None:
    return next((e for e in _vm_state(sandbox)["extensions"] if e["name"] == name), None)


def _backup_jobs(sandbox: Sandbox) -> int:
    return sum(1 for j in sandbox.snapshot()["resources"]["backup"]["jobs"] if j["operation"] == "Backup")


def _steps(report: RunReport) -> list[tuple[str, str]]:
    return [(s.step, s.status.value) for s in report.steps]


# ---- a failed extension that is not the backup extension ---------------------------------------------
def test_without_the_rail_nothing_is_written_and_the_rail_is_named(journal_path: str) -> None:
    target = Target(Sandbox(scenario="failed-extension-rerun"))
    before = json.dumps(target.sandbox.snapshot(), sort_keys=True)
    jobs = _backup_jobs(target.sandbox)
    target.sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        routed = fix.run(target.vm(), apply=True)
        assert routed.steps == () and routed.rails_needed == ("allow_extension_changes",)
        assert routed.exit_code == 3
        # Asked for explicitly, the re-run itself is refused, naming its rail, and so is its backup.
        asked = fix.run(target.vm(), apply=True, playbooks=[RERUN])
    (rerun,) = [s for s in asked.steps if s.step == "rerun-extension"]
    assert rerun.refused and rerun.rail == "allow_extension_changes" and "--allow-extension-changes" in rerun.reason
    assert all(s.status is StepStatus.SKIPPED for s in asked.steps) and asked.exit_code == 3
    assert writes(target.sandbox.requests()) == []
    assert json.dumps(target.sandbox.snapshot(), sort_keys=True) == before
    assert _backup_jobs(target.sandbox) == jobs


def test_the_rerun_uses_a_new_force_update_tag_journaled_before_and_the_backup_then_succeeds(
        journal_path: str) -> None:
    sandbox = Sandbox(scenario="failed-extension-rerun")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        plan = fix.plan(target.vm(), allow_extension_changes=True)
        assert [s.step for s in plan.steps] == ["rerun-extension", "reapply-vm", "trigger-backup"]
        (planned,) = [s for s in plan.steps if s.step == "rerun-extension"]
        tag = planned.detail_value("force_update_tag")
        assert tag and tag.startswith("azbackup-fix-")
        assert fix.plan(target.vm(), allow_extension_changes=True).to_dict()["playbooks"] == \
            plan.to_dict()["playbooks"]  # a pure function of the state: the same tag again
        report = fix.run(target.vm(), apply=True, allow_extension_changes=True)
    assert _steps(report) == [("rerun-extension", "changed"), ("reapply-vm", "changed"),
                              ("trigger-backup", "changed")], report.to_dict()
    assert report.exit_code == 0 and all(p.verified for p in report.playbooks)
    ext = sandbox.compute.get_extension(sandbox.compute.vm_by_id(target.vm().id), "MicrosoftMonitoringAgent")
    assert (ext.provisioning_state, ext.force_update_tag) == ("Succeeded", tag)
    assert ext.settings["workspaceId"] == "3f0a9c1e-5b7d-4e2a-9c8f-1d2e3f4a5b6c"  # its stored settings
    assert _vm_state(sandbox)["provisioningState"] == "Succeeded"
    (trigger,) = [s for s in report.steps if s.step == "trigger-backup"]
    assert trigger.detail_value("job_status") == "Completed"
    (entry,) = Journal(journal_path).changes_by_action(RERUN_EXTENSION)
    detail = json.loads(entry.detail)
    assert detail["forceUpdateTag"] == tag and detail["previousForceUpdateTag"] is None
    assert entry.target.endswith("/extensions/MicrosoftMonitoringAgent")


def test_a_cause_that_persists_stops_the_run_without_a_backup(journal_path: str) -> None:
    sandbox = Sandbox(scenario="failed-extension-persists")
    target = Target(sandbox)
    jobs = _backup_jobs(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, allow_extension_changes=True)
    steps = {s.step: s for s in report.steps}
    assert steps["rerun-extension"].status is StepStatus.FAILED
    assert "cause persists" in (steps["rerun-extension"].reason or "")
    assert "bootstrap.sh: not found" in (steps["rerun-extension"].reason or "")
    assert steps["trigger-backup"].status is StepStatus.SKIPPED
    assert report.exit_code == 1
    assert _backup_jobs(sandbox) == jobs  # the day's on-demand count is not spent
    ext = _extension(sandbox, "CustomScript")
    assert ext is not None and ext["provisioningState"] == "Failed"
    assert _vm_state(sandbox)["provisioningState"] == "Failed"


def test_removing_it_needs_the_option_and_journals_what_recreates_it(journal_path: str) -> None:
    sandbox = Sandbox(scenario="failed-extension-persists")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, allow_extension_changes=True,
                         options={RERUN: {"remove": True}})
    assert [s for s, status in _steps(report) if status == "changed"] == [
        "remove-extension", "reapply-vm", "trigger-backup"], report.to_dict()
    assert report.exit_code == 0
    assert _extension(sandbox, "CustomScript") is None and _vm_state(sandbox)["provisioningState"] == "Succeeded"
    (entry,) = Journal(journal_path).changes_by_action(REMOVE_EXTENSION)
    saved = json.loads(entry.detail)["extension"]
    assert saved["publisher"] == "Microsoft.Azure.Extensions" and saved["type"] == "CustomScript"
    assert saved["settings"] == {"commandToExecute": "/opt/app/bootstrap.sh --configure"}
    assert "protectedSettings" not in saved


# ---- VM states ---------------------------------------------------------------------------------------
def test_a_deallocated_vm_is_context_only_and_its_offline_backup_is_crash_consistent() -> None:
    sandbox = Sandbox(scenario="vm-deallocated")
    target = Target(sandbox)
    with target.remediator() as fix:
        diagnosis = fix.diagnose(target.vm())
        (finding,) = [f for f in diagnosis.findings if f.code == "VmNotRunning"]
        assert finding.severity.value == "info" and "not application-consistent" in finding.title
        assert not diagnosis.errors and "UserErrorGuestAgentStatusUnavailable" not in [f.code for f in diagnosis.findings]
        report = fix.run(target.vm(), apply=True, playbooks=["trigger-backup"], options={"trigger-backup": {
            "force": True}})
    assert _steps(report) == [("trigger-backup", "changed")]
    points = [p for c in sandbox.compute.collections_for_vm(target.vm().id) for p in c.points]
    assert max(points, key=lambda p: p.time_created).consistency_mode == "CrashConsistent"
    assert _vm_state(sandbox)["powerState"] == "deallocated"


def test_a_transient_state_is_waited_out_then_backed_up() -> None:
    sandbox = Sandbox(scenario="vm-transitioning")
    target = Target(sandbox)
    assert _vm_state(sandbox)["powerState"] == "starting"
    with target.remediator() as fix:
        report = fix.run(target.vm(), apply=True)
    assert _steps(report) == [("wait-for-vm-state", "unchanged"), ("trigger-backup", "changed")], report.to_dict()
    (wait,) = [s for s in report.steps if s.step == "wait-for-vm-state"]
    assert wait.detail_value("power_state") == "running"
    assert _vm_state(sandbox)["powerState"] == "running" and report.exit_code == 0


def test_a_state_that_does_not_settle_in_time_holds_the_backup() -> None:
    sandbox = Sandbox(scenario="vm-transitioning")
    target = Target(sandbox)
    jobs = _backup_jobs(sandbox)
    with target.remediator() as fix:
        report = fix.run(target.vm(), apply=True, options={"wait-for-vm-state": {"wait_minutes": 1}})
    steps = {s.step: s for s in report.steps}
    assert steps["wait-for-vm-state"].status is StepStatus.TIMED_OUT
    assert steps["trigger-backup"].status is StepStatus.SKIPPED and _backup_jobs(sandbox) == jobs


# ---- the agent -----------------------------------------------------------------------------------------
def test_an_agent_never_installed_is_told_apart_and_no_backup_is_spent(journal_path: str) -> None:
    sandbox = Sandbox(scenario="agent-not-installed")
    target = Target(sandbox)
    jobs = _backup_jobs(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        diagnosis = fix.diagnose(target.vm())
        report = fix.run(target.vm(), apply=True, allow_disruptive=True)
    codes = {f.code: f for f in diagnosis.findings}
    assert "VmAgentNotInstalled" in codes and "provisionVMAgent is false" in codes["VmAgentNotInstalled"].title
    assert "Enhanced" in codes["AgentlessCrashConsistentBackup"].title
    assert report.changed == () and _backup_jobs(sandbox) == jobs
    (held,) = [s for s in report.steps if s.step == "trigger-backup"]
    assert held.status is StepStatus.SKIPPED and "VmAgentNotInstalled" in (held.reason or "")
    assert "VmAgentNotInstalled" in report.report_only and report.exit_code == 5
    notes = [n for p in report.playbooks for n in p.notes]
    assert any("never installed" in n for n in notes) and any("agentless" in n for n in notes)


def test_installed_but_not_ready_restart_is_not_enough_and_the_backup_waits_for_the_agent(
        journal_path: str) -> None:
    sandbox = Sandbox(scenario="agent-not-ready-redeploy")
    target = Target(sandbox)
    jobs = _backup_jobs(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        diagnosis = fix.diagnose(target.vm())
        (agent,) = [f for f in diagnosis.findings if f.code == "UserErrorGuestAgentStatusUnavailable"]
        assert "installed but Not Ready" in agent.title
        report = fix.run(target.vm(), apply=True, allow_disruptive=True)  # the default rule: restart
    steps = {s.step: s for s in report.steps}
    assert steps["restart-vm"].status is StepStatus.CHANGED
    assert steps["wait-for-agent"].status is StepStatus.TIMED_OUT
    assert steps["trigger-backup"].status is StepStatus.SKIPPED and _backup_jobs(sandbox) == jobs
    assert _vm_state(sandbox)["agent"]["status"] == "Not Ready"


def test_redeploy_is_refused_without_allow_disruptive(journal_path: str) -> None:
    sandbox = Sandbox(scenario="agent-not-ready-redeploy")
    target = Target(sandbox)
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, playbooks=["recover-vm-provisioning"],
                         options={"recover-vm-provisioning": {"redeploy": True}})
    (redeploy,) = [s for s in report.steps if s.step == "redeploy-vm"]
    assert redeploy.refused and redeploy.rail == "allow_disruptive"
    assert writes(sandbox.requests()) == [] and report.exit_code == 3
