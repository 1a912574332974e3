"""Fixtures for the blob journal against Azurite: one HTTPS sandbox (ARM and the managed-identity endpoint)
and one Azurite for the module, a fresh container per test, and the environment of a "worker" (an
Automation sandbox: its own HOME and temp dir, a managed identity, a CA bundle, the journal URL)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from azbackup_fix.journal.blob import STORAGE_API_VERSION
from azbackup_sandbox import Sandbox, SandboxServer
from tests.azurite.server import MISSING, AzuriteServer, IdentityEndpointCredential
from tests.sandbox_cli import server_environment

if MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI runs the blob journal tests against Azurite: {MISSING}")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    # A running virtual clock (the server's default pace): an apply's restore-point deletes complete.
    with SandboxServer(Sandbox(), clock_rate=300.0) as running:
        yield running


@pytest.fixture(scope="module")
def azurite(server: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    with AzuriteServer(tmp_path_factory.mktemp("azurite"), extra_ca=server.ca_file) as running:
        yield running


@pytest.fixture
def credential(server: SandboxServer, azurite: AzuriteServer) -> IdentityEndpointCredential:
    """The sandbox's managed identity, as azure-identity reads it; tokens for Storage's audience."""
    return IdentityEndpointCredential(server.identity_endpoint, server.identity_header, azurite.ca_file)


@pytest.fixture
def container(azurite: AzuriteServer, credential: IdentityEndpointCredential) -> str:
    """A new container's URL (with a prefix, as a shared account would use)."""
    name = f"journal-{secrets.token_hex(4)}"
    with ContainerClient(azurite.account_url, name, credential=credential, api_version=STORAGE_API_VERSION,
                         connection_verify=azurite.ca_file) as client:
        client.create_container()
    return azurite.container_url(name, "automation/prod")


@pytest.fixture
def scenario(server: SandboxServer) -> SandboxServer:
    server.sandbox.load("rp-limit-locked")
    server.sandbox.faults.clear()
    server.sandbox.clear_requests()
    return server


def worker_environment(server: SandboxServer, azurite: AzuriteServer, home: Path, journal: str, *,
                       grace: float | None = None) -> dict[str, str]:
    """A worker of its own: HOME and TMPDIR under ``home``, the managed identity, both CAs, the journal."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = server_environment(server, Path("unused"))
    env.update({"AZBACKUP_JOURNAL": journal, "REQUESTS_CA_BUNDLE": azurite.ca_file, "HOME": str(home),
                "TMPDIR": str(home / "tmp"), "XDG_STATE_HOME": str(home / ".local" / "state")})
    if grace is not None:
        env["AZBACKUP_JOURNAL_GRACE"] = str(grace)
    return env
