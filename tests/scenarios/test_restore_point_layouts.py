"""Issue 11: clear-restore-point-limit is right in every layout the guides describe, and it lasts.

Each layout (tests/scenarios/rp_layouts.py) through the Python API with the shipped playbook file and the
real SDK clients in-process: diagnose names the cause, plan lists the exact changes and writes nothing,
apply removes the guarding locks, deletes only this VM's collections when the limit is reached, backs up
and waits, and only then puts the locks back exactly (level, notes, owners) or journals them as left
removed; then one more backup shows what the fix left behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from azbackup_fix import Remediator, SandboxCredential
from azbackup_fix.errors import InvalidInputError, PlaybookFileError
from azbackup_fix.journal import Journal
from azbackup_fix.models import StepStatus
from azbackup_fix.playbook_file import load_playbook_file
from azbackup_fix.recovery import restore_left_locks
from tests.gateway.sandbox_arm import writes
from tests.scenarios.rp_layouts import NOTES, OWNERS, VM_RG, Layout, build, collections_of, locks

TRIGGER = "trigger-backup"
CRP = "UserErrorCrpReportedUserError"  # Compute's ScopeLocked, nested: a ReadOnly lock blocks the write


@dataclass
class Expect:
    title: str  # the failed job's errorTitle
    steps: list[str]  # step kinds planned and applied, in order
    deleted: int  # collections of the VM deleted
    next_backup: str = "Completed"  # the backup after the fix
    next_error: str | None = None
    left_removed: list[str] = field(default_factory=list)  # locks journaled as left removed
    untouched_lock: str | None = None  # a lock no request may touch


EXPECT: dict[str, Expect] = {
    # ReadOnly at the limit: the backup runs before the lock is back; the lock back fails the next one.
    "read-only-at-limit": Expect("UserErrorRpCollectionLimitReached",
                                 ["delete-lock", "delete-restore-point-collection", TRIGGER, "restore-lock"], 1,
                                 next_backup="Failed", next_error=CRP),
    # ReadOnly below the limit: every backup failed; the lock comes off for the backup, nothing deleted.
    "read-only-below-limit": Expect(CRP, ["delete-lock", TRIGGER, "restore-lock"], 0,
                                    next_backup="Failed", next_error=CRP),
    # The older layout: 17 points in the VM's own (locked) group, the newest in AzureBackupRG_*.
    "old-layout-vm-group": Expect("UserErrorRpCollectionLimitReached",
                                  ["delete-lock", "delete-restore-point-collection",
                                   "delete-restore-point-collection", TRIGGER, "restore-lock"], 2),
    # A lock on the collection itself goes with the collection: journaled, never lost silently.
    "collection-scope-lock": Expect("UserErrorRpCollectionLimitReached",
                                    ["delete-lock", "delete-restore-point-collection", TRIGGER, "leave-lock-removed"],
                                    1, left_removed=["keep-restore-points"]),
    "vm-group-lock-unrelated": Expect("UserErrorRpCollectionLimitReached",
                                      ["delete-lock", "delete-restore-point-collection", TRIGGER, "restore-lock"], 1,
                                      untouched_lock="app-rg-keep"),
    "custom-group-n2": Expect("UserErrorRpCollectionLimitReached",
                              ["delete-lock", "delete-restore-point-collection", TRIGGER, "restore-lock"], 1),
}


def _remediator(layout: Layout, journal: Path, **kwargs: object) -> Remediator:
    kwargs.setdefault("playbook_file", load_playbook_file())
    return Remediator(SandboxCredential(), layout.subscription, transport=layout.sandbox.transport(),
                      polling_interval=0, journal_path=str(journal), **kwargs)  # type: ignore[arg-type]


def _next_backup(fix: Remediator, layout: Layout) -> tuple[str, str | None]:
    again = fix.run(layout.vm(), apply=True, playbooks=[TRIGGER], options={TRIGGER: {"force": True}})
    (step,) = again.steps
    return str(step.detail_value("job_status")), step.detail_value("error_title")  # type: ignore[return-value]


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_layout_diagnose_plan_apply_then_back_up(name: str, journal: Path) -> None:
    expect = EXPECT[name]
    layout = build(name)
    sb = layout.sandbox
    assert layout.failed_title == expect.title
    vm, neighbour = layout.vm(), layout.vm("vm-app-02")
    locks_before = locks(sb)
    theirs = collections_of(sb, neighbour)
    mine = collections_of(sb, vm)

    with _remediator(layout, journal) as fix:
        diagnosis = fix.diagnose(vm)
        causes = [f for f in diagnosis.findings if f.code == "RestorePointResourceGroupLocked"]
        assert causes and all(f.severity.value == "error" for f in causes), diagnosis.findings
        assert any("ReadOnly" in f.title and "every backup write" in f.title for f in causes) == \
            name.startswith("read-only")

        before = json.dumps(sb.snapshot(), sort_keys=True)
        sb.clear_requests()
        plan = fix.plan(vm)
        assert writes(sb.requests()) == [] and json.dumps(sb.snapshot(), sort_keys=True) == before
        assert plan.exit_code == 4
        planned = [s.step for s in plan.playbooks[0].steps]
        assert planned == expect.steps, plan.to_dict()
        deletes = [s for s in plan.steps if s.step == "delete-restore-point-collection"]
        assert {s.target for s in deletes} <= set(mine) and len(deletes) == expect.deleted
        assert all(s.detail_value("vault_tier_recovery_points") == "kept" for s in deletes)
        assert sum(int(s.detail_value("instant_restore_points_deleted") or 0) for s in deletes) == \
            (sum(mine.values()) if expect.deleted else 0)

        sb.clear_requests()
        report = fix.run(vm, apply=True)
        fix_steps = report.playbooks[0].steps
        assert [s.step for s in fix_steps] == expect.steps, report.to_dict()
        assert all(s.status in (StepStatus.CHANGED, StepStatus.UNCHANGED) for s in fix_steps)
        (trigger,) = [s for s in fix_steps if s.step == TRIGGER]
        assert trigger.detail_value("job_status") == "Completed"
        assert report.exit_code == 0 and report.failures == ()
        assert all(p.verified is not False for p in report.playbooks)
        # Only then do the locks come back: after the verification backup's job completed.
        order = [s.step for s in fix_steps]
        assert order.index(TRIGGER) < order.index(expect.steps[-1])

    # Locks exactly as they were (level, notes, owners), or journaled as left removed.
    after = {lk["id"]: lk for lk in locks(sb)}
    for lock in locks_before:
        short = lock["id"].rsplit("/", 1)[-1]
        if short in expect.left_removed:
            assert lock["id"] not in after
        else:
            assert after[lock["id"]] == lock
    with Journal(journal) as j:
        assert sorted(e.lock.name for e in j.left_locks()) == sorted(expect.left_removed)
        assert j.pending_locks() == ()
        for entry in j.left_locks():
            assert entry.lock.notes == NOTES and list(entry.lock.owners) == [o["applicationId"] for o in OWNERS]
    if expect.untouched_lock:
        assert not [r for r in sb.requests() if r.method != "GET" and expect.untouched_lock in r.path]
    # Only this VM's collections went; the neighbour's are as they were.
    assert collections_of(sb, neighbour) == theirs
    now = collections_of(sb, vm)
    if expect.deleted:
        assert not set(mine) & set(now) and sum(now.values()) == 1
    else:
        assert set(now) == set(mine)

    with _remediator(layout, journal) as fix:
        status, error = _next_backup(fix, layout)
    assert (status, error) == (expect.next_backup, expect.next_error)


def test_read_only_at_limit_left_removed_lasts_and_recover_puts_it_back(journal: Path) -> None:
    layout = build("read-only-at-limit")
    sb = layout.sandbox
    (lock_before,) = [lk for lk in locks(sb) if lk["level"] == "ReadOnly"]
    with _remediator(layout, journal) as fix:
        report = fix.run(layout.vm(), apply=True, options={"clear-restore-point-limit": {"restore_locks": False}})
        assert [s.step for s in report.playbooks[0].steps] == [
            "delete-lock", "delete-restore-point-collection", TRIGGER, "leave-lock-removed"]
        assert report.exit_code == 0
        notes = report.playbooks[0].notes
        assert any("recover --restore-left-locks" in n for n in notes)
        assert not any("temporary" in n for n in notes)
        assert lock_before["id"] not in {lk["id"] for lk in locks(sb)}
        # With the lock gone the fix lasts: the next backups succeed and the service prunes.
        assert _next_backup(fix, layout) == ("Completed", None)
        with Journal(journal) as j:
            (left,) = j.left_locks()
            assert left.lock.ref.id == lock_before["id"] and left.lock.level.value == "ReadOnly"
            assert any(c.action == "lock-left-removed" for c in j.changes())
            results = restore_left_locks(j, fix.gateway)
            assert [r.outcome for r in results] == ["restored"]
            assert j.left_locks() == ()
    (lock_after,) = [lk for lk in locks(sb) if lk["level"] == "ReadOnly"]
    assert lock_after == lock_before


def test_read_only_below_limit_through_the_python_api_without_a_playbook_file(journal: Path) -> None:
    layout = build("read-only-below-limit")
    with _remediator(layout, journal, playbook_file=None) as fix:
        report = fix.run(layout.vm(), apply=True)
    assert report.steps, "a ReadOnly lock below the limit is a fix, not 'nothing to do'"
    kinds = [s.step for s in report.steps if s.status is StepStatus.CHANGED]
    assert kinds == ["delete-lock", TRIGGER, "restore-lock"]
    (trigger,) = [s for s in report.steps if s.step == TRIGGER]
    assert trigger.detail_value("job_status") == "Completed" and report.exit_code == 0


def test_exit_0_only_after_a_backup_that_succeeded_after_the_fix(journal: Path) -> None:
    layout = build("read-only-at-limit")
    with _remediator(layout, journal) as fix:
        # No verification backup at all (and trigger-backup not run): the last backup still failed.
        report = fix.run(layout.vm(), apply=True, playbooks=["clear-restore-point-limit"],
                         options={"clear-restore-point-limit": {"trigger_backup": False}})
    assert [s.step for s in report.steps] == ["delete-lock", "delete-restore-point-collection", "restore-lock"]
    assert report.exit_code == 1 and report.unverified
    assert "UserErrorRpCollectionLimitReached" in (report.playbooks[0].verification or "")


def test_a_limit_claim_without_the_points_is_refused_and_nothing_is_written(journal: Path) -> None:
    layout = build("vm-group-lock-unrelated")
    sb = layout.sandbox
    for rpc in sb.compute.collections_for_vm(layout.vm().id):
        del rpc.points[5:]  # the job said the limit; only 5 points are visible now
    before = json.dumps(sb.snapshot(), sort_keys=True)
    with _remediator(layout, journal) as fix:
        sb.clear_requests()
        report = fix.run(layout.vm(), apply=True)
    assert report.exit_code == 3
    (refusal,) = [r for r in report.refusals if r.startswith("clear-restore-point-limit")]
    assert "says UserErrorRpCollectionLimitReached" in refusal and "only 5 of 18" in refusal
    assert "across subscription" in refusal and "AzureBackupRG_eastus_1" in refusal
    assert not [r for r in writes(sb.requests()) if "restorePointCollections" in r.path or "locks" in r.path]
    snapshot = json.loads(before)["resources"]
    assert locks(sb) == snapshot["locks"]


def test_deleted_vm_orphans_are_deleted_only_with_allow_protection_changes(journal: Path) -> None:
    layout = build("deleted-vm-orphans")
    sb = layout.sandbox
    vm = layout.vm()
    mine, theirs = collections_of(sb, vm), collections_of(sb, layout.vm("vm-app-02"))
    locks_before = locks(sb)
    assert len(mine) == 1
    with _remediator(layout, journal) as fix:
        codes = {f.code: f for f in fix.diagnose(vm).findings}
        assert "OrphanedRestorePointCollection" in codes and "5 instant restore point" in \
            codes["OrphanedRestorePointCollection"].title
        # The guides' file routes the deletion only behind the guard rail: plain apply changes nothing.
        refused = fix.run(vm, apply=True)
        assert not refused.changed and collections_of(sb, vm) == mine
    with _remediator(layout, journal, playbook_file=None) as fix:
        report = fix.run(vm, apply=True)  # the packaged routing too: the rail is named, nothing deleted
        assert report.exit_code == 3 and collections_of(sb, vm) == mine
        assert "allow_protection_changes" in report.rails_needed
    with _remediator(layout, journal) as fix:
        report = fix.run(vm, apply=True, allow_protection_changes=True)
    orphans = next(p for p in report.playbooks if p.playbook == "delete-orphaned-restore-points")
    assert [s.step for s in orphans.steps] == ["delete-lock", "delete-restore-point-collection", "restore-lock"]
    assert report.exit_code == 0
    assert collections_of(sb, vm) == {} and collections_of(sb, layout.vm("vm-app-02")) == theirs
    assert locks(sb) == locks_before


@pytest.fixture
def zero_retention_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "mine.yaml"
    path.write_text("version: 1\ndefaults:\n  trigger-backup: {retention_days: 0}\n", encoding="utf-8")
    yield path


def test_retention_days_0_is_refused_before_anything_runs(journal: Path, zero_retention_file: Path) -> None:
    with pytest.raises(PlaybookFileError, match="retention_days.*must be at least 1") as caught:
        load_playbook_file(zero_retention_file)
    assert caught.value.exit_code == 2 and "mine.yaml:3:" in str(caught.value)
    layout = build("read-only-at-limit")
    sb = layout.sandbox
    before = json.dumps(sb.snapshot(), sort_keys=True)
    with _remediator(layout, journal) as fix:
        sb.clear_requests()
        with pytest.raises(InvalidInputError, match="retention_days' must be at least 1"):
            fix.run(layout.vm(), apply=True, options={"clear-restore-point-limit": {"retention_days": 0}})
    assert writes(sb.requests()) == [] and json.dumps(sb.snapshot(), sort_keys=True) == before


def test_the_vm_group_is_the_only_group_of_the_old_layout_besides_the_service_one() -> None:
    layout = build("old-layout-vm-group")
    groups = {cid.split("/")[4] for cid in collections_of(layout.sandbox, layout.vm())}
    assert groups == {VM_RG, "AzureBackupRG_eastus_1"}
