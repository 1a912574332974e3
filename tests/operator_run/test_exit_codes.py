"""Issue 18 item 3: exit codes that never lie. A fix that needs a rail not given is exit 3 naming the rail;
plan/apply never exit 0 on a VM whose backups fail; a cause nothing can change from here is report-only (5).
The table is the same in exit_codes.py, the README, --help, the runbook and RunReport.exit_code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from azbackup_fix import runbook
from azbackup_fix.cli import exit_codes
from azbackup_fix.cli.main import build_parser
from azbackup_fix.models import RunReport
from azbackup_sandbox import Sandbox
from tests.gateway.sandbox_arm import Target, writes
from tests.operator_run.helpers import VM, cli, cli_json

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("scenario", "rail"), [
    ("protection-stopped", "allow_protection_changes"),
    ("vm-deleted", "allow_protection_changes"),
    ("agent-not-ready", "allow_disruptive"),
    ("backup-in-progress", "allow_disruptive"),
])
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_fix_that_needs_a_rail_not_given_is_exit_3_naming_it(scenario: str, rail: str, command: str) -> None:
    extra = ("--yes",) if command == "apply" else ()
    code, doc, _ = cli_json(command, "--sandbox", scenario, "--vm", VM, *extra)
    assert code == exit_codes.PERMISSION == doc["exit_code"] and doc["rails_needed"] == [rail]
    assert doc["write_count"] == 0
    code, out, _ = cli(command, "--sandbox", scenario, "--vm", VM, *extra)
    flag = "--" + rail.replace("_", "-")
    assert code == 3 and f"needs {flag}" in out, out


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_cause_nothing_here_can_change_is_report_only_exit_5(command: str, journal_path: str) -> None:
    extra = ("--yes",) if command == "apply" else ()
    code, doc, _ = cli_json(command, "--sandbox", "disk-too-large", "--vm", VM, *extra)
    assert code == exit_codes.REPORT_ONLY == 5 == doc["exit_code"]
    assert doc["report_only"] == ["UserErrorUnsupportedDiskSize"] and doc["write_count"] == 0
    code, out, _ = cli(command, "--sandbox", "disk-too-large", "--vm", VM, *extra)
    assert code == 5 and "report-only" in out and "nothing to do" not in out
    sandbox = Sandbox(scenario="disk-too-large")
    sandbox.clear_requests()
    with Target(sandbox).remediator(journal_path=journal_path) as fix:
        report = fix.run(Target(sandbox).vm(), apply=command == "apply")
    assert report.exit_code == 5 and writes(sandbox.requests()) == []


def test_healthy_is_still_exit_0() -> None:
    code, doc, _ = cli_json("plan", "--sandbox", "healthy", "--vm", VM)
    assert code == 0 and doc["report_only"] == [] and doc["rails_needed"] == []


def _readme_table() -> dict[int, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2).strip() for m in re.finditer(r"^\| (\d) \| (.+) \|$", section, re.M)}


def test_the_exit_code_table_is_the_same_everywhere() -> None:
    table = exit_codes.EXIT_CODES
    assert sorted(table) == list(range(len(table)))
    assert _readme_table() == table
    help_text = build_parser().format_help()
    for code, meaning in table.items():
        assert f"{code}  {meaning}" in " ".join(help_text.split("\n")).replace("   ", "  ") or \
            re.search(rf"\b{code}\s+{re.escape(meaning)}", help_text), (code, help_text)
    doc = runbook.__doc__ or ""
    assert "Exit codes are the CLI's (" + ", ".join(str(c) for c in table) + ")" in " ".join(doc.split())
    # RunReport.exit_code returns only codes of the table, and names them in its docstring.
    assert {0, 1, 3, 4, 5} <= set(table)
    assert RunReport(target=VM, applied=False).exit_code == exit_codes.OK
    assert "5 report-only" in " ".join((RunReport.exit_code.__doc__ or "").split())
