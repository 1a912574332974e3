"""Issue 12, items 5 and 6, end to end: the CLI in a subprocess against the HTTPS sandbox server, as a
pipeline runs it. A job stuck for 26 h is not waited on (the run used to sit in a silent 60-minute
wait): apply returns with the stuck finding and the rail that would cancel it; a Deny policy is named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_sandbox import Sandbox, SandboxServer
from tests.gateway.sandbox_arm import writes
from tests.sandbox_cli import run_cli, server_environment

pytestmark = pytest.mark.e2e


@pytest.fixture
def stuck() -> Iterator[SandboxServer]:
    # The default clock rate (300 virtual seconds a second): a wait of an hour would take 12 real seconds.
    with SandboxServer(Sandbox(scenario="backup-in-progress")) as running:
        yield running


def test_apply_on_a_stuck_job_returns_with_the_stuck_finding_and_the_rail(stuck: SandboxServer,
                                                                         tmp_path: Path) -> None:
    env = server_environment(stuck, tmp_path / "journal.sqlite")
    vm = next(v.id for v in stuck.sandbox.compute.vms.values() if v.name == "vm-app-01")
    stuck.sandbox.clear_requests()
    done = run_cli(env, "apply", "--vm", vm, "--yes", "--output", "json", timeout=120)
    assert done.returncode == 3, done.stderr
    doc = json.loads(done.stdout)
    (playbook,) = [p for p in doc["playbooks"] if p["playbook"] == "resolve-backup-in-progress"]
    assert any("is stuck" in n and "--allow-disruptive" in n for n in playbook["notes"]), playbook
    kinds = [s["step"] for p in doc["playbooks"] for s in p["steps"]]
    assert "wait-for-jobs" not in kinds and doc["rails_needed"] == ["allow_disruptive"]
    assert writes(stuck.sandbox.requests()) == []
    # Virtual time barely moved: nothing waited on the job.
    (job,) = [j for j in stuck.sandbox.backup.jobs.values() if j.running]
    assert job.status == "InProgress"


def test_diagnose_names_the_deny_assignment_over_https(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(scenario="policy-deny-rp-group")) as server:
        env = server_environment(server, tmp_path / "journal.sqlite")
        vm = next(v.id for v in server.sandbox.compute.vms.values())
        done = run_cli(env, "diagnose", "--vm", vm, "--output", "json", timeout=120)
        assert done.returncode == 4, done.stderr
        doc = json.loads(done.stdout)
        (finding,) = [f for d in (doc if isinstance(doc, list) else [doc]) for f in d["findings"]
                      if f["code"] == "UserErrorRequestDisallowedByPolicy"]
        assert finding["evidence_fields"]["policy_assignment"].endswith("/policyAssignments/require-costcenter-rg")
        assert "Modify" in finding["title"] and finding["playbooks"] == []
        assert writes(server.sandbox.requests()) == []
