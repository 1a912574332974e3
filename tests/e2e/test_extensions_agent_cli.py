"""Issue 12, items 1 and 3, through the installed CLI over the HTTPS sandbox (managed identity,
REQUESTS_CA_BUNDLE, a journal of its own): a failed extension that is not the backup extension is
refused without --allow-extension-changes (nothing written), re-run with it (then reapply, then a
backup that succeeds); a cause that persists stops the run with no backup spent; an agent a restart
cannot revive comes back after a redeploy to a new host, and only then is the backup triggered.

The server's virtual clock runs 500 times real time: a 20-minute backup job takes under 3 s, while the
policy's next scheduled backup (hours away) does not run during a test and blur its job history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix.journal import Journal
from azbackup_fix.steps import RERUN_EXTENSION
from azbackup_sandbox import Sandbox, SandboxServer
from tests.sandbox_cli import run_cli, server_environment

pytestmark = pytest.mark.e2e

FAST = 500.0  # virtual seconds per real second
SUB = "a8383246-6edc-5168-a99f-ca020b3b8fc5"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/vm-app-01"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=FAST) as running:
        yield running


def _cli(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    done = run_cli(env, *args, "--output", "json", timeout=240)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def _steps(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["status"]) for p in report["playbooks"] for s in p["steps"]]


def _state(server: SandboxServer) -> dict[str, Any]:
    return server.sandbox.snapshot()["resources"]


def _vm(server: SandboxServer) -> dict[str, Any]:
    return next(v for v in _state(server)["compute"]["virtualMachines"] if v["id"].endswith("/vm-app-01"))


def _backup_jobs(server: SandboxServer) -> int:
    return sum(1 for j in _state(server)["backup"]["jobs"] if j["operation"] == "Backup")


def test_failed_extension_refused_without_its_rail_then_rerun(server: SandboxServer, tmp_path: Path) -> None:
    server.sandbox.load("failed-extension-rerun")
    journal = tmp_path / "journal.sqlite"
    env = server_environment(server, journal)
    before, jobs = json.dumps(_state(server)["compute"], sort_keys=True), _backup_jobs(server)

    code, report, err = _cli(env, "apply", "--yes", "--vm", VM)
    assert code == 3, err
    assert report["rails_needed"] == ["allow_extension_changes"] and report["write_count"] == 0
    assert json.dumps(_state(server)["compute"], sort_keys=True) == before and _backup_jobs(server) == jobs

    code, report, err = _cli(env, "apply", "--yes", "--vm", VM, "--allow-extension-changes")
    assert code == 0, err + json.dumps(report)
    assert _steps(report) == [("rerun-extension", "changed"), ("reapply-vm", "changed"), ("trigger-backup", "changed")], \
        json.dumps(report["playbooks"])
    ext = next(e for e in _vm(server)["extensions"] if e["name"] == "MicrosoftMonitoringAgent")
    assert ext["provisioningState"] == "Succeeded" and _vm(server)["provisioningState"] == "Succeeded"
    (entry,) = Journal(str(journal)).changes_by_action(RERUN_EXTENSION)
    assert json.loads(entry.detail)["forceUpdateTag"].startswith("azbackup-fix-")


def test_a_persisting_cause_stops_without_spending_a_backup(server: SandboxServer, tmp_path: Path) -> None:
    server.sandbox.load("failed-extension-persists")
    env = server_environment(server, tmp_path / "journal.sqlite")
    jobs = _backup_jobs(server)
    code, report, err = _cli(env, "apply", "--yes", "--vm", VM, "--allow-extension-changes")
    assert code == 1, err
    steps = {s["step"]: s for p in report["playbooks"] for s in p["steps"]}
    assert steps["rerun-extension"]["status"] == "failed" and "cause persists" in steps["rerun-extension"]["reason"]
    assert steps["trigger-backup"]["status"] == "skipped", json.dumps(report["playbooks"])
    assert _backup_jobs(server) == jobs and _vm(server)["provisioningState"] == "Failed"


def test_redeploy_revives_the_agent_a_restart_could_not(server: SandboxServer, tmp_path: Path) -> None:
    server.sandbox.load("agent-not-ready-redeploy")
    env = server_environment(server, tmp_path / "journal.sqlite")
    code, found, err = _cli(env, "diagnose", "--vm", VM)
    assert code == 4, err
    assert any(f["code"] == "UserErrorGuestAgentStatusUnavailable" and "installed but Not Ready" in f["title"]
               for f in found["findings"])
    assert any(f["code"] == "AgentlessCrashConsistentBackup" for f in found["findings"])
    playbooks = tmp_path / "redeploy.yaml"
    playbooks.write_text(
        "version: 1\nguard_rails: {allow_disruptive: true}\nrules:\n"
        "  - name: agent not ready, redeploy to a new host\n"
        "    match: {error_codes: [UserErrorGuestAgentStatusUnavailable]}\n"
        "    playbooks: [recover-vm-provisioning, trigger-backup]\n"
        "    options: {recover-vm-provisioning: {redeploy: true, trigger_backup: false}}\n", encoding="utf-8")
    code, report, err = _cli(env, "apply", "--yes", "--vm", VM, "--playbooks", str(playbooks))
    assert code == 0, err + json.dumps(report)
    assert _steps(report) == [("reapply-vm", "changed"), ("redeploy-vm", "changed"), ("wait-for-agent", "unchanged"),
                              ("trigger-backup", "changed")]
    assert _vm(server)["agent"]["status"] == "Ready"
