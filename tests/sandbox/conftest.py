"""Fixtures for sandbox contract tests: `arm` runs each test against the sandbox in-process (an azure-core
transport) and over HTTPS (the real server, session-scoped, in a thread of this process). See
sandbox_arm.py for what the handle offers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_arm import Arm, make_pristine

from azbackup_sandbox.core.sandbox import Sandbox
from azbackup_sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One HTTPS sandbox server for the session (certificate generation is the slow part)."""
    server = SandboxServer(Sandbox(), clock_rate=0.0)
    with server:
        yield server


@pytest.fixture(params=["inprocess", "https"])
def arm(request: pytest.FixtureRequest) -> Iterator[Arm]:
    if request.param == "https":
        server: SandboxServer = request.getfixturevalue("sandbox_server")
        make_pristine(server.sandbox)
        handle = Arm("https", server.sandbox, server)
    else:
        handle = Arm("inprocess", Sandbox())
    try:
        yield handle
    finally:
        handle.close()
