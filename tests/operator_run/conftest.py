from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_sandbox import Sandbox, SandboxServer


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZBACKUP_JOURNAL", str(tmp_path / "journal.sqlite"))
    for name in ("AZBACKUP_ARM_ENDPOINT", "AZBACKUP_SUBSCRIPTION", "AZURE_SUBSCRIPTION_ID", "GITHUB_STEP_SUMMARY",
                 "AZBACKUP_CLOUD", "GITHUB_ACTIONS", "TF_BUILD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def journal_path(tmp_path: Path) -> str:
    return str(tmp_path / "journal.sqlite")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One HTTPS sandbox per test module, its clock frozen; tests load the scenario they need."""
    with SandboxServer(Sandbox(), clock_rate=0.0) as running:
        yield running


@pytest.fixture
def identity(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process authenticates as the sandbox's managed identity and trusts its CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", server.identity_header)
