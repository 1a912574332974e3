"""Shell completion through argcomplete (the `cli` extra), as bash asks for it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("argcomplete")


def _complete(line: str, tmp_path) -> list[str]:
    answer = tmp_path / "completions"
    env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n", "COMP_LINE": line,
           "COMP_POINT": str(len(line)), "_ARGCOMPLETE_STDOUT_FILENAME": str(answer)}
    subprocess.run([sys.executable, "-m", "azbackup_fix.cli"], env=env, capture_output=True, check=False)
    return answer.read_text().split("\n") if answer.exists() else []


def test_commands_complete(tmp_path) -> None:
    assert set(_complete("azbackup-fix ", tmp_path)) >= {"diagnose", "plan", "apply", "scan", "recover"}
    assert _complete("azbackup-fix dia", tmp_path) == ["diagnose "]


def test_options_complete(tmp_path) -> None:
    found = _complete("azbackup-fix apply --allow-", tmp_path)
    assert {"--allow-network-changes", "--allow-guest-changes", "--allow-permission-changes"} <= {
        f.strip() for f in found}
    assert sorted(f.strip() for f in _complete("azbackup-fix diagnose -o t", tmp_path)) == ["table", "text"]
