"""grant-backup-key-vault-access through the Python API against the sandbox (real SDK clients,
in-process): the plan shows the exact change and writes nothing; apply without the permission rail
writes nothing and names it; with it the Backup Management Service gets exactly the missing
permissions (an access-policy add) or a role at the vault's scope (RBAC), journaled before the write,
and the backup succeeds; a second run plans nothing; undo removes exactly what was added."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix import StepStatus
from azbackup_fix.journal import Journal
from azbackup_fix.keyvault_undo import undo_key_vault_grants
from azbackup_fix.steps import ACCESS_POLICY_ADDED, ROLE_ASSIGNED
from azbackup_sandbox import Sandbox
from azbackup_sandbox.providers.graph.models import backup_service_object_id
from tests.gateway.sandbox_arm import Target, writes

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BMS = backup_service_object_id(TENANT)
KINDS = {"keyvault-access-policy": "add-key-vault-access-policy", "keyvault-bek-only": "add-key-vault-access-policy",
         "keyvault-single-pass": "add-key-vault-access-policy", "keyvault-rbac": "assign-key-vault-role"}
# What each estate's Backup Management Service principal ends up holding (access-policy vaults).
GRANTED = {
    "keyvault-access-policy": {"keys": ["Get", "backup", "list"], "secrets": ["Get", "backup", "list"]},
    "keyvault-bek-only": {"secrets": ["Get", "List", "backup"]},  # secrets only: no KEK
    "keyvault-single-pass": {"keys": ["backup", "get", "list"], "secrets": ["backup", "get", "list"]},
}


def _vault(sandbox: Sandbox) -> Any:
    (vault,) = sandbox.keyvault.vaults.values()
    return vault


def _policies(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [p.to_arm() for p in _vault(sandbox).policies]


def _assignments(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.authorization.to_dict()


@pytest.fixture
def journal_path(tmp_path: Path) -> str:
    return str(tmp_path / "journal.sqlite")


@pytest.mark.parametrize("scenario", sorted(KINDS))
def test_plan_with_the_rail_shows_the_exact_change_and_writes_nothing(scenario: str) -> None:
    target = Target(Sandbox(scenario=scenario))
    before = json.dumps(target.sandbox.snapshot(), sort_keys=True)
    with target.remediator() as fix:
        report = fix.plan(target.vm(), allow_permission_changes=True)
    assert json.dumps(target.sandbox.snapshot(), sort_keys=True) == before
    assert writes(target.sandbox.requests()) == []
    (step,) = [s for s in report.steps if s.step == KINDS[scenario]]
    assert step.status is StepStatus.PLANNED and step.target == _vault(target.sandbox).id
    if scenario == "keyvault-rbac":
        assert "Key Vault Administrator" in step.description and step.detail_value("principal_id") == BMS
    else:
        assert step.detail_value("object_id") == BMS and step.detail_value("operation") == "add"
    if scenario == "keyvault-bek-only":
        assert step.detail_value("permissions") == "secrets backup"  # no keys for a BEK-only VM


@pytest.mark.parametrize("scenario", sorted(KINDS))
def test_apply_without_the_rail_writes_nothing_and_names_it(scenario: str, journal_path: str) -> None:
    target = Target(Sandbox(scenario=scenario))
    before = json.dumps(target.sandbox.snapshot()["resources"], sort_keys=True)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True)
    assert writes(target.sandbox.requests()) == []
    assert json.dumps(target.sandbox.snapshot()["resources"], sort_keys=True) == before
    assert report.exit_code == 3 and "allow_permission_changes" in report.withheld_rails


@pytest.mark.parametrize("scenario", sorted(KINDS))
def test_grant_then_backup_then_nothing_left_then_undo(scenario: str, journal_path: str) -> None:
    sandbox = Sandbox(scenario=scenario)
    target = Target(sandbox)
    policies_before, assignments_before = _policies(sandbox), _assignments(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, allow_permission_changes=True)
        assert [s.step for s in report.changed] == [KINDS[scenario], "trigger-backup"], report.to_dict()
        (trigger,) = [s for s in report.steps if s.step == "trigger-backup"]
        assert trigger.detail_value("job_status") == "Completed"
        assert all(p.verified is not False for p in report.playbooks)
        if scenario == "keyvault-rbac":
            added = [a for a in _assignments(sandbox) if a not in assignments_before]
            assert [(a["roleDefinition"], a["principalId"]) for a in added] == [("Key Vault Administrator", BMS)]
            assert _policies(sandbox) == policies_before == []
        else:
            assert _vault(sandbox).policy_for(TENANT, BMS).permissions == GRANTED[scenario]
            others = [p for p in _policies(sandbox) if p["objectId"] != BMS]
            assert others == [p for p in policies_before if p["objectId"] != BMS]  # never replaced

        sandbox.clear_requests()
        second = fix.run(target.vm(), apply=True, allow_permission_changes=True)
        assert second.changed == () and writes(sandbox.requests()) == [] and second.exit_code == 0

        with Journal(journal_path) as journal:
            (run,) = [r for r in journal.runs() if journal.changes(r.run_id)
                      and any(c.action in (ACCESS_POLICY_ADDED, ROLE_ASSIGNED) for c in journal.changes(r.run_id))]
            (grant,) = [c for c in journal.changes(run.run_id) if c.action in (ACCESS_POLICY_ADDED, ROLE_ASSIGNED)]
            assert grant.target == _vault(sandbox).id and json.loads(grant.detail)["undo"] in ("remove", "delete")
            undone = undo_key_vault_grants(journal, fix.gateway, run.run_id)
            assert [u.outcome for u in undone] == ["removed"]
            assert [u.outcome for u in undo_key_vault_grants(journal, fix.gateway, run.run_id)] == ["already-undone"]
    assert _policies(sandbox) == policies_before and _assignments(sandbox) == assignments_before


def test_the_object_id_can_be_given_instead_of_asking_graph() -> None:
    target = Target(Sandbox(scenario="keyvault-bek-only"))
    with target.remediator(backup_service_object_id=BMS) as fix:
        report = fix.diagnose(target.vm())
    assert not [r for r in target.sandbox.requests() if r.path.startswith("/v1.0/")]
    (finding,) = [f for f in report.findings if f.code == "UserErrorKeyvaultPermissionsNotConfigured"]
    assert finding.evidence_value("missing permissions") == "secrets backup"
