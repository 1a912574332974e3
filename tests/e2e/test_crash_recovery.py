"""Crash safety end to end over the HTTPS sandbox (scenario rp-limit-locked): a process that
journals the restore-point RG's lock and is killed with SIGKILL at each point around the delete
leaves the journal; ``azbackup-fix recover`` (the real console script, a managed identity,
REQUESTS_CA_BUNDLE) puts the lock back with the same name, level and notes, and the journal has
nothing pending. Killing is synchronous with the process's own progress (it kills itself at the
crash point), never timed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_fix.journal import Journal
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.control import subscription_ids
from tests.gateway.sandbox_arm import writes
from tests.sandbox_cli import run_cli, server_environment

pytestmark = pytest.mark.e2e

RP_RG = "AzureBackupRG_eastus_1"

# A run's lock handling, as the DeleteLock step does it, with a SIGKILL at the chosen point.
CRASHING_RUN = """
import os, signal, sys
from azbackup_fix import SandboxCredential
from azbackup_fix.gateway import Gateway
from azbackup_fix.journal import Journal

endpoint, ca_file, subscription, journal_path, crash_at = sys.argv[1:6]
journal = Journal(journal_path)
run = journal.start_run(command="apply", targets=[])
gateway = Gateway(SandboxCredential(), subscription, base_url=endpoint, connection_verify=ca_file)
(lock,) = gateway.list_resource_group_locks("AzureBackupRG_eastus_1")

def crash(point):
    if point == crash_at:
        os.kill(os.getpid(), signal.SIGKILL)

entry = journal.record_lock_removal(run, lock)
crash("after-record")
gateway.delete_lock(lock)
crash("after-delete")
journal.mark_removed(entry)
crash("after-mark-removed")
sys.exit(3)  # never reached
"""

CRASH_POINTS = ["after-record", "after-delete", "after-mark-removed"]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=0.0) as running:
        yield running


@pytest.fixture
def env(server: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """A CI job's environment: endpoint, CA bundle, a managed identity, a journal of its own."""
    environ = server_environment(server, tmp_path / "journal.sqlite")
    server.sandbox.load("rp-limit-locked")
    server.sandbox.faults.clear()
    return environ


def subscription(server: SandboxServer) -> str:
    return subscription_ids(server.sandbox)[0]


def recover(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, "recover", *args, timeout=180)


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_sigkill_around_the_lock_delete_then_recover(server: SandboxServer, env: dict[str, str],
                                                     crash_at: str) -> None:
    before = server.sandbox.locks.to_dict()
    (lock_before,) = before
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, server.endpoint, server.ca_file, subscription(server),
         env["AZBACKUP_JOURNAL"], crash_at],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    deleted = crash_at != "after-record"
    assert server.sandbox.locks.to_dict() == ([] if deleted else before)
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        (pending,) = journal.pending_locks()
        assert pending.state == ("removed" if crash_at == "after-mark-removed" else "recorded")
        assert [r.status for r in journal.runs()] == ["running"] and not journal.runs()[0].active

    server.sandbox.clear_requests()
    result = recover(env, "--output", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (entry,) = report["locks"]
    assert entry["outcome"] == ("restored" if deleted else "already-present")
    assert entry["id"].casefold() == lock_before["id"].casefold()

    # The sandbox's own state: the lock is back, identical (name and scope in the id, level, notes).
    assert server.sandbox.locks.to_dict() == before
    assert lock_before["level"] == "CanNotDelete" and lock_before["notes"]
    puts = [r for r in writes(server.sandbox.requests()) if r.method == "PUT"]
    assert len(puts) == (1 if deleted else 0)
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        assert journal.pending_locks() == ()
        statuses = {r.command: r.status for r in journal.runs()}
        assert statuses == {"apply": "interrupted", "recover": "succeeded"}

    again = recover(env)  # nothing pending: exits 0 without a request
    assert again.returncode == 0 and "nothing pending" in again.stdout


def test_recover_exits_one_when_a_lock_cannot_be_restored(server: SandboxServer, env: dict[str, str]) -> None:
    before = server.sandbox.locks.to_dict()
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, server.endpoint, server.ca_file, subscription(server),
         env["AZBACKUP_JOURNAL"], "after-mark-removed"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    server.sandbox.faults.add({"method": "PUT", "path": "/providers/Microsoft.Authorization/locks/",
                               "status": 409, "code": "Conflict", "message": "busy", "times": 1})
    failed = recover(env)
    assert failed.returncode == 1, failed.stderr
    assert "FAILED" in failed.stdout and "Conflict" in failed.stdout and "still pending" in failed.stdout
    assert server.sandbox.locks.to_dict() == []
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        assert len(journal.pending_locks()) == 1
    done = recover(env, "--output", "markdown")
    assert done.returncode == 0 and "| restored |" in done.stdout
    assert server.sandbox.locks.to_dict() == before
