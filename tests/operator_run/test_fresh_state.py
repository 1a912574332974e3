"""Issue 18 item 4: each playbook plans from the state the previous one left; the backup is triggered only
when nothing diagnosed would make it fail; a failed step is never "verified", with or without --no-wait."""

from __future__ import annotations

from azbackup_fix.models import StepStatus
from azbackup_sandbox import Sandbox
from tests.gateway.sandbox_arm import Target
from tests.operator_run.helpers import VM, cli_json


def _triggers(sandbox: Sandbox) -> list[object]:
    return [r for r in sandbox.requests() if r.operation == "Backups_Trigger"]


def test_resume_protection_then_the_backup_in_one_run(journal_path: str) -> None:
    sandbox = Sandbox(scenario="protection-stopped")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, allow_protection_changes=True)
        assert [s.step for s in report.changed] == ["update-protection", "trigger-backup"], report.to_dict()
        assert report.exit_code == 0 and all(p.verified is not False for p in report.playbooks)
        fix.gateway.invalidate()
        assert fix.observe(target.vm()).current_failed_job is None  # the backup succeeded
    code, doc, _ = cli_json("apply", "--sandbox", "protection-stopped", "--vm", VM, "--yes",
                            "--allow-protection-changes")
    assert code == 0 and doc["exit_code"] == 0


def test_no_backup_after_a_clearing_playbook_failed(journal_path: str) -> None:
    sandbox = Sandbox(scenario="rp-limit-locked")
    sandbox.config.rpc_delete_batch = 2  # the delete times out more often than the guide's retries
    target = Target(sandbox)
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True)
    # The backup sits in the clearing playbook (before its locks return): held after its failed delete.
    (trigger,) = [s for s in report.steps if s.step == "trigger-backup"]
    assert trigger.status is StepStatus.SKIPPED
    assert "delete-restore-point-collection" in (trigger.reason or "") or "would fail" in (trigger.reason or "")
    assert _triggers(sandbox) == [] and report.exit_code == 1


def test_no_backup_while_the_agent_is_not_ready(journal_path: str) -> None:
    # The internal-error rule routes a retry; the agent Not Ready would make it fail again.
    sandbox = Sandbox(scenario="agent-not-ready")
    target = Target(sandbox)
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        plan = fix.plan(target.vm(), playbooks=["trigger-backup"])
        report = fix.run(target.vm(), apply=True, playbooks=["trigger-backup"])
    for r in (plan, report):
        (trigger,) = r.steps
        assert trigger.status is StepStatus.SKIPPED and "UserErrorGuestAgentStatusUnavailable" in (trigger.reason or "")
        assert r.exit_code == 5 and r.report_only == ("UserErrorGuestAgentStatusUnavailable",)
    assert _triggers(sandbox) == []


def test_a_failed_step_is_never_verified_with_or_without_wait(journal_path: str) -> None:
    for wait in (True, False):
        sandbox = Sandbox(scenario="rp-limit-locked")
        sandbox.config.rpc_delete_batch = 2
        target = Target(sandbox)
        with target.remediator(journal_path=journal_path) as fix:
            report = fix.run(target.vm(), apply=True, wait=wait)
        (clear,) = [p for p in report.playbooks if p.playbook == "clear-restore-point-limit"]
        assert clear.failed and clear.verified is False, (wait, clear)
        assert "failed" in (clear.verification or "") and "nothing left to do" not in (clear.verification or "")
        assert report.exit_code == 1
