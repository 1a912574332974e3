"""The blob journal against a real Storage emulator (issue 16, items 1 and 2): Azurite over HTTPS with
``--oauth basic``, tokens from the sandbox's managed-identity endpoint for ``https://storage.azure.com``,
ARM from the HTTPS sandbox (scenario rp-limit-locked: a CanNotDelete lock on the restore-point group).

"Worker A" and "worker B" are separate processes with their own HOME and temp dir, sharing nothing but
the container: A is SIGKILLed right after the lock's delete (it kills itself there: never timed); B's
``recover``, or B's next ``apply``, puts the lock back exactly. Worker B runs with
``AZBACKUP_JOURNAL_GRACE=0``: A's heartbeats have stopped, and a zero grace stands for the grace period
having passed, instead of waiting for it in real time. Azurite's basic OAuth checks a token's audience,
issuer and lifetime but has no RBAC: a missing data role is tested as what Storage answers for a token it
will not accept (403), through a managed identity asked for ARM's audience instead of Storage's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from azbackup_fix.gateway import Gateway
from azbackup_fix.journal import JournalError, JournalPermissionError, LockInUseError, open_journal
from azbackup_fix.journal.blob import STORAGE_API_VERSION, BlobJournal
from azbackup_fix.recovery import recover_locks
from azbackup_fix.remediator import Remediator
from azbackup_sandbox import SandboxServer
from azbackup_sandbox.core.control import subscription_ids
from tests.azurite.conftest import worker_environment
from tests.azurite.server import MISSING, AzuriteServer, IdentityEndpointCredential
from tests.gateway.sandbox_arm import BROKEN, VM_RG, writes
from tests.sandbox_cli import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

RP_RG = "AzureBackupRG_eastus_1"
LOCKS = "/providers/Microsoft.Authorization/locks/"

# Worker A: an apply's lock handling as the DeleteLock step does it (managed identity for ARM and
# Storage alike), killed by itself right after ARM confirmed the delete.
WORKER_A = """
import os, signal, sys
from azure.identity import ManagedIdentityCredential
from azbackup_fix.gateway import Gateway
from azbackup_fix.journal import open_journal

endpoint, subscription, crash_at = sys.argv[1:4]
credential = ManagedIdentityCredential()
journal = open_journal(os.environ["AZBACKUP_JOURNAL"], credential=credential)
run = journal.start_run(command="apply", targets=[])
gateway = Gateway(credential, subscription, base_url=endpoint)
(lock,) = gateway.list_resource_group_locks("AzureBackupRG_eastus_1")
entry = journal.record_lock_removal(run, lock)
if crash_at == "after-record":
    os.kill(os.getpid(), signal.SIGKILL)
