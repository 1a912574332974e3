"""The full VMSnapshot reinstall on Windows (issue 14) through the Python API against the sandbox, whose guest
keeps corrupt plugin state (folder and HandlerState keys) that makes every install of the extension fail:
the plain reinstall fails again; once the extension failed the last backups in a row the diagnosis says
so, the full reinstall needs both allow_extension_changes and allow_guest_changes, removes the extension
through ARM, deletes the leftovers in the guest (journaled, verified), and the backup installs it afresh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azbackup_fix.journal import Journal
from azbackup_fix.steps.guest import GUEST_FIX_ACTION
from azbackup_sandbox import Sandbox
from azbackup_sandbox.providers.backup.physics import trigger_backup
from tests.gateway.sandbox_arm import BROKEN, Target

SCENARIO = "guest-vmsnapshot-stale-plugin"
PLUGIN = "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot"
HANDLER = "HKLM\\SOFTWARE\\Microsoft\\Windows Azure\\HandlerState\\Microsoft.Azure.RecoveryServices.VMSnapshot_1.0.75.0"


def _vm(sandbox: Sandbox):  # noqa: ANN202 - the sandbox's model
    return next(vm for vm in sandbox.compute.vms.values() if vm.name == BROKEN)


def _backup_extension(sandbox: Sandbox):  # noqa: ANN202
    return _vm(sandbox).backup_extension()


def test_the_plain_reinstall_fails_again_on_the_stale_plugin_state(tmp_path: Path) -> None:
    sandbox = Sandbox(scenario=SCENARIO)
    target = Target(sandbox)
    with target.remediator(journal_path=str(tmp_path / "j.sqlite")) as fix:
        report = fix.run(target.vm(), playbooks=["reinstall-backup-extension", "trigger-backup"], apply=True)
        [held] = [s for s in report.steps if s.step == "trigger-backup"]
        # The removal left the leftovers; the diagnosis knows the install would fail: no backup wasted.
        assert held.status.value == "skipped" and "BackupExtensionKeepsFailing" in (held.reason or "")
        assert _backup_extension(sandbox) is None
        assert _vm(sandbox).guest.plugin_leftovers() == [PLUGIN, HANDLER]
    # A backup the service starts anyway (the nightly one) reinstalls the extension and meets them.
    [item] = sandbox.backup.items_for_vm(_vm(sandbox).id)
    job, _ = trigger_backup(sandbox, item)
    sandbox.advance(3600)
    assert job.status == "Failed" and job.errors[0].error_title == "ExtensionOperationFailedForManagedDisks"
    assert _backup_extension(sandbox).failed and _vm(sandbox).guest.plugin_stale


def test_diagnosis_names_the_repeated_failure_and_the_rails_it_needs() -> None:
    sandbox = Sandbox(scenario=SCENARIO)
    target = Target(sandbox)
    with target.remediator() as fix:
        found = fix.diagnose(target.vm())
        refused = fix.run(target.vm(), apply=True)
        half = fix.run(target.vm(), apply=True, allow_extension_changes=True)
    [finding] = [f for f in found.findings if f.code == "BackupExtensionKeepsFailing"]
    assert finding.guide == "002" and finding.playbooks == ("reinstall-backup-extension-clean",)
    assert len([e for e in finding.evidence if e.label == "failed job"]) == 2
    assert set(refused.withheld_rails) == {"allow_extension_changes", "allow_guest_changes"}
    assert "allow_guest_changes" in half.withheld_rails
    assert not [s for p in (*refused.playbooks, *half.playbooks) for s in p.steps if s.status.value == "changed"]
    assert _backup_extension(sandbox).failed and not [r for r in sandbox.requests() if "RunCommand" in r.operation]


def test_full_reinstall_cleans_the_guest_backs_up_and_is_done(tmp_path: Path) -> None:
    sandbox = Sandbox(scenario=SCENARIO)
    target = Target(sandbox)
    journal = tmp_path / "j.sqlite"
    rails = {"allow_extension_changes": True, "allow_guest_changes": True}
    with target.remediator(journal_path=str(journal)) as fix:
        report = fix.run(target.vm(), apply=True, **rails)
        steps = {s.step: s for s in report.steps}
        assert steps["delete-extension"].status.value == "changed"
        assert steps["clean-backup-plugin"].status.value == "changed", steps["clean-backup-plugin"].reason
        assert steps["trigger-backup"].detail_value("job_status") == "Completed"
        again = fix.plan(target.vm(), **rails)
    assert not [s for p in again.playbooks for s in p.steps if s.status.value == "planned"]
    ext = _backup_extension(sandbox)
    assert ext is not None and not ext.failed and not _vm(sandbox).guest.plugin_stale
    assert _vm(sandbox).guest.backup_failure() is None
    entries = [json.loads(e.detail) for e in Journal(str(journal)).changes_by_action(GUEST_FIX_ACTION)]
    assert [(e["action"], e["setting"], e["before"]) for e in entries] == [("remove-item", PLUGIN, True),
                                                                           ("remove-item", HANDLER, True)]


@pytest.mark.parametrize("scenario", ["failed-vmsnapshot-windows", "failed-vmsnapshot-linux"])
def test_a_first_failure_still_gets_the_plain_reinstall(scenario: str) -> None:
    target = Target(Sandbox(scenario=scenario))
    with target.remediator() as fix:
        plan = fix.plan(target.vm(), allow_extension_changes=True, allow_guest_changes=True)
    planned = {p.playbook for p in plan.playbooks if p.steps}
    assert "reinstall-backup-extension" in planned and "reinstall-backup-extension-clean" not in planned


def test_a_run_interrupted_after_the_removal_resumes_with_the_guest_clean_up(tmp_path: Path) -> None:
    sandbox = Sandbox(scenario=SCENARIO)
    target = Target(sandbox)
    rails = {"allow_extension_changes": True, "allow_guest_changes": True}
    with target.remediator(journal_path=str(tmp_path / "j.sqlite")) as fix:
        first = fix.run(target.vm(), playbooks=["reinstall-backup-extension-clean"], apply=True,
                        options={"reinstall-backup-extension-clean": {"trigger_backup": False}}, **rails)
        assert [s.step for s in first.steps] == ["delete-extension", "clean-backup-plugin"]
        # As if the clean-up never ran: the removal happened, the leftovers are back.
        _vm(sandbox).guest.plugin_stale = True
        _vm(sandbox).guest.folders.append(PLUGIN)
        resumed = fix.run(target.vm(), apply=True, **rails)
    steps = {s.step: s for s in resumed.steps}
    assert "delete-extension" not in steps and steps["clean-backup-plugin"].status.value == "changed"
    assert steps["trigger-backup"].detail_value("job_status") == "Completed"
