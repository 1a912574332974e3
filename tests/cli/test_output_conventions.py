"""The CLI's az conventions: ``--query`` (JMESPath over the JSON report), ``-o table``, ``--only-show-errors``
and ``--verbose``; each checked against the same command's JSON report over the sandbox."""

from __future__ import annotations

import json
import re

import pytest

from .cli_runner import isolated_env, run  # noqa: F401 (isolated_env: a fixture)

pytestmark = pytest.mark.usefixtures("isolated_env")


def _json(*argv: str) -> object:
    code, out, _ = run(*argv, "--output", "json")
    return json.loads(out)


def test_query_is_jmespath_over_the_json_report() -> None:
    report = _json("diagnose", "--sandbox", "demo")
    codes = [f["code"] for d in report for f in d["findings"]]
    code, out, err = run("diagnose", "--sandbox", "demo", "--query", "[].findings[].code", "-o", "json")
    assert code == 4 and err == ""
    assert json.loads(out) == codes and len(codes) >= 5
    # The default output (text) prints bare values, one per line.
    assert run("diagnose", "--sandbox", "demo", "--query", "[].findings[].code")[1].splitlines() == codes


def test_query_with_text_output_prints_bare_values() -> None:
    report = _json("diagnose", "--sandbox", "demo")
    code, out, _ = run("diagnose", "--sandbox", "demo", "--query", "[?summary.error > `0`].target")
    assert out.splitlines() == [d["target"] for d in report if d["summary"]["error"] > 0]


def test_bad_query_is_one_line_and_exit_2() -> None:
    code, out, err = run("diagnose", "--sandbox", "demo", "--query", "[.bad")
    assert code == 2 and out == ""
    assert err.startswith("azbackup-fix: error: --query: invalid JMESPath expression '[.bad'")
    assert len(err.splitlines()) == 1


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.rstrip("\n").splitlines()
    assert set(lines[1]) <= {"-", " "}  # the rule under the header
    starts = [m.start() for m in re.finditer(r"-+", lines[1])]
    cut = [*starts[1:], None]

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in zip(starts, cut, strict=True)]

    return cells(lines[0]), [cells(line) for line in lines[2:]]


def test_table_of_a_diagnosis_lists_every_finding() -> None:
    report = _json("diagnose", "--sandbox", "demo")
    code, out, _ = run("diagnose", "--sandbox", "demo", "-o", "table")
    header, rows = _table(out)
    assert code == 4 and header == ["VM", "Severity", "Code", "Title"]
    expected = [[d["target"].rsplit("/", 1)[1], f["severity"], f["code"], f["title"]]
                for d in report for f in d["findings"]]
    assert rows == expected


def test_table_of_a_plan_lists_every_step() -> None:
    report = _json("plan", "--sandbox", "rp-limit-locked")
    code, out, _ = run("plan", "--sandbox", "rp-limit-locked", "-o", "table")
    header, rows = _table(out)
    assert header == ["VM", "Mode", "Playbook", "Step", "Status", "Target"]
    steps = [(p["playbook"], s["step"], s["status"]) for r in report for p in r["playbooks"] for s in r and p["steps"]]
    assert [(r[2], r[3], r[4]) for r in rows if r[2] != "-"] == steps and steps


def test_table_after_apply_shows_what_changed() -> None:
    code, out, err = run("apply", "--sandbox", "rp-limit-locked", "--yes", "-o", "table", "--no-progress")
    header, rows = _table(out)
    assert code == 0, err
    statuses = {(r[3], r[4]) for r in rows if r[2] == "clear-restore-point-limit"}
    assert ("delete-restore-point-collection", "changed") in statuses and ("restore-lock", "changed") in statuses
    assert ("trigger-backup", "changed") in statuses


def test_query_and_table_combine() -> None:
    code, out, _ = run("playbooks", "--query", "[?rail=='allow_disruptive'].{Id: id, Rail: rail}", "-o", "table")
    header, rows = _table(out)
    assert header == ["Id", "Rail"] and rows and all(r[1] == "allow_disruptive" for r in rows)


def test_only_show_errors_keeps_error_lines_only() -> None:
    code, _, err = run("apply", "--sandbox", "rp-limit-locked", "--yes", "--progress")
    assert code == 0 and err.strip()  # progress lines on stderr
    code, _, err = run("apply", "--sandbox", "rp-limit-locked", "--yes", "--progress", "--only-show-errors")
    assert code == 0 and err == ""
    code, _, err = run("diagnose", "--vm", "/bad", "--only-show-errors")
    assert code == 2 and err.startswith("azbackup-fix: error: ")


def test_verbose_logs_one_line_per_arm_request() -> None:
    code, out, err = run("diagnose", "--sandbox", "healthy", "--verbose", "--output", "json")
    report = json.loads(out)
    lines = [line for line in err.splitlines() if line.startswith("INFO: azbackup_fix.http: ")]
    assert len(lines) == sum(d["request_count"] for d in report) + 2  # + listing the vaults and their items
    assert all(re.search(r" (GET|POST|PUT|DELETE) https://\S+ -> \d{3} in \d+ ms \(x-ms-request-id \S+\)$", line)
               for line in lines)
    assert "Bearer" not in err and "Authorization:" not in err


def test_debug_adds_the_redacted_http_log() -> None:
    _, _, err = run("diagnose", "--sandbox", "healthy", "--debug", "--output", "json")
    assert "'Authorization': 'REDACTED'" in err and "Bearer" not in err
