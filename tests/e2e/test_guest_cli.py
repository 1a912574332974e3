"""Issue 14 end to end: the installed CLI over the HTTPS sandbox (managed identity, REQUESTS_CA_BUNDLE, its
own journal) reads a guest whose COM+ System Application is stopped (MSDTC logging on as LocalSystem)
through Run Command, is refused the fix without the guest rail, fixes it with the rails (MSDTC logon,
restart, COM+ start: journaled, verified by probing again), backs up, and then finds nothing.

The server's virtual clock runs fast (see FAST), so Run Command's ~30 s and the backup job cost little real time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix.journal import Journal
from azbackup_fix.steps.guest import GUEST_FIX_ACTION
from azbackup_sandbox import Sandbox, SandboxServer
from tests.sandbox_cli import run_cli, server_environment

pytestmark = pytest.mark.e2e

# Fast enough that Run Command's ~30 s and the backup job take a moment, slow enough that the failed job
# stays in the vault's recent listing between the CLI's runs.
FAST = 1e3
SUB = "a8383246-6edc-5168-a99f-ca020b3b8fc5"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/vm-app-01"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(scenario="guest-complus-stopped"), clock_rate=FAST) as running:
        yield running


def _cli(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    done = run_cli(env, *args, "--output", "json", timeout=240)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_guest_fix_over_https(server: SandboxServer, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    env = server_environment(server, journal)

    code, found, err = _cli(env, "diagnose", "--vm", VM, "--probe-guest")
    assert code == 4, err
    [com] = [f for f in found["findings"] if f["code"] == "ExtensionSnapshotFailedCOM"]
    assert com["evidence_fields"]["guest_comsysapp_state"] == "stopped"
    assert com["evidence_fields"]["guest_msdtc_account"] == "LocalSystem"

    code, refused, err = _cli(env, "apply", "--yes", "--vm", VM)
    assert "allow_guest_changes" in json.dumps(refused), err
    assert code == 3 and not [s for p in refused["playbooks"] for s in p["steps"] if s["status"] == "changed"]  # the rail
    probes = [r for r in server.sandbox.requests() if "RunCommand" in r.operation]

    assert {r.operation for r in probes} <= {"VirtualMachineRunCommands_CreateOrUpdate",  # the diagnose probe only
                                              "VirtualMachineRunCommands_GetByVirtualMachine",
                                              "VirtualMachineRunCommands_Delete", "ComputeOperations_Get"}
    assert len([r for r in probes if r.operation.endswith("CreateOrUpdate")]) == 1

    code, report, err = _cli(env, "apply", "--yes", "--vm", VM, "--allow-guest-changes", "--allow-disruptive")
    assert code == 0, err + json.dumps(report)
    steps = {s["step"]: s for p in report["playbooks"] for s in p["steps"]}
    assert steps["fix-guest"]["status"] == "changed"
    assert steps["trigger-backup"]["detail"]["job_status"] == "Completed"
    settings = [json.loads(c.detail)["setting"] for c in Journal(str(journal)).changes_by_action(GUEST_FIX_ACTION)]
    assert settings == ["MSDTC.account", "MSDTC", "COMSysApp"]

    code, again, err = _cli(env, "diagnose", "--vm", VM, "--probe-guest")
    assert code == 0, err + json.dumps(again)
