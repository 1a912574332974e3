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
    code, out, err = _run("diagnose", "--sandbox", "demo", "--output", "markdown")
    assert code == 4 and "::error" not in out and "::warning" not in out  # Markdown only on stdout
    errors = [line for line in err.splitlines() if line.startswith("::error ")]
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


def _warning_findings() -> list[str]:
    code, out, _ = _run("diagnose", "--sandbox", "demo", "--output", "json")
    assert code == 4
    return [f"{d['target'].rsplit('/', 1)[-1]}: {f['code']}"
            for d in json.loads(out) for f in d["findings"] if f["severity"] == "warning"]


def test_github_actions_warnings_as_warning_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _warning_findings()
    assert expected  # the demo estate has warning findings (a lock on the restore point group)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, _ = _run("diagnose", "--sandbox", "demo")
    assert code == 4
    warnings = [line for line in out.splitlines() if line.startswith("::warning ")]
    assert len(warnings) == len(expected)
    assert [w.split("title=", 1)[1].split("::", 1)[0].replace("%3A", ":") for w in warnings] == expected
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    titles = {e.split("title=", 1)[1].split("::", 1)[0].replace("%3A", ":") for e in errors}
    assert len(errors) == 6 and not titles & set(expected)


def test_azure_pipelines_warnings_as_logissue_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _warning_findings()
    monkeypatch.setenv("TF_BUILD", "True")
    code, out, _ = _run("diagnose", "--sandbox", "demo")
    assert code == 4
    warnings = [line for line in out.splitlines() if line.startswith("##vso[task.logissue type=warning]")]
    assert [w.split("]", 1)[1].split(": ", 2)[:2] for w in warnings] == [e.split(": ") for e in expected]
    assert len([line for line in out.splitlines() if line.startswith("##vso[task.logissue type=error]")]) == 6


def test_escaping_of_warnings() -> None:
    assert annotation_lines([("a: b", "x", "warning")], "github") == ["::warning title=a%3A b::x"]
    assert annotation_lines([("t", "x;y", "warning")], "azure-pipelines") == ["##vso[task.logissue type=warning]x%3By"]


def test_vso_lines_never_in_the_markdown_the_azure_devops_example_saves(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path) -> None:
    # The example: `azbackup-fix diagnose ... --output markdown | tee backup.md` (stdout only), then
    # ##vso[task.uploadsummary] backup.md. The ##vso lines must reach the log, never the file.
    from pathlib import Path

    pipeline = (Path(__file__).parents[2] / "examples" / "azure-devops" / "azure-pipelines.yml").read_text()
    (command,) = [line.strip() for line in pipeline.splitlines() if "azbackup-fix diagnose" in line]
    assert "--output markdown" in command and "| tee " in command and "2>&1" not in command
    monkeypatch.setenv("TF_BUILD", "True")
    code, out, err = _run("diagnose", "--sandbox", "demo", "--output", "markdown")
    saved = tmp_path / "backup.md"
    saved.write_text(out, encoding="utf-8")  # what tee writes
    assert code == 4
    assert "##vso" not in saved.read_text(encoding="utf-8")
    assert saved.read_text(encoding="utf-8").startswith("## Azure VM Backup diagnosis")
    logged = [line for line in err.splitlines() if line.startswith("##vso[task.logissue ")]
    assert len([line for line in logged if "type=error]" in line]) == 6 and any("type=warning]" in x for x in logged)


def test_text_output_keeps_annotations_on_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_BUILD", "True")
    code, out, err = _run("diagnose", "--sandbox", "demo")
    assert code == 4 and "##vso[task.logissue type=error]" in out and "##vso" not in err