gateway.delete_lock(lock)
os.kill(os.getpid(), signal.SIGKILL)
"""


def subscription(server: SandboxServer) -> str:
    return subscription_ids(server.sandbox)[0]


def vm_id(server: SandboxServer) -> str:
    return (f"/subscriptions/{subscription(server)}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/"
            f"virtualMachines/{BROKEN}")


def crash_worker_a(server: SandboxServer, azurite: AzuriteServer, tmp_path: Path, journal: str,
                   crash_at: str = "after-delete") -> None:
    env = worker_environment(server, azurite, tmp_path / "worker-a", journal)
    crashed = subprocess.run([sys.executable, "-c", WORKER_A, server.endpoint, subscription(server), crash_at],
                             env=env, capture_output=True, text=True, timeout=180, check=False)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr


def lock_puts(server: SandboxServer) -> list[object]:
    return [r for r in writes(server.sandbox.requests()) if r.method == "PUT" and LOCKS in r.path]


def open_b(azurite: AzuriteServer, credential: IdentityEndpointCredential, journal: str,
           grace: float = 0) -> BlobJournal:
    opened = open_journal(journal, credential=credential, grace_seconds=grace, connection_verify=azurite.ca_file)
    assert isinstance(opened, BlobJournal)
    return opened


def test_sigkill_after_the_delete_on_worker_a_then_recover_on_worker_b(
        scenario: SandboxServer, azurite: AzuriteServer, credential: IdentityEndpointCredential, container: str,
        tmp_path: Path) -> None:
    server = scenario
    before = server.sandbox.locks.to_dict()
    crash_worker_a(server, azurite, tmp_path, container)
    assert server.sandbox.locks.to_dict() == []
    with open_b(azurite, credential, container, grace=3600) as journal:
        (pending,) = journal.pending_locks()
        assert pending.state == "recorded" and pending.lock.ref.id.casefold() == before[0]["id"].casefold()
        (run,) = journal.runs()
        assert run.status == "running" and run.active  # within its grace period A still counts as alive

    server.sandbox.clear_requests()
    env_b = worker_environment(server, azurite, tmp_path / "worker-b", container, grace=0)
    result = run_cli(env_b, "recover", "--output", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    (entry,) = report["locks"]
    assert entry["outcome"] == "restored" and report["journal"] == container
    assert server.sandbox.locks.to_dict() == before  # name, scope, level and notes as they were
    assert len(lock_puts(server)) == 1
    with open_b(azurite, credential, container) as journal:
        assert journal.pending_locks() == ()
        assert {r.command: r.status for r in journal.runs()} == {"apply": "interrupted", "recover": "succeeded"}
        assert [c.action for c in journal.changes()] == ["lock-recorded", "lock-claimed", "lock-restored"]

    again = run_cli(env_b, "recover")
    assert again.returncode == 0 and "nothing pending" in again.stdout


def test_the_next_apply_on_worker_b_recovers_first_then_works(
        scenario: SandboxServer, azurite: AzuriteServer, credential: IdentityEndpointCredential, container: str,
        tmp_path: Path) -> None:
    server = scenario
    before = server.sandbox.locks.to_dict()
    crash_worker_a(server, azurite, tmp_path, container)
    env_b = worker_environment(server, azurite, tmp_path / "worker-b", container, grace=0)
    done = run_cli(env_b, "apply", "--yes", "--no-wait", "--vm", vm_id(server), "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.sandbox.locks.to_dict() == before
    with open_b(azurite, credential, container) as journal:
        assert journal.pending_locks() == ()
        actions = [c.action for c in journal.changes()]
        # A's entry claimed and restored first; then B's own removal, journaled before its delete, restored.
        assert actions[:3] == ["lock-recorded", "lock-claimed", "lock-restored"]
        assert actions.count("lock-recorded") == 2 and actions.count("lock-restored") == 2
        assert {r.command: r.status for r in journal.runs()}["apply"] in ("interrupted", "succeeded")
        assert sorted(r.status for r in journal.runs()) == ["interrupted", "succeeded"]


def test_a_live_run_keeps_its_entry_within_the_grace_period(
        scenario: SandboxServer, azurite: AzuriteServer, credential: IdentityEndpointCredential, container: str,
        tmp_path: Path) -> None:
    server = scenario
    crash_worker_a(server, azurite, tmp_path, container)
    env_b = worker_environment(server, azurite, tmp_path / "worker-b", container, grace=3600)
    held = run_cli(env_b, "recover", "--output", "json")
    (entry,) = json.loads(held.stdout)["locks"]
    assert entry["outcome"] == "in-use"
    assert server.sandbox.locks.to_dict() == [] and lock_puts(server) == []
    with open_b(azurite, credential, container, grace=3600) as journal:
        run = journal.start_run(command="apply", targets=[])
        gateway = Gateway(credential, subscription(server), base_url=server.endpoint,
                          connection_verify=azurite.ca_file)
        (pending,) = journal.pending_locks()
        with pytest.raises(LockInUseError):
            journal.record_lock_removal(run, pending.lock)
        journal.finish_run(run, status="succeeded")
        gateway.close()


def test_two_recoveries_racing_restore_the_lock_once(
        scenario: SandboxServer, azurite: AzuriteServer, credential: IdentityEndpointCredential, container: str,
        tmp_path: Path) -> None:
    server = scenario
    before = server.sandbox.locks.to_dict()
    crash_worker_a(server, azurite, tmp_path, container)
    # The decisive interleaving, forced: both recoveries see A dead; the first claims (and leases) the entry,
    # the second cannot lease it and leaves it alone, even though its grace of 0 calls the first dead too.
    first, second = open_b(azurite, credential, container), open_b(azurite, credential, container)
    run_1 = first.start_run(command="recover", targets=[])
    run_2 = second.start_run(command="recover", targets=[])
    claimed_1, held_1 = first.claim_pending(run_1)
    claimed_2, held_2 = second.claim_pending(run_2)
    assert [p.entry_id for p in claimed_1] == [p.entry_id for p in held_2] and not claimed_2 and not held_1
    second.finish_run(run_2, status="succeeded")
    gateway = Gateway(credential, subscription(server), base_url=server.endpoint, connection_verify=server.ca_file)
    (done,) = recover_locks(first, gateway, run_id=run_1)
    assert done.outcome == "restored"
    first.finish_run(run_1, status="succeeded")
    assert server.sandbox.locks.to_dict() == before and len(lock_puts(server)) == 1
    # A recovery that comes after finds nothing pending: the lock is never restored twice.
    assert recover_locks(second, gateway) == ()
    first.close(), second.close(), gateway.close()

    # And as Automation would run it: two `recover` processes at once, on two workers.
    server.sandbox.load("rp-limit-locked")
    server.sandbox.clear_requests()
    crash_worker_a(server, azurite, tmp_path, container)
    envs = [worker_environment(server, azurite, tmp_path / f"worker-{n}", container, grace=0) for n in "bc"]
    from tests.sandbox_cli import cli_command

    procs = [subprocess.Popen(cli_command("recover", "--output", "json"), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for env in envs]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, out + err
        outcomes += [e["outcome"] for e in json.loads(out)["locks"]]
    assert outcomes.count("restored") == 1 and set(outcomes) <= {"restored", "in-use"}
    assert server.sandbox.locks.to_dict() == before and len(lock_puts(server)) == 1


def test_the_journal_survives_azurite_restarting(
        scenario: SandboxServer, azurite: AzuriteServer, credential: IdentityEndpointCredential, container: str,
        tmp_path: Path) -> None:
    server = scenario
    before = server.sandbox.locks.to_dict()
    crash_worker_a(server, azurite, tmp_path, container)
    azurite.restart()
    env_b = worker_environment(server, azurite, tmp_path / "worker-b", container, grace=0)
    result = run_cli(env_b, "recover", "--output", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [e["outcome"] for e in json.loads(result.stdout)["locks"]] == ["restored"]
    assert server.sandbox.locks.to_dict() == before


def test_a_container_that_does_not_exist_is_one_line_and_nothing_is_deleted(
        scenario: SandboxServer, azurite: AzuriteServer, credential: IdentityEndpointCredential,
        tmp_path: Path) -> None:
    server = scenario
    before = server.sandbox.locks.to_dict()
    missing = azurite.container_url("no-such-container")
    env = worker_environment(server, azurite, tmp_path / "worker", missing)
    result = run_cli(env, "apply", "--yes", "--no-wait", "--vm", vm_id(server))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "no-such-container" in line]
    assert len(lines) == 1 and "does not exist" in lines[0], result.stderr
    assert server.sandbox.locks.to_dict() == before and writes(server.sandbox.requests()) == []
    no_account = f"https://127.0.0.1:{azurite.port}/noaccount/journal"
    with pytest.raises(JournalError, match="no storage account 'noaccount'"):
        open_journal(no_account, credential=credential, connection_verify=azurite.ca_file)


def test_a_token_storage_refuses_is_one_line_and_nothing_is_deleted(
        scenario: SandboxServer, azurite: AzuriteServer, container: str) -> None:
    server = scenario
    before = server.sandbox.locks.to_dict()
    # ARM accepts this identity's token; Storage (Azurite) refuses it, as Azure does without a data role.
    arm_only = IdentityEndpointCredential(server.identity_endpoint, server.identity_header, azurite.ca_file,
                                          audience="https://management.azure.com")
    with pytest.raises(JournalPermissionError) as refused:
        open_journal(container, credential=arm_only, connection_verify=azurite.ca_file)
    message = str(refused.value)
    assert "\n" not in message and "Storage Blob Data Contributor" in message and "403" not in message.split(":")[0]
    with Remediator(arm_only, subscription(server), base_url=server.endpoint, connection_verify=azurite.ca_file,
                    journal_path=container) as fix:
        with pytest.raises(JournalPermissionError):
            fix.run(vm_id(server), apply=True, wait=False)
    assert server.sandbox.locks.to_dict() == before and writes(server.sandbox.requests()) == []


def test_fleet_progress_resumes_on_another_worker(azurite: AzuriteServer, credential: IdentityEndpointCredential,
                                                  container: str) -> None:
    arguments = {"subscriptions": ["s"], "shard": "1/2"}
    with open_b(azurite, credential, container) as worker_a:
        store = worker_a.progress_store()
        scan_id, resumed = store.open_scan(arguments)
        assert not resumed
        store.record(scan_id, "/subscriptions/s/VM-1", {"vm": "vm-1", "outcome": "fixed"})
    with open_b(azurite, credential, container) as worker_b:  # a resubmitted job, elsewhere
        store = worker_b.progress_store()
        assert store.open_scan(arguments) == (scan_id, True)
        assert store.open_scan({**arguments, "shard": "2/2"})[1] is False  # another shard: its own scan
        assert store.done(scan_id) == {"/subscriptions/s/vm-1": {"vm": "vm-1", "outcome": "fixed"}}
        store.finish(scan_id)
        assert store.open_scan(arguments)[1] is False  # finished: a new scan


def test_records_land_in_the_container_under_the_prefix(
        scenario: SandboxServer, azurite: AzuriteServer, credential: IdentityEndpointCredential, container: str,
        tmp_path: Path) -> None:
    crash_worker_a(scenario, azurite, tmp_path, container, crash_at="after-record")
    name = container.split("/")[4]
    with ContainerClient(azurite.account_url, name, credential=credential, api_version=STORAGE_API_VERSION,
                         connection_verify=azurite.ca_file) as client:
        names = [b.name for b in client.list_blobs()]
    assert all(n.startswith("automation/prod/") for n in names)
    assert {n.split("/")[2] for n in names} == {"journal.json", "ids", "runs", "locks", "changes"}


def test_a_scan_resumes_on_another_worker_from_the_blob_journal(
        scenario: SandboxServer, azurite: AzuriteServer, container: str, tmp_path: Path) -> None:
    server = scenario
    sub = subscription(server)
    env_a = worker_environment(server, azurite, tmp_path / "worker-a", container)
    first = run_cli(env_a, "scan", "--subscription", sub, "--output", "json")
    report_a = json.loads(first.stdout)
    assert first.returncode in (0, 4) and report_a["resumed"] is False and report_a["vms"], first.stderr
    env_b = worker_environment(server, azurite, tmp_path / "worker-b", container)
    again = run_cli(env_b, "scan", "--subscription", sub, "--resume", report_a["scan_id"], "--output", "json")
    report_b = json.loads(again.stdout)
    assert again.returncode == first.returncode, again.stderr
    assert report_b["resumed"] is True and report_b["scan_id"] == report_a["scan_id"]
    assert [(v["vm"], v["outcome"]) for v in report_b["vms"]] == [(v["vm"], v["outcome"]) for v in report_a["vms"]]
    assert report_b["request_count"] < report_a["request_count"]  # done VMs are not diagnosed again
