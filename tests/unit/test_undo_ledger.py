"""The undo ledger keys each undone change by its run and id: a Blob Storage journal numbers changes
within their run (blobs have no global sequence), so change 1 of one run must not count as undone because
change 1 of another run was; entries written before the run id was in the key still count, but only from an
undo run of that very run."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone

from azbackup_fix.journal import Change
from azbackup_fix.journal.records import RunInfo
from azbackup_fix.undo import UndoLedger

NOW = datetime(2026, 12, 2, tzinfo=timezone.utc)


@dataclass
class PerRunJournal:
    """The part of the journal interface the ledger uses, numbering changes per run as BlobJournal does."""

    lines: list[tuple[str, str, str, str]] = field(default_factory=list)  # run, action, target, detail
    started: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def start_run(self, *, command: str, targets: list[str]) -> str:
        run_id = f"run-{next(self._ids)}"
        self.started[run_id] = tuple(targets)
        return run_id

    def finish_run(self, run_id: str, *, status: str) -> None:
        pass

    def record_change(self, run_id: str, *, action: str, target: str, detail: str) -> None:
        self.lines.append((run_id, action, target, detail))

    def _numbered(self, keep: object) -> tuple[Change, ...]:
        out, per_run = [], {}
        for run, action, target, detail in self.lines:
            per_run[run] = per_run.get(run, 0) + 1
            if keep((run, action)):  # type: ignore[operator]
                out.append(Change(per_run[run], run, NOW, action, target, detail))
        return tuple(out)

    def changes(self, run_id: str | None = None) -> tuple[Change, ...]:
        return self._numbered(lambda ra: run_id is None or ra[0] == run_id)

    def changes_by_action(self, action: str) -> tuple[Change, ...]:
        return self._numbered(lambda ra: ra[1] == action)

    def runs(self) -> tuple[RunInfo, ...]:
        return tuple(RunInfo(r, "cmd", t, "succeeded", NOW, NOW, None, None, False) for r, t in self.started.items())


def _two_runs(journal: PerRunJournal) -> tuple[str, str]:
    first, second = journal.start_run(command="apply", targets=["vm"]), journal.start_run(command="apply", targets=["vm"])
    journal.record_change(first, action="guest-setting", target="vm", detail="a")
    journal.record_change(second, action="guest-setting", target="vm", detail="b")
    return first, second


def _ledger(journal: PerRunJournal, run_id: str) -> UndoLedger:
    return UndoLedger(journal, run_id, actions=["guest-setting"], undone_action="guest-setting-undone",
                      command="recover --undo-guest-changes")


def test_undoing_one_run_leaves_the_same_numbered_change_of_another_run_to_undo() -> None:
    journal = PerRunJournal()
    first, second = _two_runs(journal)
    with _ledger(journal, first) as ledger:
        [change] = ledger.changes
        ledger.mark_undone(change)
    assert _ledger(journal, first).undone(_ledger(journal, first).changes[0])
    [other] = _ledger(journal, second).changes
    assert other.change_id == change.change_id  # the same number, another run
    assert not _ledger(journal, second).undone(other)


def test_an_entry_without_the_run_id_counts_only_from_an_undo_run_of_that_run() -> None:
    journal = PerRunJournal()
    first, second = _two_runs(journal)
    undo = journal.start_run(command="recover --undo-guest-changes", targets=[first])
    journal.record_change(undo, action="guest-setting-undone", target="change:1", detail="a")
    assert _ledger(journal, first).undone(_ledger(journal, first).changes[0])
    assert not _ledger(journal, second).undone(_ledger(journal, second).changes[0])
