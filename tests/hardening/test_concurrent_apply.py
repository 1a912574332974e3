"""Two ``azbackup-fix apply`` processes on one journal, over the HTTPS sandbox (issue 7, item 2).

Both VMs of rp-limit-locked are brought to the restore point limit, so both runs want the same
lock (``rg-no-delete`` on AzureBackupRG_eastus_1) out of the way. Run A is held (a latency fault on
the answer of one of its writes, already applied by the sandbox) while run B starts: B must
either find the lock gone and go on, or find it pending for A (an active run) and refuse to
touch it. Whatever the interleaving: no lock is restored twice or lost, no journal entry is lost,
no item gets two backups, and a rerun of each VM converges.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from azbackup_fix.journal import Journal
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.control import set_clock_rate, subscription_ids
from azbackup_sandbox.providers.compute.models import RestorePoint
from tests.e2e.test_apply_crash import CLOCK_RATE, JOB_DONE_SECONDS, LOCKS, POLL_DEADLINE, prepare
from tests.gateway.sandbox_arm import BROKEN, NEIGHBOUR, VM_RG, writes
from tests.sandbox_cli import cli_command, run_cli

pytestmark = pytest.mark.e2e

HOLD_MS = 6_000  # A's held answer; B's whole run may or may not fit in it: both orders are checked
HOLDS = {"delete-lock": ("DELETE", LOCKS), "restore-lock": ("PUT", LOCKS)}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=CLOCK_RATE) as running:
        yield running


@pytest.fixture
def env(server: SandboxServer, tmp_path: Path) -> dict[str, str]:
    environ = prepare(server, tmp_path)
    _both_at_the_limit(server.sandbox)
    return environ


def _both_at_the_limit(sandbox: Sandbox) -> None:
    """The neighbour's collection (same locked restore-point group) reaches 18 points too."""
    sub = subscription_ids(sandbox)[0]
    vm = f"/subscriptions/{sub}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{NEIGHBOUR}"
    (rpc,) = sandbox.compute.collections_for_vm(vm)
    first = min(p.time_created for p in rpc.points)
    for day in range(1, 19 - len(rpc.points)):
        when = first - timedelta(days=day)
        rpc.points.insert(0, RestorePoint(f"AzureBackup_{when:%Y%m%d_%H%M%S}", when))
    assert len(rpc.points) == 18


def _vm(server: SandboxServer, name: str) -> str:
    sub = subscription_ids(server.sandbox)[0]
    return f"/subscriptions/{sub}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{name}"


@pytest.mark.parametrize("hold", list(HOLDS))
def test_two_applies_sharing_the_restore_point_group_lock(server: SandboxServer, env: dict[str, str],
                                                          hold: str) -> None:
    sandbox = server.sandbox
    locks_before = sandbox.locks.to_dict()
    assert len(locks_before) == 1
    method, path = HOLDS[hold]
    sandbox.faults.add({"method": method, "path": path, "latency_ms": HOLD_MS, "times": 1})
    args = ("apply", "--yes", "--no-wait", "--output", "json")
    run_a = subprocess.Popen(cli_command(*args, "--vm", _vm(server, BROKEN)), env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Once the write is logged, A is waiting for the held answer.
        assert sandbox.wait_for_request(method, path, timeout=POLL_DEADLINE), run_a.poll()
        assert run_a.poll() is None
        run_b = run_cli(env, *args, "--vm", _vm(server, NEIGHBOUR))
        out_a, err_a = run_a.communicate(timeout=300)
    finally:
        if run_a.poll() is None:
            run_a.kill()
            run_a.communicate()
    assert run_a.returncode == 0, out_a + err_a
    report_b = json.loads(run_b.stdout)
    assert run_b.returncode in (0, 1), run_b.stdout + run_b.stderr
    if run_b.returncode == 1:
        # B met the lock while A held it: refused to touch it, and said why.
        failed = [s for s in report_b["playbooks"][0]["steps"] if s["status"] == "failed"]
        assert [s["step"] for s in failed] == ["delete-lock"], report_b
        assert failed[0]["error_code"] == "LockInUseError", failed

    # The lock ends back exactly once per removal, identical; the journal holds nothing pending.
    log = sandbox.requests()
    deletes = [r for r in log if r.method == "DELETE" and re.search(LOCKS, r.path) and r.status < 300]
    puts = [r for r in log if r.method == "PUT" and re.search(LOCKS, r.path) and r.status < 300]
    assert len(puts) == len(deletes) >= 1
    assert sandbox.locks.to_dict() == locks_before
    with Journal(env["AZBACKUP_JOURNAL"]) as journal:
        assert journal.pending_locks() == ()
        runs = journal.runs()
        assert [r.status for r in runs if r.command == "apply"].count("succeeded") >= 1
        assert not any(r.active for r in runs)
    triggers = [r.path.casefold() for r in log if r.operation == "Backups_Trigger" and r.status < 300]
    assert len(triggers) == len(set(triggers))  # one backup per item

    # Let the backups end, then each VM converges and a further apply writes nothing.
    sandbox.advance(JOB_DONE_SECONDS)
    set_clock_rate(sandbox, CLOCK_RATE)
    for name in (BROKEN, NEIGHBOUR):
        again = run_cli(env, *args, "--vm", _vm(server, name))
        assert again.returncode == 0, again.stdout + again.stderr
    sandbox.advance(JOB_DONE_SECONDS)
    sandbox.clear_requests()
    for name in (BROKEN, NEIGHBOUR):
        final = run_cli(env, "apply", "--yes", "--output", "json", "--vm", _vm(server, name))
        assert final.returncode == 0, final.stdout + final.stderr
    assert writes(sandbox.requests()) == []
    assert sandbox.locks.to_dict() == locks_before
