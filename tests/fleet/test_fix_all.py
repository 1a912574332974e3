"""Fix-all: every fixable seeded failure fixed through the runner, locks shared by several VMs removed
once and restored once (after all their VMs are done) and back identical, nothing left pending in the
journal, and a second pass finds nothing."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

from azbackup_fix.cli.main import main
from azbackup_fix.fleet import Outcome
from tests.fleet.fleet_sandbox import BACKS_UP, FIXABLE, Fleet, flagged, fleet, truth


def _lock_requests(sb: object) -> Counter[tuple[str, str]]:
    return Counter((r.method, r.path.casefold()) for r in sb.requests()  # type: ignore[attr-defined]
                   if "/microsoft.authorization/locks/" in r.path.casefold() and r.method in ("PUT", "DELETE"))


def test_fix_all_then_a_second_pass_finds_nothing(tmp_path: Path) -> None:
    sb = fleet(140, FIXABLE)
    kinds = truth(sb)
    locks_before = sb.snapshot()["resources"]["locks"]
    failing = {vm for vm, kind in kinds.items() if kind not in BACKS_UP}
    locked_vms = [vm for vm, kind in kinds.items() if kind.startswith("rp-limit")]
    sb.clear_requests()
    f = Fleet(sb, tmp_path / "j.sqlite")

    report = f.scan(apply=True)

    assert flagged(report) == failing
    assert {v.outcome for v in report.vms} == {Outcome.FIXED}, [v for v in report.vms if v.outcome != "fixed"]
    assert report.exit_code == 0 and report.throttled == 0
    # Shared restore-point groups: each lock removed once and restored once, for several VMs.
    lock_writes = _lock_requests(sb)
    deleted = {path for (method, path) in lock_writes if method == "DELETE"}
    assert deleted and all(n == 1 for n in lock_writes.values()), lock_writes
    assert {path for (method, path) in lock_writes if method == "PUT"} == deleted
    assert len(locked_vms) > len(deleted)  # several VMs per lock
    actions = Counter(step for step, _, _ in report.lock_actions)
    assert actions == {"delete-lock": len(deleted), "restore-lock": len(deleted)}
    # Each lock came back once, after the last collection delete of its VMs in that group.
    records = sb.requests()
    for path in deleted:
        group = path.split("/providers/")[0] + "/providers/microsoft.compute/restorepointcollections/"
        cleanups = [r.seq for r in records if r.method == "DELETE" and r.path.casefold().startswith(group)]
        (restore,) = [r.seq for r in records if r.method == "PUT" and r.path.casefold() == path]
        (removal,) = [r.seq for r in records if r.method == "DELETE" and r.path.casefold() == path]
        assert len(cleanups) >= 2 and removal < min(cleanups) and restore > max(cleanups), path
    # Sandbox state: locks identical, each VM's backup now succeeds, journal has nothing pending.
    assert sb.snapshot()["resources"]["locks"] == locks_before
    assert f.journal.pending_locks() == ()
    for vm in failing:
        latest = max(sb.backup.jobs_for_vm(vm), key=lambda j: j.start)
        assert latest.status == "Completed", (kinds[vm], latest.status)
    # The VMs' steps: only collection deletes and triggers, their locks were the coordinator's.
    steps = Counter(s for v in report.vms for s, status, _ in v.steps if status == "changed")
    assert steps["delete-lock"] == 0 and steps["trigger-backup"] == len(failing)

    again = f.scan(fresh=True)
    assert again.candidates == 0 and again.vms == () and again.exit_code == 0


def test_cli_scan_apply_needs_yes_without_a_terminal(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(["scan", "--sandbox", "fleet-small", "--journal", str(tmp_path / "j.sqlite"), "--apply"],
                stdout=io.StringIO(), stderr=err)
    assert code == 3 and "--yes" in err.getvalue()


def test_cli_scan_apply_yes_max_targets_refuses_before_any_change(tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(["scan", "--sandbox", "fleet-small", "--journal", str(tmp_path / "j.sqlite"), "--apply", "--yes",
                 "--max-targets", "2", "-o", "json"], stdout=out, stderr=io.StringIO())
    doc = json.loads(out.getvalue())  # -o json: an error object, not a report of changes
    assert code == 3 == doc["exit_code"] and doc["schema"] == "azbackup-fix/error/v1"
    assert "--max-targets" in doc["errors"][0]["message"]


def test_a_fix_a_guard_rail_stops_is_refused_with_its_reason_and_changes_nothing(tmp_path: Path) -> None:
    sb = fleet(60, "healthy=3,protection-stopped=1", subscriptions=1)
    stopped = {vm for vm, kind in truth(sb).items() if kind == "protection-stopped"}
    f = Fleet(sb, tmp_path / "j.sqlite")
    planned = f.scan()
    # The plan already says the fix needs its guard rail, and names the flag.
    assert {v.vm.casefold() for v in planned.vms if v.outcome == Outcome.REFUSED} == stopped
    assert all("--allow-protection-changes" in (v.detail or "") for v in planned.vms if v.outcome == Outcome.REFUSED)
    items_before = sb.snapshot()["resources"]["backup"]["protectedItems"]

    report = f.scan(apply=True, fresh=True)  # resume-protection needs --allow-protection-changes

    refused = [v for v in report.vms if v.outcome == Outcome.REFUSED]
    assert {v.vm.casefold() for v in refused} == stopped and report.exit_code == 3
    assert all(v.detail and "allow-protection-changes" in v.detail for v in refused), refused
    assert sb.snapshot()["resources"]["backup"]["protectedItems"] == items_before
