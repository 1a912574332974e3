"""Issue 18 item 10 (part): text and Markdown reports carry no internal keys (`(attempts 1)`,
`[inspection_only]`, "1 writes", a repeated error title) and apply ends with one overall summary line."""

from __future__ import annotations

import re

from tests.operator_run.helpers import OTHER, VM, cli


def test_apply_text_reads_like_a_report_with_one_summary_line() -> None:
    code, out, _ = cli("apply", "--sandbox", "rp-limit-locked", "--vm", VM, "--vm", OTHER, "--yes")
    assert code == 0
    for internal in ("attempts 1", "job_id ", "job_status ", "error_title ", "1 writes", "1 requests"):
        assert internal not in out, (internal, out)
    assert re.search(r"backup job \S+ Completed", out), out
    last = out.rstrip("\n").splitlines()[-1]
    assert last == "Summary: 2 VMs: 1 fixed and verified, 1 with nothing to do; exit 0", last


def test_a_failed_step_names_its_error_once(journal_path: str) -> None:
    from azbackup_fix.cli.render.run_report import render_runs
    from azbackup_fix.models import StepOutcome, StepStatus
    from azbackup_sandbox import Sandbox
    from tests.gateway.sandbox_arm import Target

    sandbox = Sandbox(scenario="rp-limit-locked")
    sandbox.config.rpc_delete_batch = 2  # the delete times out: a failed step with attempts
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True)
    # A trigger whose job failed, as TriggerBackup reports it: the title in reason, code and detail.
    failed_job = StepOutcome("trigger-backup", VM, "trigger an on-demand backup", StepStatus.FAILED,
                             reason="backup job j1 Failed: UserErrorGuestAgentStatusUnavailable",
                             error_code="UserErrorGuestAgentStatusUnavailable",
                             detail=(("job_id", "j1"), ("job_status", "Failed"),
                                     ("error_title", "UserErrorGuestAgentStatusUnavailable")))
    text = render_runs([report], "text") + "\n" + render_runs(
        [type(report)(target=VM, applied=True, playbooks=(type(report.playbooks[0])("trigger-backup", (failed_job,)),))],
        "text")
    lines = [line for line in text.splitlines() if "[failed]" in line]
    assert len(lines) == 2, text
    for line in lines:
        for word in ("UserErrorGuestAgentStatusUnavailable", "j1", "OperationTimedOut"):
            assert line.count(word) <= 1, line
        assert "job_id" not in line and "error_title" not in line and "attempts 1" not in line


def test_summary_names_rails_and_report_only() -> None:
    code, out, _ = cli("plan", "--sandbox", "disk-too-large", "--vm", VM)
    assert out.rstrip("\n").splitlines()[-1] == "Summary: 1 VM: 1 report-only; exit 5"
    code, out, _ = cli("plan", "--sandbox", "protection-stopped", "--vm", VM)
    assert out.rstrip("\n").splitlines()[-1] == "Summary: 1 VM: 1 needs --allow-protection-changes; exit 3"


def test_markdown_has_no_internal_keys_and_a_summary() -> None:
    code, out, _ = cli("apply", "--sandbox", "rp-limit-locked", "--vm", VM, "--yes", "--output", "markdown")
    assert "attempts 1" not in out and "job_status" not in out and "1 writes" not in out
    assert "**Summary:** 1 VM: 1 fixed and verified; exit 0" in out


def test_playbooks_text_says_inspection_only_in_words() -> None:
    _, out, _ = cli("playbooks")
    assert "inspection_only" not in out and "[inspection only]" in out
