from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZBACKUP_JOURNAL", str(tmp_path / "journal.sqlite"))
    for name in ("AZBACKUP_ARM_ENDPOINT", "AZBACKUP_SUBSCRIPTION", "AZURE_SUBSCRIPTION_ID", "GITHUB_STEP_SUMMARY",
                 "AZBACKUP_CLOUD", "GITHUB_ACTIONS", "TF_BUILD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def journal_path(tmp_path: Path) -> str:
    return str(tmp_path / "journal.sqlite")
