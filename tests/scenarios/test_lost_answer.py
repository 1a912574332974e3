"""The lost answer (fault `drop_after`): the trigger-backup POST is processed, its job created, and the
connection drops before the 202. The library's trigger step looks for the job before sending the POST
again, so the item gets exactly one backup, whose job the step adopts and waits for."""

from __future__ import annotations

from pathlib import Path

from azbackup_fix import StepStatus
from azbackup_sandbox import Sandbox
from tests.gateway.sandbox_arm import Target

TRIGGER = "trigger-backup"


def _backup_jobs(sandbox: Sandbox, vm_name: str) -> list[str]:
    return [j.job_id for j in sandbox.backup.jobs.values()
            if j.operation == "Backup" and j.on_demand and j.entity_friendly_name == vm_name]


def test_lost_trigger_answer_creates_one_job_and_the_step_adopts_it(tmp_path: Path) -> None:
    sandbox = Sandbox(scenario="healthy")
    target = Target(sandbox)
    vm = target.vm()
    before = set(_backup_jobs(sandbox, vm.name))
    sandbox.faults.add({"operation": "Backups_Trigger", "drop_after": True, "times": -1})
    sandbox.clear_requests()
    with target.remediator(journal_path=str(tmp_path / "journal.sqlite")) as fix:
        report = fix.run(vm, apply=True, playbooks=[TRIGGER], options={TRIGGER: {"force": True}})

    (step,) = report.steps
    new = set(_backup_jobs(sandbox, vm.name)) - before
    assert len(new) == 1, new  # the one POST the sandbox processed; no second backup
    (job_id,) = new
    assert step.status is StepStatus.CHANGED, report.to_dict()
    assert step.detail_value("job_id") == job_id and step.detail_value("job_status") == "Completed"
    triggers = [r for r in sandbox.requests() if r.operation == "Backups_Trigger"]
    assert [(r.status, r.fault) for r in triggers] == [(202, True)]  # sent once, answer lost
