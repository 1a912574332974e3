"""Running the azbackup-fix CLI in a subprocess against a sandbox server, as a CI job or runbook does:
the endpoint, the CA bundle and a managed identity come from the environment, nothing else."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from pathlib import Path

from azbackup_sandbox import SandboxServer

__all__ = ["CONSOLE", "REPO", "cli_command", "cli_environment", "read_line", "run_cli", "server_environment"]

REPO = Path(__file__).resolve().parents[1]
CONSOLE = Path(sys.executable).with_name("azbackup-fix")
# Inherited settings that would steer the CLI, its annotations or azure-identity away from the sandbox.
_NOT_INHERITED = ("AZBACKUP_", "AZURE_", "GITHUB_", "TF_BUILD", "IDENTITY_", "MSI_")


def cli_command(*args: str) -> list[str]:
    """The installed console script, or the module when the venv has no script."""
    return [*([str(CONSOLE)] if CONSOLE.exists() else [sys.executable, "-m", "azbackup_fix.cli"]), *args]


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def cli_environment(*, endpoint: str, ca_file: str, identity_endpoint: str, identity_header: str,
                    journal: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    environ.update({
        "AZBACKUP_ARM_ENDPOINT": endpoint,
        "AZBACKUP_JOURNAL": str(journal),
        "REQUESTS_CA_BUNDLE": ca_file,
        "IDENTITY_ENDPOINT": identity_endpoint,
        "IDENTITY_HEADER": identity_header,
        "PYTHONPATH": str(REPO),
    })
    return environ


def server_environment(server: SandboxServer, journal: Path) -> dict[str, str]:
    return cli_environment(endpoint=server.endpoint, ca_file=server.ca_file,
                           identity_endpoint=server.identity_endpoint, identity_header=server.identity_header,
                           journal=journal)


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The next line a child process prints (its ready line), waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no ready line within {timeout}s")
    return proc.stdout.readline()
