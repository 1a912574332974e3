"""Crash safety of ``azbackup-fix apply`` itself (issue 7): the real console script runs
``clear-restore-point-limit`` against the HTTPS sandbox (scenario rp-limit-locked) and is killed
with SIGKILL at each of its write steps; ``recover`` then puts every lock back, and the next
``apply`` finishes the job.

Killing at the right moment is deterministic, never timed: a latency fault holds the answer to
the chosen write (the sandbox has already applied it and logged it), the test polls the sandbox's
request log until that write appears, and kills the CLI while it waits for the answer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_fix.journal import Journal
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.control import set_clock_rate, subscription_ids
from tests.gateway.sandbox_arm import BROKEN, VM_RG, writes
from tests.sandbox_cli import cli_command, run_cli, server_environment

pytestmark = pytest.mark.e2e

LOCKS = r"/providers/Microsoft\.Authorization/locks/"

# The write steps of clear-restore-point-limit, as (method, path regex) of their request.
WRITE_STEPS = {
    "delete-lock": ("DELETE", LOCKS),
    "delete-collection": ("DELETE", r"/restorePointCollections/[^/]+$"),
    "restore-lock": ("PUT", LOCKS),
    "trigger-backup": ("POST", r"/protectedItems/[^/]+/backup$"),
}
HOLD_MS = 120_000  # how long the sandbox holds the chosen answer; the kill comes long before
JOB_DONE_SECONDS = 6 * 3600  # virtual time after which any backup job has ended
CLOCK_RATE = 300.0  # the server's default pace: a 20-minute backup job takes 4 real seconds
POLL_DEADLINE = 180.0  # a safety net against a hang, not a synchronisation


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    # A running virtual clock: latency faults are real waits only then, and backup jobs progress.
    with SandboxServer(Sandbox(), clock_rate=CLOCK_RATE) as running:
        yield running


def prepare(server: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """rp-limit-locked loaded, no faults, the clock running; the environment of a CLI run against it."""
    server.sandbox.load("rp-limit-locked")
    server.sandbox.faults.clear()
    set_clock_rate(server.sandbox, CLOCK_RATE)  # a failed test may have left it frozen
    return server_environment(server, tmp_path / "journal.sqlite")


@pytest.fixture
def env(server: SandboxServer, tmp_path: Path) -> dict[str, str]:
    return prepare(server, tmp_path)


def vm_id(server: SandboxServer) -> str:
    sub = subscription_ids(server.sandbox)[0]
    return f"/subscriptions/{sub}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{BROKEN}"


def vm_collections(server: SandboxServer) -> list[str]:
    snapshot = json.dumps(server.sandbox.snapshot())
    return sorted(set(re.findall(r"/restorePointCollections/([^\"/]+)", snapshot, re.IGNORECASE)))


def kill_apply_at(server: SandboxServer, env: dict[str, str], step: str, *, freeze: bool = False) -> None:
    """Run apply and SIGKILL it while the sandbox holds the answer to ``step``'s write.

    ``freeze`` stops the virtual clock right after the kill, so what the killed run started (a backup
    job) stays in progress however slowly the machine runs the next commands."""
    method, path = WRITE_STEPS[step]
    server.sandbox.faults.add({"method": method, "path": path, "latency_ms": HOLD_MS, "times": 1})
    proc = subprocess.Popen(cli_command("apply", "--yes", "--vm", vm_id(server), "--output", "json"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The server logs a request when it has handled it, before the held answer goes out.
        assert server.sandbox.wait_for_request(method, path, timeout=POLL_DEADLINE), (
            f"no {step} write seen", proc.poll())
        # The sandbox has applied the write and holds its answer: the CLI is waiting for it.
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        if freeze:
            set_clock_rate(server.sandbox, 0.0)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    server.sandbox.faults.clear()


def finish_and_check(server: SandboxServer, env: dict[str, str], locks_before: list[dict[str, object]]) -> None:
    """The next apply finishes the job; the lock is as before; one more apply changes nothing."""
    # --no-wait and the virtual clock instead of waiting in real time for the backup job.
    finished = run_cli(env, "apply", "--yes", "--no-wait", "--vm", vm_id(server), "--output", "json")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    server.sandbox.advance(JOB_DONE_SECONDS)
    assert server.sandbox.locks.to_dict() == locks_before
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        assert journal.pending_locks() == ()
    diagnosed = run_cli(env, "diagnose", "--vm", vm_id(server), "--output", "json")
    codes = [f["code"] for f in json.loads(diagnosed.stdout)["findings"]]
    assert "UserErrorRpCollectionLimitReached" not in codes, diagnosed.stdout

    server.sandbox.clear_requests()
    again = run_cli(env, "apply", "--yes", "--vm", vm_id(server), "--output", "json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert writes(server.sandbox.requests()) == []
    assert server.sandbox.locks.to_dict() == locks_before


@pytest.mark.parametrize("step", list(WRITE_STEPS))
def test_sigkill_at_each_write_step_then_recover_and_apply_again(server: SandboxServer, env: dict[str, str],
                                                                 step: str) -> None:
    locks_before = server.sandbox.locks.to_dict()
    assert len(locks_before) == 1 and locks_before[0]["notes"]
    kill_apply_at(server, env, step, freeze=step == "trigger-backup")

    # Killed before the lock's restore was answered: the entry is pending. The verification backup
    # runs before the lock comes back (issue 11), so a kill at the trigger leaves the lock removed too.
    lock_is_gone = step in ("delete-lock", "delete-collection", "trigger-backup")
    journaled = True
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        pending = journal.pending_locks()
        assert [p.lock.ref.id.casefold() for p in pending] == \
            ([locks_before[0]["id"].casefold()] if journaled else [])
        assert not any(r.active for r in journal.runs())
    assert server.sandbox.locks.to_dict() == ([] if lock_is_gone else locks_before)

    recovered = run_cli(env, "recover", "--output", "json")
    assert recovered.returncode == 0, recovered.stderr
    outcomes = [entry["outcome"] for entry in json.loads(recovered.stdout)["locks"]]
    assert outcomes == (["restored"] if lock_is_gone else ["already-present"] if journaled else [])
    assert server.sandbox.locks.to_dict() == locks_before  # same name, scope, level, notes, owners
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        assert journal.pending_locks() == ()

    if step == "trigger-backup":
        # The killed run's backup job is doing the rest; apply refuses a second one meanwhile.
        refused = run_cli(env, "apply", "--yes", "--vm", vm_id(server), "--output", "json")
        assert refused.returncode == 3 and "is InProgress" in refused.stdout, refused.stdout + refused.stderr
        server.sandbox.advance(JOB_DONE_SECONDS)
        set_clock_rate(server.sandbox, CLOCK_RATE)  # the next apply polls LROs: the clock must run again
    finish_and_check(server, env, locks_before)


@pytest.mark.parametrize("step", ["delete-lock", "delete-collection"])
def test_the_next_apply_restores_pending_locks_without_recover(server: SandboxServer, env: dict[str, str],
                                                               step: str) -> None:
    locks_before = server.sandbox.locks.to_dict()
    kill_apply_at(server, env, step)
    assert server.sandbox.locks.to_dict() == []
    finish_and_check(server, env, locks_before)
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        statuses = [(r.command, r.status) for r in journal.runs()]
    assert statuses[0] == ("apply", "interrupted")  # the killed run, found dead by the next one
