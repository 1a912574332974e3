"""Issue 12, items 5 and 6, through the real SDK clients in-process (the HTTPS runs are in
tests/e2e/test_jobs_policy_cli.py): a Deny policy named from Policy Insights and never exempted; jobs in
the VM's old vault, a cancel refused as "not in progress" retried once after a minute, a backup over
12 h, a stuck job not waited on, progress while a normal job is waited for."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from azure.core.exceptions import HttpResponseError

from azbackup_fix import StepStatus
from azbackup_fix.checks import backup_blockers
from azbackup_fix.models.events import RunEvent
from azbackup_fix.models.timestamps import parse_timestamp
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.rbac import DEFAULT_PRINCIPAL
from tests.gateway.sandbox_arm import Target, writes
from tests.operator_run.helpers import cli, cli_json
from tests.sandbox_cli import run_cli, server_environment

TRIGGER = "trigger-backup"
RP_GROUP = "AzureBackupRG_eastus_1"
ASSIGNMENT = "require-costcenter-rg"


@pytest.fixture
def journal_path(tmp_path: Path) -> str:
    return str(tmp_path / "journal.sqlite")


def _finding(diagnosis, code: str):
    (found,) = [f for f in diagnosis.findings if f.code == code]
    return found


def _cancels(sandbox: Sandbox) -> list:
    return [r for r in sandbox.requests() if r.method == "POST" and r.path.lower().endswith("/cancel")]


# ---- policy denials ---------------------------------------------------------------------------------
def test_the_deny_assignment_is_named_from_policy_states_and_nothing_is_written(journal_path: str) -> None:
    sandbox = Sandbox(scenario="policy-deny-rp-group")
    target = Target(sandbox)
    sandbox.clear_requests()
    before = json.dumps(sandbox.snapshot(), sort_keys=True)
    with target.remediator(journal_path=journal_path) as fix:
        finding = _finding(fix.diagnose(target.vm()), "UserErrorRequestDisallowedByPolicy")
        report = fix.run(target.vm(), apply=True)
    assert finding.severity.value == "error" and finding.playbooks == ()
    assert f"'{ASSIGNMENT}'" in finding.title and "Modify" in finding.title and RP_GROUP in finding.title
    assert finding.evidence_value("policy assignment").endswith(f"/policyAssignments/{ASSIGNMENT}")
    assert finding.evidence_value("policy definition").endswith("/policyDefinitions/96670d01-0a4d-4649-9c89-2d3abc0a5025")
    assert finding.evidence_value("restore-point group exists") is False
    assert finding.evidence_value("groups the policy finds non-compliant") == "rg-sandbox-legacy"
    assert finding.guide == "001" and finding.guide_section.startswith("usererrorrequestdisallowedbypolicy")
    # Report only: no exemption, no policy or group change, and no backup the diagnosis says would fail.
    assert report.exit_code == 5 and report.write_count == 0 and TRIGGER not in [s.step for s in report.steps]
    assert writes(sandbox.requests()) == []
    assert json.dumps(sandbox.snapshot(), sort_keys=True) == before
    queried = [r for r in sandbox.requests() if r.path.lower().endswith("/policystates/latest/queryresults")]
    assert len(queried) == 2  # once per observation (diagnose, then run), because the job failed for a policy


def test_a_group_created_with_the_tag_lets_the_next_backup_succeed(journal_path: str) -> None:
    sandbox = Sandbox(scenario="policy-deny-rp-group")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        groups = fix.gateway.resources.resource_groups
        # ARM applies the Deny assignment to anyone's write, as it did to the backup service's.
        with pytest.raises(HttpResponseError) as denied:
            groups.create_or_update(RP_GROUP, {"location": "eastus"})
        assert denied.value.status_code == 403 and denied.value.error.code == "RequestDisallowedByPolicy"
        assert ASSIGNMENT in str(denied.value)
        # The guide's second option: create the group with the naming schema and the tag the policy requires.
        groups.create_or_update(RP_GROUP, {"location": "eastus", "tags": {"CostCenter": "4711"}})
        fix.gateway.invalidate()
        after = _finding(fix.diagnose(target.vm()), "UserErrorRequestDisallowedByPolicy")
        # The state says the cause is gone (the failed job keeps the finding an error until a backup succeeds,
        # but it no longer blocks one).
        assert "now exists" in after.title and after.evidence_value("restore-point group exists") is True
        assert "UserErrorRequestDisallowedByPolicy" not in [f.code for f in backup_blockers(fix.observe(target.vm()))]
        report = fix.run(target.vm(), apply=True, playbooks=[TRIGGER], options={TRIGGER: {"force": True}})
        (step,) = report.steps
        assert step.status is StepStatus.CHANGED and step.detail_value("job_status") == "Completed"
        fix.gateway.invalidate()
        assert "UserErrorRequestDisallowedByPolicy" not in [f.code for f in fix.diagnose(target.vm()).findings]
    (rpc,) = [c for c in sandbox.compute.collections.values() if c.resource_group == RP_GROUP]
    assert len(rpc.points) == 1


def test_with_a_modify_effect_the_service_creates_the_group_tagged(journal_path: str) -> None:
    sandbox = Sandbox(scenario="policy-deny-rp-group")
    (assignment,) = sandbox.policy.assignments.values()
    assignment.effect, assignment.tag_value = "Modify", "backup"  # the policy owner's change, not ours
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, playbooks=[TRIGGER], options={TRIGGER: {"force": True}})
    (step,) = report.steps
    assert step.detail_value("job_status") == "Completed"
    group = sandbox.resources.find_group(target.subscription, RP_GROUP)
    assert group is not None and group.tags == {"CostCenter": "backup"}


def test_without_policy_insights_read_the_finding_names_the_action(journal_path: str) -> None:
    sandbox = Sandbox(scenario="policy-deny-rp-group")
    sandbox.config.rbac = sandbox.rbac.enforce = True
    sandbox.rbac.assign(DEFAULT_PRINCIPAL, actions=("*/read",), not_actions=("Microsoft.PolicyInsights/*",))
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        finding = _finding(fix.diagnose(target.vm()), "UserErrorRequestDisallowedByPolicy")
    assert "Microsoft.PolicyInsights/policyStates/queryResults/read" in finding.title
    assert finding.severity.value == "error"
    assert [r.status for r in sandbox.requests() if "policyinsights" in r.path.lower()] == [403]


def test_cli_diagnose_names_the_assignment() -> None:
    code, doc, _ = cli_json("diagnose", "--sandbox", "policy-deny-rp-group")
    found = [f for d in doc for f in d["findings"] if f["code"] == "UserErrorRequestDisallowedByPolicy"]
    assert code == 4 and len(found) == 2  # the neighbour's backup needs the same group
    finding = found[0]
    assert finding["evidence_fields"]["policy_assignment"].endswith(ASSIGNMENT)
    assert finding["guide_url"].startswith("https://learn.microsoft.com/en-us/azure/backup/backup-azure-vms-troubleshoot#")
    code, out, _ = cli("apply", "--sandbox", "policy-deny-rp-group", "--yes")
    assert code == 5 and "0 writes" in out


# ---- jobs ---------------------------------------------------------------------------------------------
def test_a_job_in_the_old_vault_is_found_and_cancelled_only_with_the_rail(journal_path: str) -> None:
    sandbox = Sandbox(scenario="backup-old-vault-in-progress")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        obs = fix.observe(target.vm())
        assert obs.vault is not None and obs.vault.name == "rsv-prod-eastus"
        (old,) = obs.in_progress_jobs_elsewhere
        finding = _finding(fix.diagnose(target.vm()), "BackupJobInProgressElsewhere")
        assert "rsv-old-eastus" in finding.title and "stuck" in finding.title
        sandbox.clear_requests()
        refused = fix.run(target.vm(), apply=True)
        assert refused.exit_code == 3 and refused.rails_needed == ("allow_disruptive",)
        assert writes(sandbox.requests()) == []
        report = fix.run(target.vm(), apply=True, allow_disruptive=True)
        assert [s.step for s in report.changed] == ["cancel-job", TRIGGER] and report.exit_code == 0
        fix.gateway.invalidate()
        assert fix.gateway.get_job(old.ref).status == "Cancelled"
    (cancel,) = _cancels(sandbox)
    assert "/vaults/rsv-old-eastus/" in cancel.path.lower()


def test_the_trigger_step_checks_the_old_vault_before_posting(journal_path: str) -> None:
    sandbox = Sandbox(scenario="backup-old-vault-in-progress")
    target = Target(sandbox)
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, playbooks=[TRIGGER], options={TRIGGER: {"force": True}})
    (step,) = report.steps
    assert step.status is StepStatus.SKIPPED and step.refused and "rsv-old-eastus" in (step.reason or "")
    assert writes(sandbox.requests()) == []  # no backup the service would fail with InProgress


def test_a_cancel_refused_as_not_in_progress_is_retried_once_after_a_minute(journal_path: str) -> None:
    sandbox = Sandbox(scenario="backup-cancel-transitory")
    target = Target(sandbox)
    started = sandbox.clock.now()
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        (stuck,) = fix.observe(target.vm()).in_progress_jobs
        report = fix.run(target.vm(), apply=True, allow_disruptive=True)
        fix.gateway.invalidate()
        assert fix.gateway.get_job(stuck.ref).status == "Cancelled"
    assert [s.step for s in report.changed] == ["cancel-job", TRIGGER] and report.exit_code == 0
    first, second = _cancels(sandbox)
    assert first.status == 400 and second.status in (200, 202)
    assert parse_timestamp(second.time) - parse_timestamp(first.time) >= timedelta(seconds=60)  # the virtual clock: a minute, not a busy loop
    assert sandbox.clock.now() - started >= timedelta(seconds=60)


def test_a_second_not_in_progress_refusal_fails_the_step(journal_path: str) -> None:
    sandbox = Sandbox(scenario="backup-cancel-transitory")
    for job in sandbox.backup.jobs.values():
        if job.running:
            job.cancel_refused_until = sandbox.clock.now() + timedelta(hours=1)
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, allow_disruptive=True)
    cancel = next(s for s in report.steps if s.step == "cancel-job")
    assert cancel.status is StepStatus.FAILED and cancel.error_code == "BMSUserErrorJobNotInProgress"
    assert len(_cancels(sandbox)) == 2 and report.exit_code == 1  # retried once, not forever


def test_a_backup_over_twelve_hours_gets_the_guides_finding_and_is_waited_for_with_progress(
        journal_path: str) -> None:
    sandbox = Sandbox(scenario="backup-running-long")
    target = Target(sandbox)
    events: list[RunEvent] = []
    with target.remediator(journal_path=journal_path) as fix:
        finding = _finding(fix.diagnose(target.vm()), "BackupJobTakingLong")
        assert finding.guide == "001" and finding.guide_section == "backup-or-restore-takes-time"
        assert finding.evidence_value("running for (hours)") >= 14.0  # the neighbour's backup ran meanwhile
        report = fix.run(target.vm(), apply=True, events=events.append)
    assert [s.step for s in report.steps] == ["wait-for-jobs", TRIGGER] and report.exit_code == 0
    progress = [e.message for e in events if e.kind == "wait-progress"]
    assert any("InProgress, transfer to vault" in m for m in progress) and any("Completed" in m for m in progress)
    assert all(a != b for a, b in zip(progress, progress[1:], strict=False))  # one line per change, not per poll
    (trigger,) = [s for s in report.steps if s.step == TRIGGER]
    assert trigger.detail_value("job_status") == "Completed"


def test_a_stuck_job_past_its_snapshot_phase_is_neither_waited_on_nor_followed_by_a_backup(
        journal_path: str) -> None:
    sandbox = Sandbox(scenario="backup-in-progress")
    for job in sandbox.backup.jobs.values():
        if job.running:
            job.cancellable = False  # past its snapshot phase: the guide says wait, it does not finish
    target = Target(sandbox)
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, allow_disruptive=True)
    (playbook,) = [p for p in report.playbooks if p.playbook == "resolve-backup-in-progress"]
    assert any("is stuck" in n and "cannot be cancelled" in n for n in playbook.notes), playbook.notes
    assert "wait-for-jobs" not in [s.step for s in report.steps]
    assert not any(s.status is StepStatus.TIMED_OUT for s in report.steps)
    assert writes(sandbox.requests()) == []


# ---- the current guide 001's newer codes ---------------------------------------------------------
# Explicit job history (the sandbox has no guest model for VSS or antivirus yet), so not a shipped estate:
# shipped estates must be what the job engine makes of them.
NEWER_CODES = Path(__file__).with_name("newer-codes-guest.yaml")


def test_newer_guest_codes_are_reported_with_the_current_article_and_never_backed_up(
        journal_path: str, tmp_path: Path) -> None:
    sandbox = Sandbox(estate=yaml.safe_load(NEWER_CODES.read_text(encoding="utf-8")))
    target = Target(sandbox)
    steps_for = {"vm-app-01": ("ExtensionFailedVssServiceInBadState", "net stop VSS"),
                 "vm-app-02": ("VMRestorePointInternalError", "IaaSBcdrExtension.exe")}
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        for vm, (code, step) in steps_for.items():
            found = _finding(fix.diagnose(target.vm(vm)), code)
            assert found.guide == "001" and found.severity.value == "error"
            assert any(step in s for s in found.guest_steps)
            # Guest-side until the guest channel lands: report only, and no backup that would fail again.
            report = fix.run(target.vm(vm), apply=True)
            assert report.exit_code == 5 and TRIGGER not in [s.step for s in report.steps]
    assert writes(sandbox.requests()) == []
    with SandboxServer(sandbox) as server:  # and the CLI, over HTTPS, as a pipeline runs it
        env = server_environment(server, tmp_path / "cli-journal.sqlite")
        done = run_cli(env, "diagnose", "--vm", target.vm().id, "--output", "markdown", timeout=120)
    assert done.returncode == 4, done.stderr
    assert "backup-azure-vms-troubleshoot#extensionfailedvssserviceinbadstate" in done.stdout
