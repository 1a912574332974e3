"""The playbooks' pure plans, table-driven on hand-built observations (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from azbackup_fix.ids import (
    BackupJobRef,
    LockRef,
    ProtectedItemRef,
    ResourceId,
    RestorePointCollectionRef,
    VaultRef,
    VmRef,
)
from azbackup_fix.models import (
    BackupJob,
    BackupPolicy,
    Extension,
    JobError,
    Lock,
    LockLevel,
    ProtectedItem,
    RestorePoint,
    RestorePointCollection,
    VirtualMachine,
    VmObservation,
)
from azbackup_fix.playbooks import get_playbook

SUB = "00000000-0000-0000-0000-000000000001"
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
VM = VmRef(SUB, "rg-app", "vm1")
OTHER = VmRef(SUB, "rg-app", "vm2")
VAULT = VaultRef(SUB, "rg-bk", "rsv")
RP_RG = "AzureBackupRG_eastus_1"


def _coll(vm: VmRef, name: str, n: int, rg: str = RP_RG) -> RestorePointCollection:
    return RestorePointCollection(RestorePointCollectionRef(SUB, rg, name), "eastus", vm.resource_id,
                                  tuple(RestorePoint(f"p{i}") for i in range(n)))


def _lock(scope: ResourceId, name: str = "keep", level: LockLevel = LockLevel.CAN_NOT_DELETE) -> Lock:
    return Lock(LockRef(scope, name), level, notes="ops")


def _job(status: str, title: str | None = None, hours_ago: float = 1, cancellable: bool = False,
         user: bool | None = None) -> BackupJob:
    return BackupJob(BackupJobRef(VAULT, f"job-{status}-{hours_ago}"), "Backup", status,
                     NOW - timedelta(hours=hours_ago), entity_friendly_name="vm1", cancellable=cancellable,
                     errors=(JobError(error_title=title),) if title else (), user_triggered=user)


def _obs(**kw: object) -> VmObservation:
    base = dict(
        vm_ref=VM,
        vm=VirtualMachine(VM, "eastus", power_state="PowerState/running", provisioning_state="Succeeded"),
        protected_item=ProtectedItem(ProtectedItemRef.for_vm(VAULT, VM), protection_state="Protected",
                                     policy_id=f"{VAULT.id}/backupPolicies/Daily"),
        locks=(_lock(ResourceId(SUB, RP_RG)),),
        restore_point_collections=(_coll(VM, "mine", 18), _coll(OTHER, "theirs", 5)),
        jobs=(_job("Failed", "UserErrorRpCollectionLimitReached"),),
        observed_at=NOW,
    )
    base.update(kw)
    return VmObservation(**base)  # type: ignore[arg-type]


def _kinds(pid: str, obs: VmObservation, **options: object) -> list[str]:
    return [s.kind for s in get_playbook(pid).plan(obs, options).steps]


CASES = [
    # The verification backup runs while the lock is off; only then does the lock come back.
    ("clear-restore-point-limit", _obs(), {},
     ["delete-lock", "delete-restore-point-collection", "trigger-backup", "restore-lock"]),
    ("clear-restore-point-limit", _obs(), {"trigger_backup": False},
     ["delete-lock", "delete-restore-point-collection", "restore-lock"]),
    ("clear-restore-point-limit", _obs(), {"restore_locks": False},
     ["delete-lock", "delete-restore-point-collection", "trigger-backup", "leave-lock-removed"]),
    ("clear-restore-point-limit", _obs(locks=()), {}, ["delete-restore-point-collection", "trigger-backup"]),
    ("clear-restore-point-limit", _obs(restore_point_collections=(_coll(VM, "mine", 3),), jobs=()), {}, []),
    # ReadOnly blocks every backup write: removed below the limit too, but nothing is deleted.
    ("clear-restore-point-limit", _obs(restore_point_collections=(_coll(VM, "mine", 3),), jobs=(),
                                       locks=(_lock(ResourceId(SUB, RP_RG), level=LockLevel.READ_ONLY),)), {},
     ["delete-lock", "trigger-backup", "restore-lock"]),
    # The job claims the limit, 3 points are visible: refused (see test_limit_claim_without_the_points).
    ("clear-restore-point-limit", _obs(restore_point_collections=(_coll(VM, "mine", 3),)), {}, []),
    ("clear-restore-point-limit", _obs(locks=(_lock(ResourceId(SUB)),)), {}, []),  # refused
    ("clear-restore-point-limit", _obs(jobs=(_job("InProgress"),)), {}, []),
    ("trigger-backup", _obs(), {}, ["trigger-backup"]),
    ("trigger-backup", _obs(jobs=(_job("Failed", "X", 3), _job("Completed", None, 1))), {}, []),
    ("trigger-backup", _obs(jobs=tuple(_job("Completed", None, h / 10, user=True) for h in range(9))
                            + (_job("Failed", "X", 0.01),)), {}, []),  # daily limit
    # A stuck cancellable job is cancelled (the runner refuses it without allow_disruptive).
    ("resolve-backup-in-progress", _obs(jobs=(_job("InProgress", hours_ago=26, cancellable=True),)),
     {}, ["cancel-job", "trigger-backup"]),
    ("resolve-backup-in-progress", _obs(jobs=(_job("InProgress", hours_ago=26, cancellable=True),)),
     {"cancel_older_than_hours": 48}, ["wait-for-jobs", "trigger-backup"]),
    ("resolve-backup-in-progress", _obs(jobs=(_job("InProgress", hours_ago=2, cancellable=True),)),
     {}, ["wait-for-jobs", "trigger-backup"]),
    # Without waiting nothing blocks on the running job; a stuck one may still be cancelled.
    ("resolve-backup-in-progress", _obs(jobs=(_job("InProgress", hours_ago=2, cancellable=True),)),
     {"wait": False}, []),
    ("resolve-backup-in-progress", _obs(jobs=(_job("InProgress", hours_ago=26, cancellable=True),)),
     {"wait": False}, ["cancel-job", "trigger-backup"]),
    ("stop-protection-retain-data", _obs(vm=None), {}, ["update-protection"]),
    ("stop-protection-retain-data", _obs(), {}, []),
    ("inspect-vm", _obs(), {}, []),
]


@pytest.mark.parametrize(("pid", "obs", "options", "expected"), CASES)
def test_plan_table(pid: str, obs: VmObservation, options: dict, expected: list[str]) -> None:
    assert _kinds(pid, obs, **options) == expected
    assert get_playbook(pid).plan(obs, options) == get_playbook(pid).plan(obs, options)  # pure


def test_only_this_vms_collection_and_refusal_for_subscription_lock() -> None:
    plan = get_playbook("clear-restore-point-limit").plan(_obs())
    targets = [s.target for s in plan.steps if s.kind == "delete-restore-point-collection"]
    assert targets == [RestorePointCollectionRef(SUB, RP_RG, "mine").id]
    refused = get_playbook("clear-restore-point-limit").plan(_obs(locks=(_lock(ResourceId(SUB)),)))
    assert refused.refusals and "subscription" in refused.refusals[0]


def test_unrelated_lock_left_alone() -> None:
    foreign = _lock(ResourceId(SUB, "rg-elsewhere"), "foreign")
    plan = get_playbook("clear-restore-point-limit").plan(_obs(locks=(_lock(ResourceId(SUB, RP_RG)), foreign)))
    assert all("foreign" not in s.target for s in plan.steps)


def test_extension_needs_a_running_vm() -> None:
    ext = Extension("VMSnapshot", "Microsoft.Azure.RecoveryServices", "VMSnapshot", provisioning_state="Failed")
    running = VirtualMachine(VM, "eastus", power_state="running", extensions=(ext,))
    assert _kinds("reinstall-backup-extension", _obs(vm=running, jobs=())) == ["delete-extension", "trigger-backup"]
    stopped = replace(running, power_state="deallocated")
    plan = get_playbook("reinstall-backup-extension").plan(_obs(vm=stopped, jobs=()))
    assert not plan.steps and plan.refusals


def test_unknown_or_mistyped_option_is_bad_input() -> None:
    from azbackup_fix.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        get_playbook("trigger-backup").plan(_obs(), {"retention": 3})
    with pytest.raises(InvalidInputError):
        get_playbook("trigger-backup").plan(_obs(), {"retention_days": "30"})


def test_limit_claim_without_the_points_is_refused_saying_what_was_searched() -> None:
    obs = replace(_obs(restore_point_collections=(_coll(VM, "mine", 3),)), collections_searched=7)
    plan = get_playbook("clear-restore-point-limit").plan(obs)
    assert not plan.steps
    (refusal,) = plan.refusals
    assert "UserErrorRpCollectionLimitReached" in refusal and "only 3 of 18" in refusal
    assert "searched 7 restore point collection(s) across subscription" in refusal and RP_RG in refusal


def test_collections_anywhere_count_and_the_old_layouts_lock_is_removed() -> None:
    # 17 points in the VM's own group (older layout, locked there) plus 1 in the service's group.
    vm_group_lock = _lock(ResourceId(SUB, "rg-app"), "app-keep")
    obs = _obs(restore_point_collections=(_coll(VM, "old", 17, rg="rg-app"), _coll(VM, "new", 1)),
               locks=(vm_group_lock,))
    plan = get_playbook("clear-restore-point-limit").plan(obs)
    assert [s.kind for s in plan.steps] == ["delete-lock", "delete-restore-point-collection",
                                            "delete-restore-point-collection", "trigger-backup", "restore-lock"]
    assert {s.target for s in plan.steps if s.kind == "delete-restore-point-collection"} == {
        RestorePointCollectionRef(SUB, "rg-app", "old").id, RestorePointCollectionRef(SUB, RP_RG, "new").id}


def test_plan_says_what_is_destroyed_and_that_the_fix_is_temporary() -> None:
    policy = BackupPolicy(f"{VAULT.id}/backupPolicies/Daily", "Daily", instant_rp_retention_days=2, backups_per_day=1)
    plan = get_playbook("clear-restore-point-limit").plan(_obs(policy=policy))
    (delete,) = [s for s in plan.steps if s.kind == "delete-restore-point-collection"]
    assert dict(delete.details())["instant_restore_points_deleted"] == 18
    assert dict(delete.details())["vault_tier_recovery_points"] == "kept"
    assert "vault-tier recovery points are kept" in delete.describe()
    assert any("the fix is temporary" in n and "about 17 day(s)" in n and "2026-11-19" in n for n in plan.notes)
    left = get_playbook("clear-restore-point-limit").plan(_obs(policy=policy), {"restore_locks": False})
    assert not any("temporary" in n for n in left.notes)
    assert any("recover --restore-left-locks" in n for n in left.notes)


def test_read_only_lock_put_back_gets_a_warning() -> None:
    ro = _lock(ResourceId(SUB, RP_RG), level=LockLevel.READ_ONLY)
    plan = get_playbook("clear-restore-point-limit").plan(_obs(locks=(ro,)))
    assert any(n.startswith("warning: ReadOnly lock 'keep'") and "next scheduled backup will fail" in n
               for n in plan.notes)


@pytest.mark.parametrize(("options", "message"), [
    ({"retention_days": 0}, "must be at least 1"),
    ({"retention_days": 99 * 365 + 1}, "must be at most 36135"),
    ({"restore_point_limit": 19}, "must be at most 18"),
    ({"delete_attempts": 0}, "must be at least 1"),
    ({"daily_limit": 10}, "must be at most 9"),
])
def test_option_constraints_are_checked_before_anything_runs(options: dict, message: str) -> None:
    from azbackup_fix.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=message):
        get_playbook("clear-restore-point-limit").plan(_obs(), options)


def test_orphaned_collections_are_planned_for_deletion_as_a_protection_change() -> None:
    plan = get_playbook("delete-orphaned-restore-points").plan(_obs(vm=None))
    assert [s.kind for s in plan.steps] == ["delete-lock", "delete-restore-point-collection", "restore-lock"]
    assert all(s.orphaned for s in plan.steps if s.kind == "delete-restore-point-collection")
    assert not get_playbook("delete-orphaned-restore-points").plan(_obs()).steps


def test_a_claim_its_own_journaled_deletions_explain_is_finished_not_refused() -> None:
    mine = RestorePointCollectionRef(SUB, RP_RG, "mine")
    # An earlier run's delete timed out after removing 6 points: the rest goes, then the backup.
    partial = _obs(restore_point_collections=(_coll(VM, "mine", 12),), journaled_deletions=(mine.id,))
    plan = get_playbook("clear-restore-point-limit").plan(partial)
    assert [s.kind for s in plan.steps] == ["delete-lock", "delete-restore-point-collection", "trigger-backup",
                                            "restore-lock"] and not plan.refusals
    # The collection went, the backup did not run: only the backup is left to do.
    gone = _obs(restore_point_collections=(), journaled_deletions=(mine.id,))
    assert [s.kind for s in get_playbook("clear-restore-point-limit").plan(gone).steps] == ["trigger-backup"]
    # Without that record the same state is a refusal.
    assert get_playbook("clear-restore-point-limit").plan(replace(gone, journaled_deletions=())).refusals


def test_a_guarding_lock_outside_the_allowed_groups_is_a_refusal_not_a_failing_delete() -> None:
    elsewhere = _coll(VM, "elsewhere", 18, rg="rg-data")
    plan = get_playbook("clear-restore-point-limit").plan(
        _obs(restore_point_collections=(elsewhere,), locks=(_lock(ResourceId(SUB, "rg-data"), "data-keep"),)))
    assert not plan.steps and plan.refusals and "'data-keep' on rg-data" in plan.refusals[0]
