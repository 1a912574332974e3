"""Issue 18 item 1: each guard rail is one CLI flag, one playbook-file key and one Python keyword, and
together they are the whole gate. `--allow-disruptive` cancels a cancellable job past the stuck threshold."""

from __future__ import annotations

import json
from pathlib import Path

from azbackup_fix.models import StepStatus
from azbackup_fix.playbook_file import builtin_playbook_file, load_playbook_file
from azbackup_fix.playbooks import get_playbook
from azbackup_sandbox import Sandbox
from tests.gateway.sandbox_arm import Target, writes
from tests.operator_run.helpers import VM, cli, cli_json, steps


def test_cli_allow_disruptive_cancels_the_stuck_job_then_backs_up() -> None:
    code, doc, err = cli_json("apply", "--sandbox", "backup-in-progress", "--vm", VM, "--yes", "--allow-disruptive")
    assert steps(doc, "changed") == ["cancel-job", "trigger-backup"], doc
    assert code == 0 and doc["exit_code"] == 0, err
    (trigger,) = [s for p in doc["playbooks"] for s in p["steps"] if s["step"] == "trigger-backup"]
    assert trigger["detail"]["job_status"] == "Completed"


def test_api_keyword_alone_cancels_the_stuck_job_in_the_sandbox(journal_path: str) -> None:
    sandbox = Sandbox(scenario="backup-in-progress")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        stuck = fix.observe(target.vm()).in_progress_jobs
        report = fix.run(target.vm(), apply=True, allow_disruptive=True)
        assert [s.step for s in report.changed] == ["cancel-job", "trigger-backup"]
        assert report.exit_code == 0
        fix.gateway.invalidate()
        assert fix.gateway.get_job(stuck[0].ref).status == "Cancelled"
        assert fix.observe(target.vm()).in_progress_jobs == ()


def test_without_the_rail_the_stuck_job_is_refused_naming_the_flag_and_nothing_waits() -> None:
    code, doc, _ = cli_json("plan", "--sandbox", "backup-in-progress", "--vm", VM)
    assert code == 3 and doc["rails_needed"] == ["allow_disruptive"]
    (cancel,) = [s for p in doc["playbooks"] for s in p["steps"] if s["step"] == "cancel-job"]
    assert cancel["refused"] and cancel["rail"] == "allow_disruptive" and "--allow-disruptive" in cancel["reason"]
    assert "wait-for-jobs" not in steps(doc)  # a stuck job is not waited for (a silent hour otherwise)
    code, out, _ = cli("apply", "--sandbox", "backup-in-progress", "--vm", VM, "--yes")
    assert code == 3 and "--allow-disruptive" in out


def test_api_without_the_keyword_writes_nothing(journal_path: str) -> None:
    sandbox = Sandbox(scenario="backup-in-progress")
    target = Target(sandbox)
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True)
    assert report.exit_code == 3 and report.rails_needed == ("allow_disruptive",)
    assert writes(sandbox.requests()) == [] and report.write_count == 0
    assert not any(s.status is StepStatus.TIMED_OUT for s in report.steps)


def test_playbook_file_key_alone_opens_the_rail(tmp_path: Path) -> None:
    text = Path(builtin_playbook_file("default")).read_text(encoding="utf-8")
    assert "  allow_disruptive: false" in text
    mine = tmp_path / "mine.yaml"
    mine.write_text(text.replace("  allow_disruptive: false", "  allow_disruptive: true"), encoding="utf-8")
    assert load_playbook_file(mine).guard_rails.allow_disruptive
    code, doc, _ = cli_json("apply", "--sandbox", "backup-in-progress", "--vm", VM, "--yes", "--playbooks", str(mine))
    assert code == 0 and steps(doc, "changed") == ["cancel-job", "trigger-backup"]


def test_no_hidden_option_gates_a_rail() -> None:
    assert "cancel_stuck" not in get_playbook("resolve-backup-in-progress").options


def test_playbooks_command_shows_each_playbooks_rail() -> None:
    code, out, _ = cli("playbooks", "--output", "json")
    rails = {row["id"]: row["rail"] for row in json.loads(out)}
    assert code == 0
    assert rails["resolve-backup-in-progress"] == "allow_disruptive"
    assert rails["recover-vm-provisioning"] == "allow_disruptive"
    assert rails["resume-protection"] == rails["stop-protection-retain-data"] == "allow_protection_changes"
    assert rails["clear-restore-point-limit"] is None and rails["trigger-backup"] is None
    _, text, _ = cli("playbooks")
    block = text.split("resolve-backup-in-progress", 1)[1].split("\n\n", 1)[0]
    assert "needs --allow-disruptive" in block


def test_demo_uses_the_flags_a_user_would() -> None:
    source = Path(__file__).resolve().parents[2] / "azbackup_fix/cli/commands/demo.py"
    assert "cancel_stuck" not in source.read_text(encoding="utf-8")
    code, out, _ = cli("demo", "--output", "json")
    doc = json.loads(out)
    stuck = next(v for v in doc["vms"] if "cancel-job" in steps(v["apply"]))
    assert code == 0 and steps(stuck["apply"], "changed") == ["cancel-job", "trigger-backup"]
