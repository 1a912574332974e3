"""Issue 18 item 2: the Python API (no playbook file), the CLI and the runbook route through the same
packaged default.yaml. Every single-VM sandbox scenario is planned through all three and compared."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from azbackup_fix import runbook
from azbackup_fix.playbook_file import load_playbook_file
from azbackup_sandbox import Sandbox, SandboxServer
from tests.gateway.sandbox_arm import Target
from tests.operator_run.helpers import SUB, VM, cli_json

SCENARIOS = ("healthy", "rp-limit-locked", "rp-limit-custom-rg", "failed-vmsnapshot-windows",
             "failed-vmsnapshot-linux", "agent-not-ready", "vm-deallocated", "backup-in-progress",
             "protection-stopped", "disk-too-large", "vm-deleted")
RAILS = {"none": (), "all": ("--allow-disruptive", "--allow-protection-changes")}


def _shape(doc: dict[str, Any]) -> dict[str, Any]:
    """What a plan decides: playbooks, their steps (kind, exact target, status, refusal), the exit code."""
    return {
        "exit_code": doc["exit_code"],
        "playbooks": [(p["playbook"], [(s["step"], s["target"], s["status"], s["refused"]) for s in p["steps"]])
                      for p in doc["playbooks"]],
    }


def _api(scenario: str, rails: tuple[str, ...]) -> dict[str, Any]:
    target = Target(Sandbox(scenario=scenario))
    keywords = {flag[2:].replace("-", "_"): True for flag in rails}
    with target.remediator() as fix:  # no playbook file: the packaged default.yaml
        return fix.plan(target.vm(), **keywords).to_dict()


def _runbook(server: SandboxServer, scenario: str, rails: tuple[str, ...]) -> dict[str, Any]:
    server.sandbox.load(scenario)
    out = io.StringIO()
    code = runbook.main(["--mode", "plan", "--subscription", SUB, "--vm", VM, "--arm-endpoint", server.endpoint,
                         *rails], stdout=out, stderr=io.StringIO())
    doc = json.loads(out.getvalue().splitlines()[-1])
    assert doc["exit_code"] == code
    (run,) = doc["runs"]
    return run


@pytest.mark.parametrize("rails", sorted(RAILS))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_api_cli_and_runbook_plan_alike(scenario: str, rails: str, server: SandboxServer, identity: None) -> None:
    flags = RAILS[rails]
    code, cli_doc, err = cli_json("plan", "--sandbox", scenario, "--vm", VM, *flags)
    assert code == cli_doc["exit_code"], err
    api_doc = _api(scenario, flags)
    runbook_doc = _runbook(server, scenario, flags)
    assert _shape(api_doc) == _shape(cli_doc) == _shape(runbook_doc)


def test_the_api_without_a_file_routes_through_default_yaml() -> None:
    target = Target(Sandbox(scenario="agent-not-ready"))
    with target.remediator() as fix:
        assert fix.playbook_file == load_playbook_file(None)
        report = fix.plan(target.vm(), allow_disruptive=True)
    # default.yaml's rule for an unreachable agent: reapply and restart when disruptive changes are allowed,
    # then the agent must be Ready before the backup.
    assert [s.step for s in report.steps] == ["reapply-vm", "restart-vm", "wait-for-agent", "trigger-backup"]
