"""Every sandbox scenario remediated through the real SDK clients in-process: the plan lists the
exact changes and writes nothing (state byte-for-byte unchanged); apply fixes it (asserted on the
sandbox state: locks back identical, only this VM's collection gone, the extension reinstalled);
a backup triggered afterwards succeeds; a second apply is a no-op."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix import RunReport, StepStatus
from azbackup_fix.models import Lock
from azbackup_sandbox import Sandbox
from tests.gateway.sandbox_arm import NEIGHBOUR, Target, writes


@dataclass
class Case:
    plan: list[str]  # step kinds the default plan lists
    apply: list[str]  # step kinds apply changes
    run: dict[str, Any] = field(default_factory=dict)  # extra run() keywords for apply
    backs_up: bool = True  # a backup afterwards succeeds (False: report-only scenarios)
    plan_exit: int = 4  # 3: needs a guard rail not given, 5: report-only
    apply_exit: int = 0


TRIGGER = "trigger-backup"
CASES: dict[str, Case] = {
    "healthy": Case([], [], plan_exit=0),
    # The verification backup runs before the lock comes back.
    "rp-limit-locked": Case(["delete-lock", "delete-restore-point-collection", TRIGGER, "restore-lock"],
                            ["delete-lock", "delete-restore-point-collection", TRIGGER, "restore-lock"]),
    "rp-limit-custom-rg": Case(["delete-lock", "delete-restore-point-collection", TRIGGER, "restore-lock"],
                               ["delete-lock", "delete-restore-point-collection", TRIGGER, "restore-lock"]),
    "failed-vmsnapshot-windows": Case(["delete-extension", TRIGGER], ["delete-extension", TRIGGER]),
    "failed-vmsnapshot-linux": Case(["delete-extension", TRIGGER], ["delete-extension", TRIGGER]),
    # Guest agent: report by default; Azure-side restart only when asked and allowed.
    # The retry the default file routes is held (skipped, with why) while the agent is not Ready.
    "agent-not-ready": Case([TRIGGER], ["reapply-vm", "restart-vm", TRIGGER], plan_exit=3, run={
        "playbooks": ["recover-vm-provisioning"], "allow_disruptive": True,
        "options": {"recover-vm-provisioning": {"restart": True}}}),
    # Nothing to fix: Azure backs a deallocated VM up offline (see the test below); backs_up=False
    # because that check expects a running VM with the backup extension reinstalled.
    "vm-deallocated": Case([], [], backs_up=False, plan_exit=0),
    # Issue 12: another failed extension is re-run (its rail), then reapply, then the backup.
    "failed-extension-rerun": Case([], ["rerun-extension", "reapply-vm", TRIGGER], plan_exit=3,
                                   run={"allow_extension_changes": True}),
    # A VM caught starting: a bounded wait on the instance view (no change), then the backup.
    "vm-transitioning": Case(["wait-for-vm-state", TRIGGER], [TRIGGER]),
    # No agent was ever installed: no Azure-side lever; nothing is changed and no backup is spent.
    "agent-not-installed": Case([TRIGGER], [], backs_up=False, plan_exit=5, apply_exit=5),
    # Installed but Not Ready, and only a new host revives it: redeploy (disruptive), wait for it, back up.
    "agent-not-ready-redeploy": Case([TRIGGER], ["reapply-vm", "redeploy-vm", TRIGGER], plan_exit=3, run={
        "allow_disruptive": True, "options": {"recover-vm-provisioning": {"redeploy": True}}}),
    "backup-in-progress": Case(["cancel-job", TRIGGER], ["cancel-job", TRIGGER], plan_exit=3,
                               run={"allow_disruptive": True}),
    "protection-stopped": Case([], ["update-protection", TRIGGER], plan_exit=3,
                               run={"allow_protection_changes": True}),
    "disk-too-large": Case([], [], backs_up=False, plan_exit=5, apply_exit=5),
    # Stop protection (data retained), and the deleted VM's orphaned snapshots go (a protection change).
    "vm-deleted": Case([], ["update-protection", "delete-restore-point-collection"], backs_up=False, plan_exit=3,
                       run={"allow_protection_changes": True}),
    # Key Vault access of encrypted VMs: granted only with the permission rail (tests/scenarios/test_key_vault_access.py).
    "keyvault-access-policy": Case([], ["add-key-vault-access-policy", TRIGGER], plan_exit=3,
                                   run={"allow_permission_changes": True}),
    "keyvault-bek-only": Case([], ["add-key-vault-access-policy", TRIGGER], plan_exit=3,
                              run={"allow_permission_changes": True}),
    "keyvault-single-pass": Case([], ["add-key-vault-access-policy", TRIGGER], plan_exit=3,
                                 run={"allow_permission_changes": True}),
    "keyvault-rbac": Case([], ["assign-key-vault-role", TRIGGER], plan_exit=3, run={"allow_permission_changes": True}),
}


def _kinds(report: RunReport, *statuses: StepStatus) -> list[str]:
    return [s.step for s in report.steps if not statuses or s.status in statuses]


def _locks(sandbox: Sandbox) -> dict[str, Any]:
    return sandbox.snapshot()["resources"]["locks"]


def _collections(sandbox: Sandbox) -> dict[str, Any]:
    return {k: v for k, v in sandbox.snapshot()["resources"]["compute"].items() if "collection" in k.lower()}


@pytest.fixture
def journal_path(tmp_path: Path) -> str:
    return str(tmp_path / "journal.sqlite")


@pytest.mark.parametrize("scenario", sorted(CASES))
def test_plan_lists_the_changes_and_writes_nothing(scenario: str, journal_path: str) -> None:
    case = CASES[scenario]
    target = Target(Sandbox(scenario=scenario))
    before = json.dumps(target.sandbox.snapshot(), sort_keys=True)
    target.sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.plan(target.vm())
    assert json.dumps(target.sandbox.snapshot(), sort_keys=True) == before
    assert writes(target.sandbox.requests()) == []
    assert report.write_count == 0 and not report.applied and report.mode == "dry-run"
    assert _kinds(report) == case.plan
    assert all(s.status in (StepStatus.PLANNED, StepStatus.SKIPPED) for s in report.steps)
    assert all(s.target.startswith("/subscriptions/") for s in report.steps)
    assert report.exit_code == case.plan_exit
    assert report.to_dict()["schema"] == "azbackup-fix/run/v1"
    assert not Path(journal_path).exists()  # dry-run does not even open the journal


@pytest.mark.parametrize("scenario", sorted(CASES))
def test_apply_fixes_it_then_a_second_apply_is_a_no_op(scenario: str, journal_path: str) -> None:
    case = CASES[scenario]
    sandbox = Sandbox(scenario=scenario)
    target = Target(sandbox)
    locks_before = _locks(sandbox)
    neighbour = target.vm(NEIGHBOUR)
    with target.remediator(journal_path=journal_path) as fix:
        neighbour_collections = fix.gateway.restore_point_collections_for_vm(
            neighbour, fix.gateway.list_resource_groups())
        report = fix.run(target.vm(), apply=True, **case.run)
        assert _kinds(report, StepStatus.CHANGED) == case.apply, report.to_dict()
        assert report.failures == () and report.exit_code == case.apply_exit
        assert all(p.verified is not False for p in report.playbooks), [p.verification for p in report.playbooks]
        # Locks: back in place with the same name, level and notes.
        assert _locks(sandbox) == locks_before
        # The neighbour's collections are untouched.
        fix.gateway.invalidate()
        assert fix.gateway.restore_point_collections_for_vm(
            neighbour, fix.gateway.list_resource_groups()) == neighbour_collections
        if TRIGGER in case.apply:
            (trigger,) = [s for s in report.steps if s.step == TRIGGER]
            assert trigger.detail_value("job_status") == "Completed"
        if case.backs_up:
            vm = fix.gateway.get_vm(target.vm())
            assert vm.is_running and not vm.provisioning_failed
            ext = vm.backup_extension
            assert ext is not None and not ext.is_failed  # reinstalled by the backup
            again = fix.run(target.vm(), apply=True, playbooks=[TRIGGER], options={TRIGGER: {"force": True}})
            (step,) = again.steps
            assert step.status is StepStatus.CHANGED and step.detail_value("job_status") == "Completed"
        sandbox.clear_requests()
        second = fix.run(target.vm(), apply=True, **case.run)
        assert second.changed == () and second.write_count == 0 and second.exit_code == case.apply_exit
        assert writes(sandbox.requests()) == []


def test_rp_limit_only_this_vms_collection_goes_and_the_lock_comes_back_identical(journal_path: str) -> None:
    sandbox = Sandbox(scenario="rp-limit-locked")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        groups = fix.gateway.list_resource_groups()
        mine = fix.gateway.restore_point_collections_for_vm(target.vm(), groups)
        theirs = fix.gateway.restore_point_collections_for_vm(target.vm(NEIGHBOUR), groups)
        (lock,) = [lk for lk in fix.gateway.locks_for(groups) if lk.resource_group == "AzureBackupRG_eastus_1"]
        report = fix.run(target.vm(), apply=True)
        fix.gateway.invalidate()
        after = fix.gateway.restore_point_collections_for_vm(target.vm(), groups)
        assert {c.ref for c in after}.isdisjoint({c.ref for c in mine})  # old collection gone
        assert sum(len(c.restore_points) for c in after) == 1  # the new backup's point
        assert fix.gateway.restore_point_collections_for_vm(target.vm(NEIGHBOUR), groups) == theirs
        restored = fix.gateway.get_lock(lock.ref)
        assert isinstance(restored, Lock) and restored == lock and restored.notes == lock.notes
    deleted = [s for s in report.steps if s.step == "delete-restore-point-collection"]
    assert [s.target for s in deleted] == [c.ref.id for c in mine]
    assert deleted[0].detail_value("restore_points") == 18


def test_a_fix_reads_the_vm_twice_when_its_playbook_owns_the_backup(journal_path: str) -> None:
    # clear-restore-point-limit triggers the run's backup itself: the trigger-backup playbook after it
    # plans nothing on any state, so the run reads the VM's state at the start and for the verification only.
    sandbox = Sandbox(scenario="rp-limit-locked")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        sandbox.clear_requests()
        report = fix.run(target.vm(), apply=True, wait=False)
    assert [p.playbook for p in report.playbooks] == ["clear-restore-point-limit", "trigger-backup"]
    assert report.playbooks[1].steps == () and "triggered by another" in report.playbooks[1].notes[-1]
    vm_reads = [r for r in sandbox.requests() if r.operation == "VirtualMachines_Get"]
    assert len(vm_reads) == 2 and len([r for r in sandbox.requests() if r.operation == "Backups_Trigger"]) == 1


def test_a_timed_out_collection_delete_is_retried(journal_path: str) -> None:
    sandbox = Sandbox(scenario="rp-limit-locked")
    sandbox.config.rpc_delete_batch = 7  # 18 points: two timed-out attempts, the third succeeds
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True)
    (step,) = [s for s in report.steps if s.step == "delete-restore-point-collection"]
    assert step.status is StepStatus.CHANGED and step.detail_value("attempts") == 3
    assert report.exit_code == 0


def test_too_many_timeouts_fail_the_step_and_the_lock_still_comes_back(journal_path: str) -> None:
    sandbox = Sandbox(scenario="rp-limit-locked")
    sandbox.config.rpc_delete_batch = 2  # 18 points need 9 attempts: more than the first try and three retries
    target = Target(sandbox)
    locks_before = _locks(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True)
    kinds = {s.step: s for s in report.steps}
    failed = kinds["delete-restore-point-collection"]
    assert failed.status is StepStatus.FAILED and failed.error_code == "OperationTimedOut"
    assert kinds["restore-lock"].status is StepStatus.CHANGED  # put back in all cases
    assert kinds["trigger-backup"].status is StepStatus.SKIPPED
    assert report.exit_code == 1 and _locks(sandbox) == locks_before
    with pytest.raises(Exception, match="failed"):
        report.raise_for_failures()


def test_a_job_that_outlives_the_wait_is_a_timed_out_outcome(journal_path: str) -> None:
    target = Target(Sandbox(scenario="backup-in-progress"))
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, options={"resolve-backup-in-progress": {
            "wait_minutes": 5, "cancel_older_than_hours": 48}})  # not yet stuck: waited for
    (wait,) = [s for s in report.steps if s.step == "wait-for-jobs"]
    assert wait.status is StepStatus.TIMED_OUT and "timed out" in (wait.reason or "")
    assert report.exit_code == 1


def test_a_deallocated_vm_is_backed_up_offline_by_the_trigger_step(journal_path: str) -> None:
    sandbox = Sandbox(scenario="vm-deallocated")
    target = Target(sandbox)
    (seeded,) = [vm for vm in sandbox.compute.vms.values() if vm.power_state == "deallocated"]
    settings_before = dict(seeded.backup_extension().settings)  # installed while it still ran
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, playbooks=[TRIGGER], options={TRIGGER: {"force": True}})
        (step,) = report.steps
        assert step.status is StepStatus.CHANGED and step.detail_value("job_status") == "Completed"
        assert not fix.gateway.get_vm(target.vm()).is_running
    assert seeded.backup_extension().settings == settings_before  # offline: no extension pushed
    (rpc,) = sandbox.compute.collections_for_vm(seeded.id)
    assert rpc.points[-1].consistency_mode == "CrashConsistent"
