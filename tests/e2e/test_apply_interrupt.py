"""A safe Ctrl-C (issue 18 item 7): the real console script runs ``clear-restore-point-limit``
against the HTTPS sandbox (scenario rp-limit-locked) and gets SIGINT at each of its write steps.

The interrupt lands at a known step, never by timing: a latency fault holds the answer to the
chosen write (the sandbox has applied and logged it), the test waits for that write in the request
log and sends SIGINT while the CLI waits for the answer. The first interrupt starts no new step,
finishes the one in flight and puts the lock back; the run exits 130 with a partial report. A lock
that cannot be put back is named as pending with the exact ``recover`` command, which restores it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_fix.journal import Journal
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.control import set_clock_rate
from tests.e2e.test_apply_crash import LOCKS, WRITE_STEPS, vm_id
from tests.sandbox_cli import cli_command, run_cli, server_environment

pytestmark = pytest.mark.e2e

HOLD_MS = 1_500  # the held answer: the interrupt arrives while the CLI waits for it
CLOCK_RATE = 300.0
POLL_DEADLINE = 180.0  # a safety net against a hang, not a synchronisation
KINDS = {"delete-lock": "delete-lock", "delete-collection": "delete-restore-point-collection",
         "restore-lock": "restore-lock", "trigger-backup": "trigger-backup"}
ORDER = ["delete-lock", "delete-restore-point-collection", "trigger-backup", "restore-lock"]  # the plan's steps


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=CLOCK_RATE) as running:
        yield running


@pytest.fixture
def env(server: SandboxServer, tmp_path: Path) -> dict[str, str]:
    server.sandbox.load("rp-limit-locked")
    server.sandbox.faults.clear()
    set_clock_rate(server.sandbox, CLOCK_RATE)
    return server_environment(server, tmp_path / "journal.sqlite")


def interrupt_apply_at(server: SandboxServer, env: dict[str, str], step: str, *, signals: int = 1,
                       extra_faults: tuple[dict[str, object], ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run apply and send SIGINT (``signals`` times) while the sandbox holds the answer to ``step``'s write."""
    method, path = WRITE_STEPS[step]
    server.sandbox.faults.add({"method": method, "path": path, "latency_ms": HOLD_MS, "times": 1})
    for fault in extra_faults:
        server.sandbox.faults.add(dict(fault))
    proc = subprocess.Popen(cli_command("apply", "--yes", "--vm", vm_id(server), "--output", "json"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.sandbox.wait_for_request(method, path, timeout=POLL_DEADLINE), (
            f"no {step} write seen", proc.poll())
        assert proc.poll() is None
        for _ in range(signals):
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=POLL_DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    server.sandbox.faults.clear()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("step", list(WRITE_STEPS))
def test_first_sigint_at_each_write_step_puts_the_lock_back_and_reports(server: SandboxServer,
                                                                        env: dict[str, str], step: str) -> None:
    locks_before = server.sandbox.locks.to_dict()
    assert len(locks_before) == 1
    done = interrupt_apply_at(server, env, step)
    assert done.returncode == 130, done.stdout + done.stderr
    assert server.sandbox.locks.to_dict() == locks_before  # same name, scope, level, notes, owners
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        assert journal.pending_locks() == ()
        assert not any(r.active for r in journal.runs())
    assert "every lock this run removed is back in place" in done.stderr, done.stderr
    assert "the report above is partial" in done.stderr, done.stderr
    (report,) = json.loads(done.stdout)["runs"] if "runs" in json.loads(done.stdout) else [json.loads(done.stdout)]
    assert report["interrupted"] is True
    outcomes = {s["step"]: s for p in report["playbooks"] for s in p["steps"]}
    assert list(outcomes) == ORDER, outcomes
    # The step in flight finished; the lock's restore ran; what came later was not started.
    assert outcomes[KINDS[step]]["status"] == "changed", outcomes
    assert outcomes["restore-lock"]["status"] == "changed", outcomes
    for later in ORDER[ORDER.index(KINDS[step]) + 1:]:
        if later != "restore-lock":
            assert outcomes[later]["status"] == "skipped" and "interrupted" in outcomes[later]["reason"], outcomes


def test_second_sigint_cannot_abort_the_restoring_put(server: SandboxServer, env: dict[str, str]) -> None:
    locks_before = server.sandbox.locks.to_dict()
    done = interrupt_apply_at(server, env, "restore-lock", signals=2)
    assert done.returncode == 130, done.stdout + done.stderr
    assert server.sandbox.locks.to_dict() == locks_before
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        assert journal.pending_locks() == ()


def test_a_lock_that_cannot_be_put_back_is_named_with_the_recover_command(server: SandboxServer,
                                                                          env: dict[str, str]) -> None:
    locks_before = server.sandbox.locks.to_dict()
    refuse_put = {"method": "PUT", "path": LOCKS, "status": 409, "code": "ScopeLocked",
                  "message": "held by the test", "times": -1}
    done = interrupt_apply_at(server, env, "delete-lock", extra_faults=(refuse_put,))
    assert done.returncode == 130, done.stdout + done.stderr
    assert server.sandbox.locks.to_dict() == []
    command = f"azbackup-fix recover --journal {shlex.quote(env['AZBACKUP_JOURNAL'])}"
    (line,) = [ln for ln in done.stderr.splitlines() if "pending: lock" in ln]
    assert locks_before[0]["id"].casefold() in line.casefold() and line.endswith(command), done.stderr
    assert re.search(r"journal entry \d+", line)

    # diagnose and plan report the journal's pending lock as a finding, with the same command.
    diagnosed = run_cli(env, "diagnose", "--vm", vm_id(server), "--output", "json")
    (finding,) = [f for f in json.loads(diagnosed.stdout)["findings"] if f["code"] == "JournalLockPending"]
    assert command in finding["title"] and finding["severity"] == "warning", finding
    planned = run_cli(env, "plan", "--vm", vm_id(server), "--output", "json")
    plan = json.loads(planned.stdout)
    assert "JournalLockPending" in plan["diagnosis_codes"], plan
    assert any(command in p for p in plan["pending_locks"]), plan
    text = run_cli(env, "plan", "--vm", vm_id(server))
    assert "pending (JournalLockPending)" in text.stdout and command in text.stdout, text.stdout

    recovered = run_cli(env, *shlex.split(command)[1:], "--output", "json")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert server.sandbox.locks.to_dict() == locks_before
    diagnosed = run_cli(env, "diagnose", "--vm", vm_id(server), "--output", "json")
    assert "JournalLockPending" not in diagnosed.stdout  # recovered: nothing pending any more
