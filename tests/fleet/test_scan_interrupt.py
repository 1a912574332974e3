"""scan --apply speaks and stops safely (issue 18 items 6, 7): each fix's steps and waits arrive as
RunEvents as they happen; once the interrupt is requested (here by the event callback itself, at the
first step: no timing) no further VM is started, the step in flight finishes, and every lock the
coordinator removed is back, nothing pending in the journal."""

from __future__ import annotations

from pathlib import Path

from azbackup_fix.fleet import Outcome
from azbackup_fix.models.events import Interrupt, RunEvent
from tests.fleet.fleet_sandbox import BACKS_UP, FIXABLE, Fleet, fleet, truth


def test_scan_apply_emits_events_and_an_interrupt_starts_no_further_fix(tmp_path: Path) -> None:
    sb = fleet(40, FIXABLE)
    kinds = truth(sb)
    failing = {vm for vm, kind in kinds.items() if kind not in BACKS_UP}
    locks_before = sb.snapshot()["resources"]["locks"]
    f = Fleet(sb, tmp_path / "j.sqlite")
    interrupt = Interrupt()
    events: list[RunEvent] = []

    def on_event(event: RunEvent) -> None:
        events.append(event)
        if event.kind == "step":
            interrupt.request()  # the first Ctrl-C, as the first step starts

    report = f.scanner(events=on_event, interrupt=interrupt).scan(f.options(apply=True, workers=1))

    assert len(failing) > 1
    started = [e for e in events if e.kind == "vm"]
    assert len(started) == 1, started  # one fix began; no other VM was started
    (first_step,) = [e for e in events if e.kind == "step"]
    assert [e.kind for e in events].count("step-done") == 1  # the step in flight finished
    assert first_step.message
    fixed = [v for v in report.vms if v.outcome == Outcome.FIXED]
    assert len(fixed) <= 1
    assert sb.snapshot()["resources"]["locks"] == locks_before
    assert f.journal.pending_locks() == ()
