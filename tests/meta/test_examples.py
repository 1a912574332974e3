"""The examples: workflow files are valid YAML whose azbackup-fix commands exist, scripts compile."""

from __future__ import annotations

import py_compile
import re
from pathlib import Path

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
