"""recover_locks against the in-process sandbox (scenario rp-limit-locked) through the real SDK:
a killed run's lock comes back identical; a delete that never happened writes nothing; a failed
PUT stays pending and the next recovery finishes; locks of an active run or of another
subscription are left alone; a second recovery is a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest

from azbackup_fix import SandboxCredential
from azbackup_fix.gateway import Gateway
from azbackup_fix.ids import LockRef, ResourceId
from azbackup_fix.journal import Journal
from azbackup_fix.models import Lock, LockLevel
from azbackup_fix.recovery import recover_locks
from azbackup_sandbox import Sandbox
from azbackup_sandbox.core.control import subscription_ids
from tests.gateway.sandbox_arm import writes

RP_RG = "AzureBackupRG_eastus_1"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(scenario="rp-limit-locked")


@pytest.fixture
def gateway(sandbox: Sandbox) -> Gateway:
    return Gateway(SandboxCredential(), subscription_ids(sandbox)[0], transport=sandbox.transport(), polling_interval=0)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    with Journal(tmp_path / "journal.sqlite") as opened:
        yield opened


def the_lock(gateway: Gateway) -> Lock:
    (lock,) = gateway.list_resource_group_locks(RP_RG)
    return lock


def killed_run(path: Path, gateway: Gateway, lock: Lock, *, delete: bool = True, mark: bool = True) -> int:
    """What a run killed mid-way leaves: the entry, maybe the delete, no restore, no finish."""
    dead = Journal(path)
    run = dead.start_run(command="apply", targets=[])
    entry = dead.record_lock_removal(run, lock)
    if delete:
        gateway.delete_lock(lock)
        if mark:
            dead.mark_removed(entry)
    dead.close()  # releases the run's OS lock, as the kernel does for a killed process
    return entry


@pytest.mark.parametrize("mark", [True, False], ids=["removed", "recorded-then-deleted"])
def test_a_killed_runs_lock_comes_back_identical(sandbox: Sandbox, gateway: Gateway, journal: Journal,
                                                 mark: bool) -> None:
    before = sandbox.locks.to_dict()
    lock = the_lock(gateway)
    entry = killed_run(journal.path, gateway, lock, mark=mark)
    assert sandbox.locks.to_dict() == []
    sandbox.clear_requests()
    (result,) = recover_locks(journal, gateway)
    assert (result.outcome, result.entry_id, result.lock) == ("restored", entry, lock)
    assert sandbox.locks.to_dict() == before  # same id (name, scope), level, notes, owners
    assert [(r.method, r.operation) for r in writes(sandbox.requests())] == \
        [("PUT", "ManagementLocks_CreateOrUpdateAtResourceGroupLevel")]
    assert journal.pending_locks() == ()
    sandbox.clear_requests()
    assert recover_locks(journal, gateway) == ()  # idempotent: nothing left, nothing sent
    assert writes(sandbox.requests()) == []


def test_a_delete_that_never_happened_writes_nothing(sandbox: Sandbox, gateway: Gateway, journal: Journal) -> None:
    lock = the_lock(gateway)
    killed_run(journal.path, gateway, lock, delete=False)
    sandbox.clear_requests()
    (result,) = recover_locks(journal, gateway)
    assert result.outcome == "already-present" and writes(sandbox.requests()) == []
    assert journal.pending_locks() == ()
    assert "lock-already-present" in [c.action for c in journal.changes()]


def test_a_failed_restore_stays_pending_and_the_next_recovery_finishes(sandbox: Sandbox, gateway: Gateway,
                                                                        journal: Journal) -> None:
    before = sandbox.locks.to_dict()
    killed_run(journal.path, gateway, the_lock(gateway))
    sandbox.faults.add({"method": "PUT", "path": "/providers/Microsoft.Authorization/locks/", "status": 403,
                        "code": "AuthorizationFailed", "times": 1,
                        "message": "The client does not have authorization to perform action "
                                   "'Microsoft.Authorization/locks/write' over scope '/x'."})
    (failed,) = recover_locks(journal, gateway)
    assert failed.outcome == "failed" and not failed.ok and failed.error_code == "PermissionDeniedError"
    assert "Microsoft.Authorization/locks/write" in (failed.error_message or "")
    assert [p.state for p in journal.pending_locks()] == ["removed"]
    assert [r.status for r in journal.runs() if r.command == "recover"] == ["failed"]
    (done,) = recover_locks(journal, gateway)
    assert done.outcome == "restored" and sandbox.locks.to_dict() == before and journal.pending_locks() == ()


def test_locks_of_an_active_run_are_left_to_it(sandbox: Sandbox, gateway: Gateway, journal: Journal) -> None:
    lock = the_lock(gateway)
    with Journal(journal.path) as other:
        run = other.start_run(command="apply", targets=[])
        other.mark_removed(other.record_lock_removal(run, lock))
        gateway.delete_lock(lock)
        sandbox.clear_requests()
        (result,) = recover_locks(journal, gateway)
        assert result.outcome == "in-use" and result.ok and result.left_by == run
        assert writes(sandbox.requests()) == [] and len(journal.pending_locks()) == 1
        other.finish_run(run, status="failed")  # finished, but its lock is still pending
    (result,) = recover_locks(journal, gateway)
    assert result.outcome == "restored" and journal.pending_locks() == ()


def test_a_single_gateway_recovers_only_its_subscription(sandbox: Sandbox, gateway: Gateway,
                                                         journal: Journal) -> None:
    elsewhere = Lock(LockRef(ResourceId("00000000-0000-0000-0000-0000000000ff", "rg"), "x"), LockLevel.READ_ONLY)
    dead = Journal(journal.path)
    dead.record_lock_removal(dead.start_run(command="apply", targets=[]), elsewhere)
    dead.close()
    assert recover_locks(journal, gateway) == ()
    assert [p.lock for p in journal.pending_locks()] == [elsewhere]
