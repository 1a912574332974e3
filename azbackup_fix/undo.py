"""What every ``recover --undo-...`` shares: another run's journaled changes of some actions, newest first,
each undone at most once (the undo is journaled under its own run, action ``<kind>-undone``, target
``change:<id>``), so a second undo finds nothing left to do."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from .journal import Change, Journal

__all__ = ["UndoLedger", "undo_key"]


def undo_key(change: Change) -> str:
    return f"change:{change.change_id}"


class UndoLedger:
    """Run ``run_id``'s ``actions`` to undo, and the journal run recording their undo.

    As a context manager it opens that run (``command``; ``targets``: the undone run) when there is something
    to record and no ``undo_run_id`` was given, and closes it with ``failed`` when :meth:`fail` was called.
    ``record=False`` (a dry run): nothing is written to the journal."""

    def __init__(self, journal: Journal, run_id: str, *, actions: Iterable[str], undone_action: str, command: str,
                 undo_run_id: str | None = None, record: bool = True) -> None:
        wanted = set(actions)
        self.journal, self.run_id, self.undone_action, self.record = journal, run_id, undone_action, record
        self.changes: tuple[Change, ...] = tuple(reversed([c for c in journal.changes(run_id) if c.action in wanted]))
        self._done = {c.target for c in journal.changes_by_action(undone_action)}
        self._command, self._own = command, undo_run_id is None
        self.undo_run_id: str | None = undo_run_id
        self._status = "succeeded"

    def undone(self, change: Change) -> bool:
        return undo_key(change) in self._done

    def mark_undone(self, change: Change) -> None:
        if self.record and self.undo_run_id is not None:
            self.journal.record_change(self.undo_run_id, action=self.undone_action, target=undo_key(change),
                                       detail=change.detail)
        self._done.add(undo_key(change))

    def fail(self) -> None:
        self._status = "failed"

    def __enter__(self) -> UndoLedger:
        if self.record and self._own and self.changes:
            self.undo_run_id = self.journal.start_run(command=self._command, targets=[self.run_id])
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.record and self._own and self.undo_run_id is not None:
            self.journal.finish_run(self.undo_run_id, status="failed" if kind is not None else self._status)
