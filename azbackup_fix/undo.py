"""What every ``recover --undo-...`` shares: another run's journaled changes of some actions, newest first,
each undone at most once (the undo is journaled under its own run, action ``<kind>-undone``, target
``change:<run id>:<id>``), so a second undo finds nothing left to do."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from .journal import Change, Journal

__all__ = ["UndoLedger", "undo_key"]


def undo_key(change: Change) -> str:
    # With the run id: a Blob Storage journal numbers changes within their run, so ids alone repeat.
    return f"change:{change.run_id}:{change.change_id}"


def _undone_keys(journal: Journal, run_id: str, undone_action: str) -> set[str]:
    records = journal.changes_by_action(undone_action)
    done = {c.target for c in records if c.target.count(":") == 2}
    legacy = [c for c in records if c.target.count(":") == 1]  # "change:<id>", written before run ids were in it
    if legacy:  # trusted only from an undo run of this very run (its targets name it)
        mine = {r.run_id for r in journal.runs() if tuple(r.targets) == (run_id,)}
        done |= {f"change:{run_id}:{c.target.split(':')[1]}" for c in legacy if c.run_id in mine}
    return done


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
        self._done = _undone_keys(journal, run_id, undone_action)
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
