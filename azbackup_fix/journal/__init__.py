"""The journal: a durable record of every change, for undo and crash recovery. One interface, two backends.

* :class:`Journal` - a SQLite file (stdlib), the default on laptops and CI runners: see
  :mod:`azbackup_fix.journal.sqlite` for the entry states and the concurrency rule.
* :class:`~azbackup_fix.journal.blob.BlobJournal` - a container in Azure Blob Storage (extra ``blob``),
  for Azure Automation, where a job's temp directory dies with the job: same states, same rule, built
  on create-only writes, ETags, leases and heartbeats (see :mod:`azbackup_fix.journal.blob`).

:func:`open_journal` picks the backend from what ``--journal`` / ``AZBACKUP_JOURNAL`` says: a file path,
or a container URL (``https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]``, see
:mod:`azbackup_fix.journal.location`). Anything else that looks like a URL is refused with one line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import InvalidInputError
from ..models.locks import Lock
from .location import BlobLocation, is_url, parse_location
from .records import (
    PENDING_STATES,
    Change,
    JournalError,
    JournalPermissionError,
    LeftLock,
    LockInUseError,
    PendingLock,
    PendingState,
    RunInfo,
)
from .sqlite import BUSY_TIMEOUT_SECONDS, MIGRATIONS, SCHEMA_VERSION, Journal

if TYPE_CHECKING:
    from .blob import BlobJournal

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "MIGRATIONS",
    "PENDING_STATES",
    "SCHEMA_VERSION",
    "BlobLocation",
    "Change",
    "Journal",
    "JournalBackend",
    "JournalError",
    "JournalPermissionError",
    "LeftLock",
    "LockInUseError",
    "PendingLock",
    "PendingState",
    "RunInfo",
    "check_journal",
    "is_url",
    "journal_exists",
    "open_journal",
    "parse_location",
]

GRACE_ENV = "AZBACKUP_JOURNAL_GRACE"


@runtime_checkable
class JournalBackend(Protocol):
    """What every journal offers (the SQLite file and the blob container alike)."""

    path: Any

    def close(self) -> None: ...
    def start_run(self, *, command: str, targets: Sequence[str]) -> str: ...
    def finish_run(self, run_id: str, *, status: str) -> None: ...
    def runs(self) -> tuple[RunInfo, ...]: ...
    def record_lock_removal(self, run_id: str, lock: Lock) -> int: ...
    def mark_removed(self, entry_id: int) -> None: ...
    def mark_restored(self, entry_id: int) -> None: ...
    def mark_abandoned(self, entry_id: int) -> None: ...
    def mark_left_removed(self, entry_id: int, *, reason: str) -> None: ...
    def mark_left_restored(self, entry_id: int) -> None: ...
    def left_locks(self) -> tuple[LeftLock, ...]: ...
    def pending_locks(self) -> tuple[PendingLock, ...]: ...
    def claim_pending(self, run_id: str, *, subscription: str | None = None
                      ) -> tuple[tuple[PendingLock, ...], tuple[PendingLock, ...]]: ...
    def record_change(self, run_id: str, *, action: str, target: str, detail: str) -> None: ...
    def changes_by_action(self, action: str) -> tuple[Change, ...]: ...
    def changes(self, run_id: str | None = None) -> tuple[Change, ...]: ...
    def progress_store(self) -> Any: ...


def check_journal(spec: str) -> None:
    """Refuse (one line, nothing sent or created) a journal that is neither a path nor a supported URL."""
    parse_location(spec)


def journal_exists(spec: str | None) -> bool:
    """Might the journal hold anything? A file must exist; a container is asked when opened."""
    if not spec:
        return False
    return isinstance(parse_location(str(spec)), BlobLocation) or os.path.exists(spec)


def _grace(environ: Any) -> float | None:
    text = (environ.get(GRACE_ENV) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"{GRACE_ENV} must be a number of seconds, got '{text}'") from None
    if value < 0:
        raise InvalidInputError(f"{GRACE_ENV} must not be negative")
    return value


def open_journal(spec: str | os.PathLike[str], *, credential: Any = None, grace_seconds: float | None = None,
                 **client_kwargs: Any) -> Journal | BlobJournal:
    """The journal ``spec`` names: a :class:`Journal` file, or a :class:`BlobJournal` for a container URL
    (``credential``, an azure-identity credential, is then required; ``grace_seconds`` defaults to
    ``AZBACKUP_JOURNAL_GRACE`` or the backend's default; ``client_kwargs`` go to the Storage client)."""
    where = parse_location(os.fspath(spec))
    if not isinstance(where, BlobLocation):
        return Journal(where)
    if credential is None:
        raise InvalidInputError(f"journal {where.url}: a Blob Storage journal needs a credential "
                                "(open_journal(..., credential=...))")
    from .blob import BlobJournal

    grace = grace_seconds if grace_seconds is not None else _grace(os.environ)
    return BlobJournal(where, credential, grace_seconds=grace, **client_kwargs)
