"""Resumable scans (progress in the journal) and deterministic shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from azbackup_fix.errors import InvalidInputError
from azbackup_fix.fleet import ProgressEvent
from azbackup_fix.journal import Journal
from tests.fleet.fleet_sandbox import ALL_KINDS, BACKS_UP, FIXABLE, Fleet, flagged, fleet, truth


class Stop(Exception):
    """Stands in for the 3-hour Automation limit: the run ends mid-way."""


def _stop_after(n: int):  # noqa: ANN202
    def on_progress(event: ProgressEvent) -> None:
        if event.phase in ("diagnose", "apply") and event.done >= n:
            raise Stop
    return on_progress


def test_an_interrupted_scan_resumes_where_it_stopped(tmp_path: Path) -> None:
    sb = fleet(200, ALL_KINDS)
    failing = {vm for vm, kind in truth(sb).items() if kind not in BACKS_UP}
    f = Fleet(sb, tmp_path / "j.sqlite")
    with pytest.raises(Stop):
        f.scanner(on_progress=_stop_after(10)).scan(f.options(workers=1))
    # A new process: a new journal object on the same file.
    f.journal.close()
    f.journal = Journal(tmp_path / "j.sqlite")
    sb.clear_requests()

    report = f.scan(workers=1)

    assert report.resumed
    assert flagged(report) == failing  # the report covers the VMs of both runs
    details = [r for r in sb.requests() if r.operation == "JobDetails_Get"]
    assert 0 < len(details) <= len(failing) - 10  # the VMs done before the stop were not examined again
    again = f.scan(workers=1)  # finished: the same arguments start a new scan
    assert not again.resumed and again.scan_id != report.scan_id


def test_resume_by_id_and_fresh(tmp_path: Path) -> None:
    sb = fleet(120, ALL_KINDS)
    f = Fleet(sb, tmp_path / "j.sqlite")
    with pytest.raises(Stop):
        f.scanner(on_progress=_stop_after(5)).scan(f.options(workers=1))
    (scan_id,) = [row[0] for row in __import__("sqlite3").connect(tmp_path / "j.sqlite").execute(
        "SELECT scan_id FROM fleet_scans")]
    fresh = f.scan(fresh=True)
    assert not fresh.resumed and fresh.scan_id != scan_id
    resumed = f.scan(resume=scan_id)
    assert resumed.resumed and resumed.scan_id == scan_id and flagged(resumed) == flagged(fresh)
    with pytest.raises(InvalidInputError, match="other arguments"):
        f.scan(resume=scan_id, shard=(1, 2))


def test_an_interrupted_fix_all_resumes_and_restores_every_lock(tmp_path: Path) -> None:
    sb = fleet(120, FIXABLE)
    locks_before = sb.snapshot()["resources"]["locks"]
    failing = {vm for vm, kind in truth(sb).items() if kind not in BACKS_UP}
    f = Fleet(sb, tmp_path / "j.sqlite")
    with pytest.raises(Stop):
        f.scanner(on_progress=_stop_after(4)).scan(f.options(apply=True, workers=1))
    assert sb.snapshot()["resources"]["locks"] == locks_before  # the finally put them back
    assert f.journal.pending_locks() == ()
    report = f.scan(apply=True, workers=1)
    assert report.resumed and flagged(report) == failing
    assert {v.outcome for v in report.vms} == {"fixed"}
    assert sb.snapshot()["resources"]["locks"] == locks_before
    assert f.scan(fresh=True).candidates == 0


def test_shards_split_the_fleet_deterministically(tmp_path: Path) -> None:
    sb = fleet(200, ALL_KINDS)
    f = Fleet(sb, tmp_path / "j.sqlite")
    whole = flagged(f.scan())
    parts = [flagged(f.scan(shard=(k, 3))) for k in (1, 2, 3)]
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == len(whole) and all(parts)
    assert flagged(f.scan(shard=(2, 3), fresh=True)) == parts[1]
