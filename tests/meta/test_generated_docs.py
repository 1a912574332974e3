"""docs/playbooks.md and the operator role are generated from the registry and must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from azbackup_fix.docs import generated_files, main
from azbackup_fix.playbooks import all_playbooks

REPO = Path(__file__).resolve().parents[2]


def test_generated_files_are_current() -> None:
    for rel, content in generated_files().items():
        assert (REPO / rel).read_text(encoding="utf-8") == content, f"{rel} is stale: run python -m azbackup_fix.docs"


def test_every_playbook_is_documented_with_codes_permissions_and_options() -> None:
    text = (REPO / "docs/playbooks.md").read_text(encoding="utf-8")
    for cls in all_playbooks():
        section = text.split(f"\n## {cls.id}\n", 1)[1].split("\n## ", 1)[0]
        assert all(f"`{code}`" in section for code in cls.error_codes)
        assert all(f"`{action}`" in section for action in cls.actions)
        assert all(f"`{name}`" in section for name in cls.options)


def test_check_mode_reports_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    assert main(["--root", str(tmp_path)]) == 0  # writes both files
    target = tmp_path / "docs/playbooks.md"
    target.write_text("# edited by hand\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "azbackup_fix.docs", "--check", "--root", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "docs/playbooks.md" in result.stderr
    assert target.read_text(encoding="utf-8") == "# edited by hand\n"
