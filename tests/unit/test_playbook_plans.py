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


def _lock(scope: ResourceId, name: str = "keep") -> Lock:
    return Lock(LockRef(scope, name), LockLevel.CAN_NOT_DELETE, notes="ops")


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
    ("clear-restore-point-limit", _obs(), {},
     ["delete-lock", "delete-restore-point-collection", "restore-lock", "trigger-backup"]),
    ("clear-restore-point-limit", _obs(), {"trigger_backup": False},
     ["delete-lock", "delete-restore-point-collection", "restore-lock"]),
    ("clear-restore-point-limit", _obs(locks=()), {}, ["delete-restore-point-collection", "trigger-backup"]),
    ("clear-restore-point-limit", _obs(restore_point_collections=(_coll(VM, "mine", 3),), jobs=()), {}, []),
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
