"""The journal: durable across reopen, state transitions, pending semantics, the concurrency rule
(two processes on one file: no lost entry, no double entry, no restore under an active run), run
liveness surviving SIGKILL, schema versioning, and a clear error for corrupt or foreign files."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main
from azbackup_fix.ids import LockRef, ResourceId
from azbackup_fix.journal import SCHEMA_VERSION, Journal, JournalError, LockInUseError
from azbackup_fix.models import Lock, LockLevel
from azbackup_fix.settings import Settings, default_journal_path

SUB = "00000000-0000-0000-0000-00000000000a"
OTHER_SUB = "00000000-0000-0000-0000-00000000000b"
REPO = Path(__file__).resolve().parents[2]


def lock(name: str = "rg-no-delete", *, rg: str = "AzureBackupRG_eastus_1", sub: str = SUB,
         notes: str | None = "keep it", level: LockLevel = LockLevel.CAN_NOT_DELETE) -> Lock:
    return Lock(LockRef(ResourceId(sub, rg), name), level, notes=notes, owners=("app-1",))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.sqlite"


# -- durability and states -----------------------------------------------------------------------

def test_an_entry_survives_reopen_with_the_whole_lock(path: Path) -> None:
    with Journal(path) as journal:
        run = journal.start_run(command="apply", targets=["vm-1"])
        entry = journal.record_lock_removal(run, lock())
        journal.mark_removed(entry)
    with Journal(path) as journal:
        (pending,) = journal.pending_locks()
        assert (pending.entry_id, pending.run_id, pending.state) == (entry, run, "removed")
        assert pending.lock == lock() and pending.lock.notes == "keep it" and pending.lock.owners == ("app-1",)
        assert pending.lock.level is LockLevel.CAN_NOT_DELETE and pending.recorded_at.tzinfo is not None
        (info,) = journal.runs()
        assert info.status == "running" and not info.active and info.targets == ("vm-1",)


def test_state_transitions_and_idempotence(path: Path) -> None:
    with Journal(path) as journal:
        run = journal.start_run(command="apply", targets=[])
        a = journal.record_lock_removal(run, lock("a"))
        assert journal.record_lock_removal(run, lock("A")) == a  # same lock (ids ignore case), same entry
        assert [p.state for p in journal.pending_locks()] == ["recorded"]
        journal.mark_removed(a)
        journal.mark_removed(a)
        with pytest.raises(JournalError, match="is removed, cannot become abandoned"):
            journal.mark_abandoned(a)  # would forget a lock that is gone
        journal.mark_restored(a)
        journal.mark_restored(a)
        with pytest.raises(JournalError, match="is restored, cannot become removed"):
            journal.mark_removed(a)
        b = journal.record_lock_removal(run, lock("b"))
        journal.mark_abandoned(b)
        c = journal.record_lock_removal(run, lock("c"))
        journal.mark_restored(c)  # recorded -> restored (found in place)
        assert journal.pending_locks() == ()
        d = journal.record_lock_removal(run, lock("a"))  # a restored lock may be removed again
        assert d not in (a, b, c) and [p.entry_id for p in journal.pending_locks()] == [d]
        with pytest.raises(JournalError, match="no lock entry 999"):
            journal.mark_restored(999)
        journal.finish_run(run, status="succeeded")
        actions = [c.action for c in journal.changes(run)]
        assert actions == ["lock-recorded", "lock-removed", "lock-restored", "lock-recorded", "lock-abandoned",
                           "lock-recorded", "lock-restored", "lock-recorded"]
        assert journal.runs()[0].status == "succeeded" and journal.runs()[0].finished_at is not None


def test_only_running_runs_of_this_process_write(path: Path) -> None:
    with Journal(path) as journal:
        run = journal.start_run(command="apply", targets=[])
        journal.finish_run(run, status="failed")
        with pytest.raises(JournalError, match="not running in this process"):
            journal.record_lock_removal(run, lock())
        with pytest.raises(JournalError, match="no run 'nope'"):
            journal.record_change("nope", action="x", target="y", detail="z")


def test_changes_mask_secrets_and_stay_one_line(path: Path) -> None:
    with Journal(path) as journal:
        run = journal.start_run(command="apply", targets=[])
        journal.record_change(run, action="extension-deleted", target="vm-1",
                              detail="settings https://x.blob.core.windows.net/c?sv=1&sig=SECRETSIG\nBearer eyJabc.def")
        (change,) = journal.changes(run)
        assert "SECRETSIG" not in change.detail and "eyJabc" not in change.detail and "\n" not in change.detail
        assert journal.changes() == (change,)


def test_file_is_private_and_wal(path: Path) -> None:
    with Journal(path):
        pass
    assert path.stat().st_mode & 0o077 == 0
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


# -- liveness and the concurrency rule -----------------------------------------------------------

def test_a_second_run_neither_records_nor_restores_a_lock_an_active_run_holds(path: Path) -> None:
    with Journal(path) as first, Journal(path) as second:  # two handles: as two processes would
        run_a = first.start_run(command="apply", targets=[])
        run_b = second.start_run(command="apply", targets=[])
        entry = first.record_lock_removal(run_a, lock())
        first.mark_removed(entry)
        with pytest.raises(LockInUseError, match=f"journaled by run {run_a}, which is still active") as caught:
            second.record_lock_removal(run_b, lock())
        assert caught.value.run_id == run_a
        claimed, held = second.claim_pending(run_b)
        assert claimed == () and [p.entry_id for p in held] == [entry]
        assert [r.active for r in second.runs()] == [True, True]
        assert len(second.pending_locks()) == 1  # no second entry


def test_a_dead_runs_entry_is_claimed_once_and_adopted_with_the_lock_seen_now(path: Path) -> None:
    with Journal(path) as dead:
        run_dead = dead.start_run(command="apply", targets=[])
        entry = dead.record_lock_removal(run_dead, lock(notes="old notes"))
    # `dead` closed without finishing: its OS lock is gone, as after a SIGKILL.
    with Journal(path) as journal:
        run = journal.start_run(command="apply", targets=[])
        assert journal.record_lock_removal(run, lock(notes="new notes")) == entry
        (pending,) = journal.pending_locks()
        assert pending.run_id == run and pending.lock.notes == "new notes" and pending.state == "recorded"
        assert {r.run_id: r.status for r in journal.runs()}[run_dead] == "interrupted"


def test_claiming_filters_by_subscription(path: Path) -> None:
    with Journal(path) as dead:
        run = dead.start_run(command="apply", targets=[])
        dead.record_lock_removal(run, lock("a"))
        dead.record_lock_removal(run, lock("b", sub=OTHER_SUB))
    with Journal(path) as journal:
        run = journal.start_run(command="recover", targets=[])
        claimed, held = journal.claim_pending(run, subscription=OTHER_SUB.upper())
        assert [p.lock.name for p in claimed] == ["b"] and held == ()
        claimed, _ = journal.claim_pending(run)
        assert [p.lock.name for p in claimed] == ["a", "b"]


def _record_in_a_process(path: str, names: list[str], barrier: multiprocessing.synchronize.Barrier,
                         results: multiprocessing.Queue) -> None:
    outcome: list[tuple[str, object]] = []
    with Journal(path) as journal:
        run = journal.start_run(command="apply", targets=[])
        barrier.wait()  # both processes have a live run before either records
        for name in names:
            try:
                outcome.append((name, journal.record_lock_removal(run, lock(name))))
            except LockInUseError as exc:
                outcome.append((name, f"in-use:{exc.run_id}"))
        results.put((run, outcome))
        barrier.wait()  # stay alive until the other has tried too
        journal.finish_run(run, status="succeeded")


def test_two_processes_on_one_journal_lose_nothing_and_duplicate_nothing(path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2, timeout=60)
    results = ctx.Queue()
    shared = [f"shared-{i}" for i in range(15)]
    one = [f"one-{i}" for i in range(15)]
    two = [f"two-{i}" for i in range(15)]
    Journal(path).close()  # create the schema once; the processes race on writes, not on creation
    procs = [ctx.Process(target=_record_in_a_process, args=(str(path), shared + one, barrier, results)),
             ctx.Process(target=_record_in_a_process, args=(str(path), two + shared[::-1], barrier, results))]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    with Journal(path) as journal:
        pending = journal.pending_locks()
    by_name = {p.lock.name: p for p in pending}
    assert len(pending) == len(by_name) == 45  # every lock once: none lost, none twice
    for run, outcome in outcomes:
        for name, result in outcome:
            if isinstance(result, int):
                assert by_name[name].run_id == run and by_name[name].entry_id == result
            else:  # refused: the other (active) run owns it
                assert by_name[name].run_id != run and result == f"in-use:{by_name[name].run_id}"
    refused = [name for _, outcome in outcomes for name, result in outcome if not isinstance(result, int)]
    assert sorted(refused) == sorted(shared)  # each shared lock: one process recorded it, the other was refused


def test_a_run_killed_with_sigkill_is_dead_and_its_entries_claimable(path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from azbackup_fix.journal import Journal\n"
        "from tests.unit.test_journal import lock\n"
        "j = Journal(sys.argv[1]); run = j.start_run(command='apply', targets=[])\n"
        "j.mark_removed(j.record_lock_removal(run, lock()))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, capture_output=True, timeout=60,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Journal(path) as journal:
        (pending,) = journal.pending_locks()
        assert pending.state == "removed"
        assert [r.active for r in journal.runs()] == [False]
        run = journal.start_run(command="recover", targets=[])
        claimed, held = journal.claim_pending(run)
        assert [p.entry_id for p in claimed] == [pending.entry_id] and held == ()


def test_a_live_process_keeps_its_run_active(path: Path) -> None:
    script = (
        "import sys\n"
        "from azbackup_fix.journal import Journal\n"
        "from tests.unit.test_journal import lock\n"
        "j = Journal(sys.argv[1]); run = j.start_run(command='apply', targets=[])\n"
        "j.record_lock_removal(run, lock())\n"
        "print(run, flush=True); sys.stdin.readline()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        run_other = proc.stdout.readline().strip()  # type: ignore[union-attr]
        with Journal(path) as journal:
            assert [(r.run_id, r.active) for r in journal.runs()] == [(run_other, True)]
            run = journal.start_run(command="recover", targets=[])
            claimed, held = journal.claim_pending(run)
            assert claimed == () and [p.run_id for p in held] == [run_other]
    finally:
        proc.communicate("\n", timeout=60)  # let it exit normally, without finishing its run
    with Journal(path) as journal:
        assert {r.run_id: r.active for r in journal.runs()}[run_other] is False


# -- bad files -----------------------------------------------------------------------------------

def test_a_corrupt_file_is_a_clear_error(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite\n" * 300)
    with pytest.raises(JournalError, match="not a readable azbackup-fix journal: file is not a database") as caught:
        Journal(path)
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_a_foreign_sqlite_file_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="not an azbackup-fix journal"):
        Journal(path)


def test_a_newer_schema_is_refused_and_older_ones_migrate(path: Path) -> None:
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(JournalError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        Journal(path)


def test_a_truncated_journal_in_the_middle_is_an_error_not_silence(path: Path) -> None:
    with Journal(path) as journal:
        run = journal.start_run(command="apply", targets=[])
        for i in range(200):
            journal.record_change(run, action="x", target=f"t{i}", detail="d" * 200)
    data = path.read_bytes()
    path.write_bytes(data[:4096] + b"\xff" * (len(data) - 4096))  # pages after the header are garbage
    with pytest.raises(JournalError):
        with Journal(path) as journal:
            journal.changes()


def test_a_directory_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="not a regular file"):
        Journal(tmp_path)


def test_recover_cli_reports_a_corrupt_journal_in_one_line(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    code = main(["recover", "--journal", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a readable azbackup-fix journal" in err


# -- where the journal lives ------------------------------------------------------------------------

def test_journal_path_from_settings() -> None:
    assert Settings.from_env({"AZBACKUP_JOURNAL": " /data/j.sqlite ", "HOME": "/home/u"}).journal_path == "/data/j.sqlite"
    assert Settings.from_env({"HOME": "/home/u"}).journal_path == "/home/u/.local/state/azbackup-fix/journal.sqlite"
    assert default_journal_path({"XDG_STATE_HOME": "/st", "HOME": "/h"}, platform="linux") == \
        "/st/azbackup-fix/journal.sqlite"
    assert default_journal_path({"HOME": "/Users/u"}, platform="darwin") == \
        "/Users/u/Library/Application Support/azbackup-fix/journal.sqlite"
    assert default_journal_path({"LOCALAPPDATA": "C:/Users/u/AppData/Local"}, platform="win32") == \
        os.path.join("C:/Users/u/AppData/Local", "azbackup-fix", "journal.sqlite")
    assert default_journal_path({}) is None


def test_recover_without_any_journal_location_is_bad_input(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AZBACKUP_JOURNAL", "HOME", "USERPROFILE", "XDG_STATE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    assert main(["recover"]) == 2
    assert "give --journal PATH or set AZBACKUP_JOURNAL" in capsys.readouterr().err
