"""Key Vault access over the HTTPS sandbox through the installed CLI with a managed identity (its ARM
token for the management calls, a Graph token for the servicePrincipals lookup): an RBAC vault lacking
the role is diagnosed with the exact missing permissions, apply without the rail writes nothing and
names it, with it assigns Key Vault Administrator at the vault's scope and the next backup succeeds, a
second apply changes nothing, and ``recover --undo-key-vault-grants RUN_ID`` removes exactly that
assignment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix.journal import Journal
from azbackup_fix.steps import ROLE_ASSIGNED
from azbackup_sandbox import Sandbox, SandboxServer
from tests.sandbox_cli import run_cli, server_environment

pytestmark = pytest.mark.e2e

# Virtual seconds per real second: a 20-minute backup job takes about a second, and the four CLI runs
# stay within the vault's job listing window (at 10^7 a run would move the clock by months).
FAST = 1e3
SUB = "3c4ad2f7-9b1e-5d3a-8f2c-61a0e4b7d902"  # keyvault-rbac
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/vm-app-01"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(scenario="keyvault-rbac")


@pytest.fixture
def server(sandbox: Sandbox) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox, clock_rate=FAST) as running:
        yield running


def _cli(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    done = run_cli(env, *args, "--output", "json", timeout=240)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_rbac_vault_gets_the_role_then_the_backup_succeeds_then_undo(sandbox: Sandbox, server: SandboxServer,
                                                                     tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    env = server_environment(server, journal)
    before = sandbox.authorization.to_dict()

    code, found, err = _cli(env, "diagnose", "--vm", VM)
    assert code == 4, err
    (finding,) = [f for f in found["findings"] if f["code"] == "UserErrorKeyvaultPermissionsNotConfigured"]
    assert finding["evidence_fields"]["missing_permissions"] == "keys backup; secrets backup, get"
    assert finding["evidence_fields"]["access_model"] == "rbac"
    assert any(r.path.startswith("/v1.0/servicePrincipals") and r.status == 200 for r in sandbox.requests())

    sandbox.clear_requests()
    code, report, err = _cli(env, "apply", "--vm", VM, "--yes")
    assert code == 3 and "allow_permission_changes" in report["rails_needed"], (report, err)
    assert [r for r in sandbox.requests() if r.method not in ("GET",) and "backupStatus" not in r.path] == []
    assert sandbox.authorization.to_dict() == before

    code, report, err = _cli(env, "apply", "--vm", VM, "--yes", "--allow-permission-changes")
    assert code == 0, (report, err)
    steps = {s["step"]: s for p in report["playbooks"] for s in p["steps"]}
    assert steps["assign-key-vault-role"]["status"] == "changed"
    assert steps["trigger-backup"]["status"] == "changed", steps
    latest = max((j for j in sandbox.backup.jobs_for_vm(VM) if j.operation == "Backup" and j.start is not None),
                 key=lambda j: j.start)
    assert latest.status == "Completed" and not latest.errors
    added = [a for a in sandbox.authorization.to_dict() if a not in before]
    assert [a["roleDefinition"] for a in added] == ["Key Vault Administrator"]

    code, again, err = _cli(env, "apply", "--vm", VM, "--yes", "--allow-permission-changes")
    assert code == 0 and not [s for p in again["playbooks"] for s in p["steps"] if s["status"] == "changed"], again

    with Journal(journal) as j:
        (run_id,) = {c.run_id for c in j.changes_by_action(ROLE_ASSIGNED)}
    code, undone, err = _cli(env, "recover", "--undo-key-vault-grants", run_id)
    assert code == 0, err
    assert [g["outcome"] for g in undone["grants"]] == ["removed"]
    assert sandbox.authorization.to_dict() == before
