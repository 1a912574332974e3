"""COVERAGE.md lists exactly the operations the sandbox's route table serves."""

from __future__ import annotations

from pathlib import Path

from azbackup_sandbox.coverage import render_coverage

COVERAGE = Path(__file__).resolve().parents[2] / "azbackup_sandbox" / "COVERAGE.md"


def test_coverage_table_is_current() -> None:
    assert COVERAGE.read_text(encoding="utf-8") == render_coverage(), (
        "COVERAGE.md is stale: run `python -m azbackup_sandbox.coverage > azbackup_sandbox/COVERAGE.md`"
    )


def test_every_route_names_operation_and_action() -> None:
    rows = [line for line in render_coverage().splitlines() if line.startswith("| ") and "`/" in line]
    assert len(rows) > 40
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] and "_" in cells[2], row  # swagger-style operation id
        assert cells[3].startswith("`Microsoft."), row
