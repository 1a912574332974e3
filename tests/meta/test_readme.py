"""The README starts with the two commands, its relative links resolve, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from azbackup_fix.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_first_lines_are_the_two_commands() -> None:
    lines = README.splitlines()
    assert lines[2] == "```bash"
    assert lines[3].startswith("make demo   #") and lines[4].startswith("make test   #")
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "\ndemo: " in makefile and "\ntest: " in makefile and "azbackup-fix demo" in makefile


def test_relative_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target
            assert (REPO / target).resolve().is_relative_to(REPO), target  # inside the repository


def test_no_reference_to_files_outside_the_repository() -> None:
    assert "DESIGN.md" not in README and "/work/" not in README


def test_cli_commands_in_the_readme_exist() -> None:
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    # commands in code: at a line's start (code blocks) or opening an inline code span
    found = re.findall(r"(?m)(?:^\s*|`)azbackup-fix ([a-z][a-z-]*)", README)
    assert {"diagnose", "plan", "apply", "recover"} <= set(found)
    for name in set(found):
        assert name in sub.choices, name
