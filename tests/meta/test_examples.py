"""The examples: workflow files are valid YAML whose azbackup-fix commands exist, scripts compile."""

from __future__ import annotations

import importlib.util
import py_compile
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbackup_fix.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
COMMAND = re.compile(r"azbackup-fix ([a-z-]+)((?: +(?:--?[a-z-]+|\"[^\"]*\"|\S+))*)")


def _commands(text: str) -> list[tuple[str, list[str]]]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    joined = code.replace("\\\n", " ")
    return [(m.group(1), re.findall(r"(--[a-z-]+)", m.group(2))) for m in COMMAND.finditer(joined)]


def test_pipeline_files_are_valid_yaml_with_real_commands_and_options() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    files = [EXAMPLES / "github/azbackup-fix.yml", EXAMPLES / "azure-devops/azure-pipelines.yml"]
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(doc, dict) and (doc.get("jobs") or doc.get("steps"))
        commands = _commands(path.read_text(encoding="utf-8"))
        assert commands, path
        for name, options in commands:
            assert name in sub.choices, (path, name)
            known = {o for a in sub.choices[name]._actions for o in a.option_strings}
            assert set(options) <= known, (path, name, set(options) - known)


def test_github_workflow_uses_oidc_and_the_step_summary() -> None:
    doc = yaml.safe_load((EXAMPLES / "github/azbackup-fix.yml").read_text(encoding="utf-8"))
    assert doc["permissions"]["id-token"] == "write"
    steps = doc["jobs"]["scan"]["steps"]
    assert any(s.get("uses", "").startswith("azure/login@") for s in steps)
    assert any("--output markdown" in s.get("run", "") for s in steps)


def test_scripts_compile() -> None:
    for path in [*EXAMPLES.rglob("*.py")]:
        py_compile.compile(str(path), doraise=True)


def _classifier_versions() -> set[str]:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    return set(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text))


def test_ci_examples_use_a_python_the_classifiers_name() -> None:
    versions = _classifier_versions()
    assert versions
    github = yaml.safe_load((EXAMPLES / "github/azbackup-fix.yml").read_text(encoding="utf-8"))
    used = [s["with"]["python-version"] for s in github["jobs"]["scan"]["steps"]
            if s.get("uses", "").startswith("actions/setup-python@")]
    devops = (EXAMPLES / "azure-devops/azure-pipelines.yml").read_text(encoding="utf-8")
    used += re.findall(r'versionSpec: "([^"]+)"', devops)
    assert len(used) == 2 and set(used) <= versions, (used, versions)


def _python_script() -> Any:
    spec = importlib.util.spec_from_file_location("python_script_example", EXAMPLES / "python_script.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_python_script_without_arguments_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert _python_script().main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1 and "--sandbox" in captured.err


def test_python_script_takes_arm_endpoint_and_says_what_sandbox_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _python_script().main(["--help"])
    text = capsys.readouterr().out
    assert "--arm-endpoint URL" in text and "demo estate in memory" in text


def test_python_script_sandbox_repairs_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    # Some demo VMs need a guard rail the script does not give (3, the permission/rail code).
    assert _python_script().main(["--sandbox"]) == 3
    assert "changed" in capsys.readouterr().out


def test_wheel_figures_agree_between_readmes() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    automation = (EXAMPLES / "automation/README.md").read_text(encoding="utf-8")
    (count, size), = re.findall(r"\*\*(\d+) wheels, ([\d.]+) MiB in total\*\*", readme)
    assert f"({count} wheels, about {float(size):.1f} MiB)" in automation
