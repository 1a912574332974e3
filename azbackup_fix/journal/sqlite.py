"""The SQLite journal: a durable record of every change, for undo and crash recovery (stdlib).

Every lock azbackup-fix removes is written here *before* the delete is sent
(:meth:`Journal.record_lock_removal`, committed with ``synchronous=FULL``), marked
``removed`` once ARM confirmed the delete, and ``restored`` after it was put back. A run
killed in between leaves the entry pending; :func:`azbackup_fix.recovery.recover_locks`
(``azbackup-fix recover``, and every next run) puts it back.

Entry states::

    recorded --mark_removed--> removed --mark_restored--> restored
        |                         |           ^      ^
        +---------------mark_restored---------+      |
        +--mark_abandoned--> abandoned   (the delete never happened)
                                  +--mark_left_removed--> left-removed --restore_left_locks--+

``recorded`` and ``removed`` are *pending*. ``removed`` can never be abandoned: that
would forget a lock that is gone. ``left-removed`` is a lock the user asked to leave removed
(``restore_locks: false``, ``--leave-locks-removed``, as guide 000 recommends for the backup
service's group): not pending, so no run puts it back on its own, but kept with everything needed
to re-create it; ``azbackup-fix recover --restore-left-locks`` puts such locks back.

Concurrency rule (several processes, or threads, on one journal file):

* Every write is one ``BEGIN IMMEDIATE`` transaction (SQLite's writer lock, waited for up
  to a busy timeout), so check-then-write decisions are atomic across processes.
* At most one pending entry per lock id (case-insensitive), enforced by a partial unique
  index. A run that wants to remove a lock which already has a pending entry:
  - of its own run: gets that entry back (retrying is idempotent);
  - of a run that is still active: :class:`LockInUseError`, nothing recorded, and it
    must not delete or restore that lock;
  - of a dead run: adopts the entry (same id, re-recorded with the lock as observed now).
* Recovery only restores entries it has *claimed* (:meth:`Journal.claim_pending`), and
  claiming skips entries of active runs, so two recoveries never restore the same entry.
* A run is active while its process holds an OS lock (``flock``/``msvcrt``) on
  ``<journal>.runs/<run id>.lock``; the OS drops it when the process dies, SIGKILL
  included, so liveness needs no heartbeat and survives pid reuse. The journal must
  live on a local filesystem (which SQLite's WAL mode requires anyway).

Nothing secret is stored: change details pass through :func:`~azbackup_fix.errors.one_line`,
which masks SAS signatures and tokens.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import one_line
from ..models.locks import Lock
from .records import (
    Change,
    JournalBase,
    JournalError,
    LeftLock,
    LockInUseError,
    PendingLock,
    RunInfo,
)

__all__ = ["BUSY_TIMEOUT_SECONDS", "MIGRATIONS", "SCHEMA_VERSION", "Journal"]

SCHEMA_VERSION = 3
BUSY_TIMEOUT_SECONDS = 30.0
_APP_ID = 0x617A6266  # "azbf" in PRAGMA application_id: tells our journal from another SQLite file

# -- schema ------------------------------------------------------------------------------------

def _migrate_to_1(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            targets TEXT NOT NULL,          -- JSON array
            status TEXT NOT NULL,
            pid INTEGER,
            host TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE lock_entries (
            entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            lock_key TEXT NOT NULL,         -- casefolded lock id
            lock TEXT NOT NULL,             -- Lock.to_dict() as JSON
            state TEXT NOT NULL CHECK (state IN ('recorded', 'removed', 'restored', 'abandoned')),
            recorded_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    # The heart of the concurrency rule: one pending entry per lock, whatever the process.
    db.execute(
        "CREATE UNIQUE INDEX one_pending_entry_per_lock ON lock_entries(lock_key) "
        "WHERE state IN ('recorded', 'removed')"
    )
    db.execute(
        """CREATE TABLE changes (
            change_id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX changes_by_run ON changes(run_id, change_id)")


def _migrate_to_2(db: sqlite3.Connection) -> None:
    # Fleet scan progress (azbackup_fix.fleet.progress): a stopped scan resumes where it stopped.
    db.execute(
        """CREATE TABLE fleet_scans (
            scan_id TEXT PRIMARY KEY,
            scan_key TEXT NOT NULL,         -- hash of the scan's arguments
            arguments TEXT NOT NULL,        -- JSON
            status TEXT NOT NULL,           -- running | finished
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX fleet_scans_by_key ON fleet_scans(scan_key, started_at)")
    db.execute(
        """CREATE TABLE fleet_items (
            scan_id TEXT NOT NULL REFERENCES fleet_scans(scan_id),
            vm_key TEXT NOT NULL,           -- casefolded VM id
            result TEXT NOT NULL,           -- JSON of the VM's fleet result
            done_at TEXT NOT NULL,
            PRIMARY KEY (scan_id, vm_key)
        )"""
    )


def _migrate_to_3(db: sqlite3.Connection) -> None:
    # A new entry state, left-removed; SQLite cannot alter a CHECK constraint, so the table is rebuilt.
    db.execute(
        """CREATE TABLE lock_entries_v3 (
            entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            lock_key TEXT NOT NULL,
            lock TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('recorded', 'removed', 'restored', 'abandoned', 'left-removed')),
            recorded_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute("INSERT INTO lock_entries_v3 SELECT entry_id, run_id, lock_key, lock, state, recorded_at, updated_at "
               "FROM lock_entries")
    db.execute("DROP TABLE lock_entries")
    db.execute("ALTER TABLE lock_entries_v3 RENAME TO lock_entries")
    db.execute(
        "CREATE UNIQUE INDEX one_pending_entry_per_lock ON lock_entries(lock_key) "
        "WHERE state IN ('recorded', 'removed')"
    )


# Migration hook: MIGRATIONS[n] turns a version n-1 journal into version n (run in one transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_to_1, 2: _migrate_to_2, 3: _migrate_to_3}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(moment: datetime | None = None) -> str:
    return (moment or _now()).isoformat(timespec="microseconds")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# -- run liveness (an OS lock held for the run's lifetime) -------------------------------------

class _RunLock:
    """An exclusive OS lock on a small file; released by the OS when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if _lock_fd(fd):
                self.fd = fd
                return True
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return False

    def release(self, *, remove: bool = False) -> None:
        if self.fd is None:
            return
        if remove:  # unlink while still holding the lock: nobody can take a stale file meanwhile
            try:
                self.path.unlink()
            except OSError:
                pass
        _unlock_fd(self.fd)
        os.close(self.fd)
        self.fd = None


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock_fd(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

else:
    import fcntl

    def _lock_fd(fd: int) -> bool:
        # flock (not lockf): it conflicts between two opens in one process too, so two
        # Journal objects in one process see each other's runs as active.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# -- the journal -------------------------------------------------------------------------------

class Journal(JournalBase):
    """A journal file; one object may be shared by the threads of a run.

    >>> with Journal(path) as journal:                                   # doctest: +SKIP
    ...     run = journal.start_run(command="apply", targets=[vm_id])
    ...     entry = journal.record_lock_removal(run, lock)   # durable before the delete
    ...     gateway.delete_lock(lock); journal.mark_removed(entry)
    ...     ...
    ...     gateway.put_lock(lock); journal.mark_restored(entry)
    ...     journal.finish_run(run, status="succeeded")
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._mutex = threading.RLock()
        self._held: dict[str, _RunLock] = {}  # runs this object started and still runs
        self._db = self._open()

    # -- lifecycle ------------------------------------------------------------------------------

    def _fail(self, what: str, exc: BaseException) -> JournalError:
        return JournalError(f"journal {self.path}: {what}: {exc}")

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))  # private from the start
        except OSError as exc:
            raise self._fail("cannot create", exc) from exc
        if not self.path.is_file():
            raise JournalError(f"journal {self.path}: not a regular file")
        try:
            db = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._fail("cannot open", exc) from exc
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit is on disk (WAL fsynced) before record_lock_removal returns, so a
            # lock is never deleted on the strength of a journal row a power cut could undo.
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            self._migrate(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._fail("not a readable azbackup-fix journal", exc) from exc
        except JournalError:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            app = db.execute("PRAGMA application_id").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path}: schema version {version} is newer than this azbackup-fix "
                    f"understands ({SCHEMA_VERSION}); upgrade azbackup-fix"
                )
            if version == 0:
                tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
                if tables:
                    raise JournalError(f"journal {self.path}: an SQLite file that is not an azbackup-fix journal")
                db.execute(f"PRAGMA application_id = {_APP_ID}")
            elif app != _APP_ID:
                raise JournalError(f"journal {self.path}: an SQLite file that is not an azbackup-fix journal")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](db)
                db.execute(f"PRAGMA user_version = {target}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the file. Runs still open count as dead from now on (recover restores their locks)."""
        with self._mutex:
            for held in self._held.values():
                held.release()
            self._held.clear()
            self._db.close()

    def progress_store(self) -> Any:
        """Fleet scan progress in this file (tables fleet_scans / fleet_items)."""
        from ..fleet.progress import ProgressStore

        return ProgressStore(self)

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: decisions inside it are atomic across processes."""
        with self._mutex:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._fail("cannot write", exc) from exc
            try:
                yield self._db
            except sqlite3.DatabaseError as exc:
                self._db.execute("ROLLBACK")
                raise self._fail("cannot write", exc) from exc
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise self._fail("cannot commit", exc) from exc

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._mutex:
            try:
                return self._db.execute(sql, tuple(params)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._fail("cannot read", exc) from exc

    @property
    def _runs_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".runs")

    def _run_active(self, run_id: str) -> bool:
        """Is the run's process alive? (Its OS lock on the run file is held.)"""
        if run_id in self._held:
            return True
        probe = _RunLock(self._runs_dir / f"{run_id}.lock")
        if not probe.path.exists():
            return False
        try:
            if probe.try_acquire():
                probe.release(remove=True)  # dead: tidy its file up
                return False
        except OSError:
            return False
        return True

    @staticmethod
    def _add_change(db: sqlite3.Connection, run_id: str, action: str, target: str, detail: str) -> None:
        db.execute(
            "INSERT INTO changes (run_id, at, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (run_id, _stamp(), one_line(action), one_line(target), one_line(detail)),
        )

    def _require_running(self, db: sqlite3.Connection, run_id: str) -> None:
        row = db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise JournalError(f"journal {self.path}: no run '{run_id}'")
        if row[0] != "running" or run_id not in self._held:
            raise JournalError(f"journal {self.path}: run '{run_id}' is not running in this process")

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self, *, command: str, targets: Sequence[str]) -> str:
        """Open a run; it counts as active until :meth:`finish_run` (or this process dies)."""
        run_id = f"{_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        try:
            self._runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            held = _RunLock(self._runs_dir / f"{run_id}.lock")
            if not held.try_acquire():
                raise JournalError(f"journal {self.path}: run id collision, try again")
        except OSError as exc:
            raise self._fail("cannot create the run's lock file", exc) from exc
        # The OS lock is held before the row exists: whoever sees the row sees a live run.
        with self._mutex:
            self._held[run_id] = held
            try:
                with self._write() as db:
                    db.execute(
                        "INSERT INTO runs (run_id, command, targets, status, pid, host, started_at) "
                        "VALUES (?, ?, ?, 'running', ?, ?, ?)",
                        (run_id, command, json.dumps([str(t) for t in targets]), os.getpid(),
                         socket.gethostname(), _stamp()),
                    )
            except BaseException:
                self._held.pop(run_id).release(remove=True)
                raise
        return run_id

    def finish_run(self, run_id: str, *, status: str) -> None:
        """Close the run with ``status`` (e.g. succeeded, failed). Its pending entries stay pending."""
        with self._mutex:
            with self._write() as db:
                self._require_running(db, run_id)
                db.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                           (status, _stamp(), run_id))
            self._held.pop(run_id).release(remove=True)

    def runs(self) -> tuple[RunInfo, ...]:
        rows = self._read(
            "SELECT run_id, command, targets, status, started_at, finished_at, pid, host FROM runs "
            "ORDER BY started_at, run_id"
        )
        return tuple(
            RunInfo(run_id, command, tuple(json.loads(targets)), status, _parse(started),  # type: ignore[arg-type]
                    _parse(finished), pid, host, status == "running" and self._run_active(run_id))
            for run_id, command, targets, status, started, finished, pid, host in rows
        )

    # -- locks ----------------------------------------------------------------------------------

    def record_lock_removal(self, run_id: str, lock: Lock) -> int:
        """Journal ``lock`` before deleting it; returns the entry id (durable on return).

        Raises :class:`LockInUseError` when another active run has this lock pending.
        """
        key = lock.ref.id.casefold()
        data = json.dumps(lock.to_dict(), sort_keys=True)
        now = _stamp()
        with self._write() as db:
            self._require_running(db, run_id)
            row = db.execute(
                "SELECT entry_id, run_id FROM lock_entries WHERE lock_key = ? AND state IN ('recorded', 'removed')",
                (key,),
            ).fetchone()
            if row is not None:
                entry_id, owner = row
                if owner == run_id:
                    return int(entry_id)
                if self._run_active(owner):
                    raise LockInUseError(
                        f"lock {lock.ref.id} is journaled by run {owner}, which is still active; "
                        "not touching it", lock_id=lock.ref.id, run_id=owner,
                    )
                # A dead run's entry: adopt it; what we observe now is what must be restored.
                db.execute(
                    "UPDATE lock_entries SET run_id = ?, lock = ?, state = 'recorded', recorded_at = ?, "
                    "updated_at = ? WHERE entry_id = ?",
                    (run_id, data, now, now, entry_id),
                )
                self._mark_dead_run(db, owner)
                self._add_change(db, run_id, "lock-recorded", lock.ref.id,
                                 f"entry {entry_id} adopted from dead run {owner}; level {lock.level.value}")
                return int(entry_id)
            cursor = db.execute(
                "INSERT INTO lock_entries (run_id, lock_key, lock, state, recorded_at, updated_at) "
                "VALUES (?, ?, ?, 'recorded', ?, ?)",
                (run_id, key, data, now, now),
            )
            entry_id = int(cursor.lastrowid or 0)
            self._add_change(db, run_id, "lock-recorded", lock.ref.id,
                             f"entry {entry_id}; level {lock.level.value}")
            return entry_id

    def _transition(self, entry_id: int, to: str, allowed: tuple[str, ...]) -> None:
        with self._write() as db:
            row = db.execute("SELECT state, run_id, lock FROM lock_entries WHERE entry_id = ?",
                             (entry_id,)).fetchone()
            if row is None:
                raise JournalError(f"journal {self.path}: no lock entry {entry_id}")
            state, run_id, data = row
            if state == to:
                return  # idempotent
            if state not in allowed:
                raise JournalError(f"journal {self.path}: lock entry {entry_id} is {state}, cannot become {to}")
            db.execute("UPDATE lock_entries SET state = ?, updated_at = ? WHERE entry_id = ?",
                       (to, _stamp(), entry_id))
            self._add_change(db, run_id, f"lock-{to}", json.loads(data)["id"], f"entry {entry_id}")

    def mark_left_removed(self, entry_id: int, *, reason: str) -> None:
        """The user asked to leave this removed lock removed: no run restores it on its own; the entry
        keeps the lock exactly as it was (name, scope, level, notes, owners) for
        :meth:`restore_left_locks`. ``reason`` goes to the audit trail."""
        self._transition(entry_id, "left-removed", ("removed",))
        row = self._read("SELECT run_id, lock FROM lock_entries WHERE entry_id = ?", (entry_id,))
        if row:
            with self._write() as db:
                self._add_change(db, row[0][0], "lock-left-removed", json.loads(row[0][1])["id"],
                                 f"entry {entry_id}: {reason}")

    def left_locks(self) -> tuple[LeftLock, ...]:
        """Locks left removed on purpose and not put back since, oldest first."""
        rows = self._read("SELECT entry_id, run_id, lock, updated_at FROM lock_entries "
                          "WHERE state = 'left-removed' ORDER BY entry_id")
        return tuple(LeftLock(int(e), r, Lock.from_dict(json.loads(d)), _parse(at))  # type: ignore[arg-type]
                     for e, r, d, at in rows)

    def pending_locks(self) -> tuple[PendingLock, ...]:
        """Every entry whose lock may be missing, oldest first (whatever run owns it)."""
        rows = self._read(
            "SELECT entry_id, run_id, lock, state, recorded_at FROM lock_entries "
            "WHERE state IN ('recorded', 'removed') ORDER BY entry_id"
        )
        return tuple(self._pending(row) for row in rows)

    @staticmethod
    def _pending(row: tuple) -> PendingLock:
        entry_id, run_id, data, state, recorded = row
        return PendingLock(int(entry_id), run_id, Lock.from_dict(json.loads(data)), state, _parse(recorded))  # type: ignore[arg-type]

    def claim_pending(
        self, run_id: str, *, subscription: str | None = None
    ) -> tuple[tuple[PendingLock, ...], tuple[PendingLock, ...]]:
        """Take over, for restoring, every pending entry not held by another active run
        (only locks in ``subscription`` when given).

        Returns ``(claimed, held)``: ``claimed`` now belong to ``run_id`` (its own included),
        ``held`` belong to runs still active and must be left alone. Atomic: of two
        concurrent claimers, each entry goes to one.
        """
        claimed: list[PendingLock] = []
        held: list[PendingLock] = []
        with self._write() as db:
            self._require_running(db, run_id)
            rows = db.execute(
                "SELECT entry_id, run_id, lock, state, recorded_at FROM lock_entries "
                "WHERE state IN ('recorded', 'removed') ORDER BY entry_id"
            ).fetchall()
            verdict: dict[str, bool] = {}
            for row in rows:
                if subscription is not None and self._pending(row).lock.ref.scope.subscription.casefold() \
                        != subscription.casefold():
                    continue
                owner = row[1]
                if owner != run_id:
                    if owner not in verdict:
                        verdict[owner] = self._run_active(owner)
                    if verdict[owner]:
                        held.append(self._pending(row))
                        continue
                    db.execute("UPDATE lock_entries SET run_id = ?, updated_at = ? WHERE entry_id = ?",
                               (run_id, _stamp(), row[0]))
                    self._mark_dead_run(db, owner)
                    self._add_change(db, run_id, "lock-claimed", json.loads(row[2])["id"],
                                     f"entry {row[0]} from dead run {owner}")
                claimed.append(self._pending((row[0], run_id, *row[2:])))
        return tuple(claimed), tuple(held)

    @staticmethod
    def _mark_dead_run(db: sqlite3.Connection, run_id: str) -> None:
        db.execute("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE run_id = ? AND status = 'running'",
                   (_stamp(), run_id))

    # -- audit trail ----------------------------------------------------------------------------

    def record_change(self, run_id: str, *, action: str, target: str, detail: str) -> None:
        """Append to the audit trail (secrets are masked; do not pass any)."""
        with self._write() as db:
            self._require_running(db, run_id)
            self._add_change(db, run_id, action, target, detail)

    def changes_by_action(self, action: str) -> tuple[Change, ...]:
        """Every run's audit entries of one action, in order."""
        rows = self._read("SELECT change_id, run_id, at, action, target, detail FROM changes WHERE action = ? "
                          "ORDER BY change_id", (action,))
        return tuple(Change(int(c), r, _parse(at), a, t, d) for c, r, at, a, t, d in rows)  # type: ignore[arg-type]

    def changes(self, run_id: str | None = None) -> tuple[Change, ...]:
        """The audit trail of one run (or of all runs), in order."""
        sql = "SELECT change_id, run_id, at, action, target, detail FROM changes"
        rows = self._read(sql + " WHERE run_id = ? ORDER BY change_id", (run_id,)) if run_id is not None \
            else self._read(sql + " ORDER BY change_id")
        return tuple(Change(int(c), r, _parse(at), a, t, d) for c, r, at, a, t, d in rows)  # type: ignore[arg-type]
