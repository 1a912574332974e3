"""Every registered playbook, in dry-run, against every sandbox scenario: no write request, state unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azbackup_fix.models.rails import GUARD_RAILS
from azbackup_fix.playbooks import all_playbooks, playbook_ids
from azbackup_fix.steps import Step
from azbackup_sandbox import Sandbox, list_scenarios
from tests.gateway.sandbox_arm import Target, writes

SCENARIOS = sorted(s.name for s in list_scenarios())
SINGLE = {"healthy", "rp-limit-locked", "rp-limit-custom-rg", "failed-vmsnapshot-windows", "failed-vmsnapshot-linux",
          "agent-not-ready", "vm-deallocated", "backup-in-progress", "protection-stopped", "disk-too-large",
          "vm-deleted", "failed-extension-rerun", "failed-extension-persists", "vm-transitioning",
          "agent-not-installed", "agent-not-ready-redeploy", "keyvault-access-policy", "keyvault-rbac",
          "network-nic-nsg-deny-internet", "guest-defender-blocking", "guest-vmsnapshot-stale-plugin"}


@pytest.mark.parametrize("playbook", playbook_ids())
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_dry_run_writes_nothing(playbook: str, scenario: str, tmp_path: Path) -> None:
    sandbox = Sandbox(scenario=scenario)
    target = Target(sandbox)
    before = json.dumps(sandbox.snapshot(), sort_keys=True)
    sandbox.clear_requests()
    with target.remediator(journal_path=str(tmp_path / "j.sqlite")) as fix:
        # Single-VM scenarios: the broken VM; estates (demo, fleets): a few of their protected VMs.
        vms = [target.vm()] if sandbox.scenario_name in SINGLE else list(fix.list_protected_vms())[:4]
        assert vms
        # Every rail, the guest's too: without probe_guest a dry run sends no Run Command (no exemption).
        reports = [fix.plan(vm, playbooks=[playbook], **{rail.name: True for rail in GUARD_RAILS}) for vm in vms]
    assert writes(sandbox.requests()) == [] and all(r.write_count == 0 for r in reports)
    assert json.dumps(sandbox.snapshot(), sort_keys=True) == before
    assert all(s.status.value in ("planned", "skipped") for r in reports for s in r.steps)
    assert not (tmp_path / "j.sqlite").exists()


def test_registry_is_walkable() -> None:
    ids = playbook_ids()
    assert len(ids) == len(set(ids)) >= 8
    for cls in all_playbooks():
        assert cls.id and cls.title and cls.error_codes and cls.actions
        assert all(a.count("/") >= 2 for a in cls.actions)
        for name, (kind, default) in cls.options.items():
            assert isinstance(default, kind), (cls.id, name)
    def every(cls: type) -> list[type]:  # subclasses at any depth (the VM actions share a base)
        return [c for sub in cls.__subclasses__() for c in (sub, *every(sub))]

    step_actions = {a for s in every(Step) for a in s.actions}
    declared = {a for cls in all_playbooks() for a in cls.actions}
    assert step_actions <= declared | {"Microsoft.Compute/virtualMachines/extensions/delete"}
