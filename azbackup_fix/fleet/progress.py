"""Scan progress in the journal file (tables ``fleet_scans`` / ``fleet_items``, journal schema v2).

Each VM's result is committed when the VM is done, so a scan stopped at any point (Azure
Automation's 3-hour limit, a kill) resumes with the VMs not yet done. Resume is automatic for the
same arguments (the newest unfinished scan with the same key) or explicit by scan id; ``fresh``
starts over. Uses its own SQLite connection to the journal's file (WAL: readers and writers coexist).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import InvalidInputError
from ..journal import BUSY_TIMEOUT_SECONDS, Journal


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """How far a fleet scan is, for progress displays."""

    phase: str  # discover | diagnose | apply
    done: int
    total: int
    outcomes: Mapping[str, int]

__all__ = ["ProgressEvent", "ProgressStore", "open_progress", "scan_key"]


def scan_key(arguments: Mapping[str, Any]) -> str:
    text = json.dumps(arguments, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def open_progress(journal: Any) -> ProgressStore:
    """The journal's progress store: these tables for a SQLite journal, blobs for a Blob Storage one."""
    make = getattr(journal, "progress_store", None)
    return make() if callable(make) else ProgressStore(journal)  # type: ignore[no-any-return]


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class ProgressStore:
    """Scans and their finished VMs; thread-safe."""

    def __init__(self, journal: Journal) -> None:
        self.path = journal.path  # the Journal has migrated the file to schema >= 2
        self._db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        self._mutex = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def open_scan(self, arguments: Mapping[str, Any], *, resume: str | None = None,
                  fresh: bool = False) -> tuple[str, bool]:
        """The scan to record into: ``(scan_id, resumed)``."""
        key = scan_key(arguments)
        with self._mutex:
            if resume:
                row = self._db.execute("SELECT scan_key, status FROM fleet_scans WHERE scan_id = ?",
                                       (resume,)).fetchone()
                if row is None:
                    raise InvalidInputError(f"no scan '{resume}' in journal {self.path}")
                if row[0] != key:
                    raise InvalidInputError(f"scan '{resume}' was started with other arguments; "
                                            "resume it with the same targets and options")
                return resume, True
            if not fresh:
                row = self._db.execute(
                    "SELECT scan_id FROM fleet_scans WHERE scan_key = ? AND status = 'running' "
                    "ORDER BY started_at DESC LIMIT 1", (key,)).fetchone()
                if row is not None:
                    return str(row[0]), True
            scan_id = f"scan-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
            now = _stamp()
            self._db.execute("INSERT INTO fleet_scans VALUES (?, ?, ?, 'running', ?, ?)",
                             (scan_id, key, json.dumps(arguments, sort_keys=True, default=str), now, now))
            return scan_id, False

    def done(self, scan_id: str) -> dict[str, dict[str, Any]]:
        """Results already recorded, by folded VM id."""
        with self._mutex:
            rows = self._db.execute("SELECT vm_key, result FROM fleet_items WHERE scan_id = ?",
                                    (scan_id,)).fetchall()
        return {key: json.loads(result) for key, result in rows}

    def record(self, scan_id: str, vm_id: str, result: Mapping[str, Any]) -> None:
        with self._mutex:
            self._db.execute("INSERT OR REPLACE INTO fleet_items VALUES (?, ?, ?, ?)",
                             (scan_id, vm_id.casefold(), json.dumps(result, sort_keys=True, default=str), _stamp()))

    def finish(self, scan_id: str) -> None:
        with self._mutex:
            self._db.execute("UPDATE fleet_scans SET status = 'finished', updated_at = ? WHERE scan_id = ?",
                             (_stamp(), scan_id))
