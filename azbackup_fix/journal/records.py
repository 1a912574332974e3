"""What both journal backends hand out: entries, runs, audit lines and the journal's errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal, TypeVar

from ..errors import AzBackupFixError
from ..models.locks import Lock

__all__ = [
    "PENDING_STATES",
    "Change",
    "JournalBase",
    "JournalError",
    "JournalPermissionError",
    "LeftLock",
    "LockInUseError",
    "PendingLock",
    "PendingState",
    "RunInfo",
]

PENDING_STATES = ("recorded", "removed")

PendingState = Literal["recorded", "removed"]

_J = TypeVar("_J", bound="JournalBase")


class JournalBase:
    """What both backends share: the entry state machine's transitions (each backend makes
    ``_transition`` atomic its own way) and closing on exit."""

    def close(self) -> None:
        raise NotImplementedError

    def _transition(self, entry_id: int, to: str, allowed: tuple[str, ...]) -> None:
        raise NotImplementedError

    def mark_removed(self, entry_id: int) -> None:
        """ARM confirmed the delete (or the lock was already gone)."""
        self._transition(entry_id, "removed", ("recorded",))

    def mark_restored(self, entry_id: int) -> None:
        """The lock is back in place."""
        self._transition(entry_id, "restored", PENDING_STATES)

    def mark_abandoned(self, entry_id: int) -> None:
        """The delete was never sent (or ARM refused it); a removed lock cannot be abandoned."""
        self._transition(entry_id, "abandoned", ("recorded",))

    def mark_left_restored(self, entry_id: int) -> None:
        """A left-removed lock is back (``recover --restore-left-locks``)."""
        self._transition(entry_id, "restored", ("left-removed",))

    def __enter__(self: _J) -> _J:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JournalError(AzBackupFixError):
    """The journal file cannot be opened, read or written (corrupt, foreign, newer, busy)."""

    exit_code: ClassVar[int] = 2


class JournalPermissionError(JournalError):
    """The identity may not use the journal's container (no data role, or a token Storage refuses)."""

    exit_code: ClassVar[int] = 3


class LockInUseError(AzBackupFixError):
    """Another active run has this lock journaled: this run must neither delete nor restore it."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, lock_id: str, run_id: str) -> None:
        super().__init__(message)
        self.lock_id = lock_id
        self.run_id = run_id


@dataclass(frozen=True, slots=True)
class PendingLock:
    """A lock that was (or may have been) removed and is not back yet."""

    entry_id: int
    run_id: str
    lock: Lock
    state: PendingState
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class LeftLock:
    """A lock removed and, on purpose, not put back: everything needed to re-create it."""

    entry_id: int
    run_id: str
    lock: Lock
    left_at: datetime


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    command: str
    targets: tuple[str, ...]
    status: str  # running | <finish status> | interrupted (found dead while running)
    started_at: datetime
    finished_at: datetime | None
    pid: int | None
    host: str | None
    active: bool  # its process still holds the run's OS lock


@dataclass(frozen=True, slots=True)
class Change:
    change_id: int
    run_id: str
    at: datetime
    action: str
    target: str
    detail: str
