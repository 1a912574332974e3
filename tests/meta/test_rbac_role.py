"""The operator role (examples/rbac/azbackup-fix-operator.json) grants exactly what the playbooks
declare plus the diagnosis's reads: sufficient (every scenario diagnosed and repaired with RBAC
enforced, no 403), each diagnosis read necessary, and the preflight reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azbackup_fix import PermissionDeniedError, Remediator, SandboxCredential
from azbackup_fix.playbook_file import load_playbook_file
from azbackup_fix.playbooks import all_playbooks
from azbackup_fix.preflight import (
    DIAGNOSE_ACTIONS,
    DIAGNOSE_OPTIONAL_ACTIONS,
    FANOUT_ACTIONS,
    KEY_VAULT_READ_ACTIONS,
    SCAN_ACTIONS,
    Permissions,
    check,
    required_actions,
    role_definition,
)
from azbackup_sandbox import Sandbox, SandboxConfig
from azbackup_sandbox.core.rbac import DEFAULT_PRINCIPAL
from azbackup_sandbox.scenarios import list_scenarios

REPO = Path(__file__).resolve().parents[2]
ROLE_FILE = REPO / "examples/rbac/azbackup-fix-operator.json"
SCENARIOS = sorted(s.name for s in list_scenarios() if not s.name.startswith("fleet"))


def _role() -> dict:
    return json.loads(ROLE_FILE.read_text(encoding="utf-8"))


def test_role_file_is_generated_from_the_registry() -> None:
    assert _role() == role_definition()


def test_role_actions_are_exactly_the_declared_ones() -> None:
    declared = {a.casefold() for cls in all_playbooks() for a in cls.actions} | \
        {a.casefold() for a in (*DIAGNOSE_ACTIONS, *DIAGNOSE_OPTIONAL_ACTIONS, *SCAN_ACTIONS,
                                                *FANOUT_ACTIONS)}
    role = _role()
    assert {a.casefold() for a in role["Actions"]} == declared
    assert len(role["Actions"]) == len(declared)  # no duplicates
    assert not any("*" in a for a in role["Actions"]) and role["NotActions"] == []
    assert role["IsCustom"] is True and role["AssignableScopes"]


def _enforced(scenario: str, actions: list[str]) -> Sandbox:
    sandbox = Sandbox(scenario=scenario, config=SandboxConfig(rbac=True))
    sandbox.rbac.assign(DEFAULT_PRINCIPAL, actions=tuple(actions))  # the SandboxCredential's principal
    return sandbox


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_role_is_sufficient_for_diagnose_and_every_fix(scenario: str, tmp_path: Path) -> None:
    sandbox = _enforced(scenario, _role()["Actions"])
    with Remediator(SandboxCredential(), sandbox.subscription_ids[0], transport=sandbox.transport(),
                    polling_interval=0, journal_path=str(tmp_path / "j.sqlite"),
                    playbook_file=load_playbook_file(None)) as fix:
        vms = fix.list_protected_vms()
        assert vms
        reports = [fix.run(vm, apply=True, allow_disruptive=True, allow_protection_changes=True) for vm in vms]
    denied = [r for r in sandbox.requests() if r.status == 403]
    assert denied == []
    assert not [s for r in reports for s in r.steps if s.error_code == "AuthorizationFailed"]


@pytest.mark.parametrize("action", DIAGNOSE_ACTIONS)
def test_each_diagnosis_read_is_necessary(action: str, tmp_path: Path) -> None:
    # The Key Vault reads are made for encrypted VMs only: an RBAC vault's estate needs all four.
    estate = "keyvault-rbac" if action in KEY_VAULT_READ_ACTIONS else "demo"
    sandbox = _enforced(estate, [a for a in _role()["Actions"] if a != action])
    with Remediator(SandboxCredential(), sandbox.subscription_ids[0], transport=sandbox.transport(),
                    polling_interval=0) as fix:
        with pytest.raises(PermissionDeniedError) as caught:
            for vm in fix.list_protected_vms():
                fix.diagnose(vm)
    assert action in str(caught.value)
    assert any(r.status == 403 for r in sandbox.requests())


def test_preflight_with_the_role_file_finds_nothing_missing() -> None:
    perms = Permissions.load(ROLE_FILE)
    needs = {cls.id: required_actions([cls.id]) for cls in all_playbooks()}
    result = check(needs, perms)
    assert result.ok and result.missing_actions == ()
    # + the scan's query, the optional backupStatus and the fan-out parent's Automation jobs
    assert set(result.required) | set(SCAN_ACTIONS) | set(DIAGNOSE_OPTIONAL_ACTIONS) | set(FANOUT_ACTIONS) == \
        set(_role()["Actions"])


def test_preflight_reports_what_reader_and_contributor_lack() -> None:
    reader = Permissions.from_document({"properties": {"roleName": "Reader",
                                                       "permissions": [{"actions": ["*/read"], "notActions": []}]}})
    result = check({"clear-restore-point-limit": required_actions(["clear-restore-point-limit"])}, reader)
    assert not result.ok
    assert "Microsoft.Authorization/locks/delete" in result.missing_actions
    assert "Microsoft.Compute/restorePointCollections/delete" in result.missing_actions
    assert "Microsoft.Compute/virtualMachines/read" not in result.missing_actions
    contributor = Permissions.from_document([{"Actions": ["*"], "NotActions": ["Microsoft.Authorization/*/Delete",
                                                                             "Microsoft.Authorization/*/Write"]}])
    result = check({"clear-restore-point-limit": required_actions(["clear-restore-point-limit"])}, contributor)
    assert result.missing_actions == ("Microsoft.Authorization/locks/delete", "Microsoft.Authorization/locks/write")
    assert result.to_dict()["missing_by_playbook"] == {"clear-restore-point-limit": list(result.missing_actions)}


def test_bad_role_files_are_bad_input(tmp_path: Path) -> None:
    from azbackup_fix import InvalidInputError

    for text in ("not json", '{"Name": "x"}', '{"Actions": "Microsoft.Compute/*"}'):
        path = tmp_path / "role.json"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInputError):
            Permissions.load(path)
    with pytest.raises(InvalidInputError):
        Permissions.load(tmp_path / "missing.json")
