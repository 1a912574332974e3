"""One way to run the CLI in tests: ``main([...])`` in-process with captured streams, and an environment that
keeps the user's settings and journal out of it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main

__all__ = ["isolated_env", "run"]

_OUTSIDE = ("AZBACKUP_ARM_ENDPOINT", "AZBACKUP_SUBSCRIPTION", "AZURE_SUBSCRIPTION_ID", "GITHUB_STEP_SUMMARY",
            "GITHUB_ACTIONS", "TF_BUILD", "CI", "AZBACKUP_CLOUD", "AZBACKUP_GUEST_STORAGE_ENDPOINT")


def run(*argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``azbackup-fix ARGV``."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No CI or Azure settings from the calling environment; the journal in the test's own directory."""
    for name in _OUTSIDE:
        monkeypatch.delenv(name, raising=False)
    journal = tmp_path / "journal.sqlite"
    monkeypatch.setenv("AZBACKUP_JOURNAL", str(journal))
    yield journal
