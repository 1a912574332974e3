"""CI annotations from diagnose: ::error:: in GitHub Actions, ##vso in Azure Pipelines, none elsewhere."""

from __future__ import annotations

import io
import json

import pytest

from azbackup_fix.cli.annotations import annotation_lines
from azbackup_fix.cli.main import main


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _clean_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "TF_BUILD", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def test_github_actions_errors_and_exit_code(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = _run("diagnose", "--sandbox", "demo", "--output", "markdown")
    assert code == 4
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert len(errors) == 6
    assert any("title=vm-sql-01%3A UserErrorRpCollectionLimitReached::" in e for e in errors)
    assert summary.read_text(encoding="utf-8").startswith("## Azure VM Backup diagnosis")


def test_azure_pipelines_logissue_and_json_stays_parseable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_BUILD", "True")
    code, out, err = _run("diagnose", "--sandbox", "demo", "--output", "json")
    assert code == 4 and len(json.loads(out)) == 5  # annotations went to stderr
    issues = [line for line in err.splitlines() if line.startswith("##vso[task.logissue type=error]")]
    assert len(issues) == 6 and all("%3B" in i or ";" not in i.split("]", 1)[1] for i in issues)


def test_no_annotations_outside_ci() -> None:
    code, out, err = _run("diagnose", "--sandbox", "demo")
    assert code == 4 and "::error" not in out + err and "##vso" not in out + err


def test_escaping() -> None:
    (line,) = annotation_lines([("a: b, c", "50%\nnext")], "github")
    assert line == "::error title=a%3A b%2C c::50%25%0Anext"
    (line,) = annotation_lines([("t", "x;y]z")], "azure-pipelines")
    assert line == "##vso[task.logissue type=error]x%3By%5Dz"
