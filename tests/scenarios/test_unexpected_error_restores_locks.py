"""An unexpected error between removing a lock and restoring it (a bug, Ctrl-C) still puts the lock back
before the error propagates, and leaves nothing pending in the journal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from azbackup_fix import SandboxCredential
from azbackup_fix.gateway import Gateway
from azbackup_fix.gateway.observation import observe_vm
from azbackup_fix.ids import VmRef
from azbackup_fix.journal import Journal
from azbackup_fix.playbooks import get_playbook
from azbackup_fix.runner import Runner, RunOptions
from azbackup_fix.steps import DeleteLock, DeleteRestorePointCollection, Step, StepContext
from azbackup_sandbox import Sandbox


@dataclass(frozen=True)
class _Explodes(Step):
    kind = "explodes"

    @property
    def target(self) -> str:
        return "nowhere"

    def describe(self) -> str:
        return "raise an unexpected error"

    def run(self, ctx: StepContext):  # noqa: ANN201 - never returns
        raise KeyboardInterrupt


def test_locks_come_back_when_a_step_raises_something_unexpected(tmp_path: Path) -> None:
    sb = Sandbox(scenario="rp-limit-locked")
    sub = sb.subscription_ids[0]
    vm = VmRef.parse(f"/subscriptions/{sub}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/"
                     "virtualMachines/vm-app-01")
    locks_before = sb.locks.to_dict()
    gateway = Gateway(SandboxCredential(), sub, transport=sb.transport(), polling_interval=0)
    plan = get_playbook("clear-restore-point-limit").plan(observe_vm(gateway, vm))
    # Insert the failure right after the lock removal, before the collection delete.
    first_other = next(i for i, s in enumerate(plan.steps) if not isinstance(s, DeleteLock))
    assert isinstance(plan.steps[first_other], DeleteRestorePointCollection)
    broken = type(plan)(plan.playbook, plan.target,
                        steps=(*plan.steps[:first_other], _Explodes(), *plan.steps[first_other:]))
    with Journal(tmp_path / "journal.sqlite") as journal:
        run_id = journal.start_run(command="test", targets=[vm.id])
        runner = Runner(gateway, journal=journal)
        context = StepContext(gateway=gateway, journal=journal, run_id=run_id, sleep=gateway.sleep)
        with pytest.raises(KeyboardInterrupt):
            runner._execute(broken, observe_vm(gateway, vm), RunOptions(apply=True), context, {})
        assert journal.pending_locks() == ()
    assert sb.locks.to_dict() == locks_before  # same name, level and notes, back in place
    collections = sb.snapshot()["resources"]["compute"]["restorePointCollections"]
    assert any("vm-app-01" in c["id"] for c in collections)  # the steps after the error did not run
