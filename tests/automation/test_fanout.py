"""Fan-out over the sandbox's Microsoft.Automation, end to end over HTTPS: `azbackup-fix scan --fan-out 3`
starts three child jobs of the shipped runbook (real processes with the managed identity), fair share
evicts one of them mid-way, the parent submits it again and it resumes from the shared journal; the
merged report equals a single-job scan of the same estate."""

from __future__ import annotations

import json
from pathlib import Path

from azbackup_sandbox import Sandbox
from azbackup_sandbox.providers.automation.models import EVICTED
from tests.automation.automation_sandbox import automation_sandbox
from tests.automation.test_fanout_parent import guest_firewall_sandbox
from tests.fleet.fleet_sandbox import ALL_KINDS
from tests.sandbox_cli import run_cli, server_environment


def _key(vm: dict) -> tuple:
    return (vm["vm"].casefold(), vm["outcome"], vm["error_code"], tuple(vm["findings"]), tuple(vm["playbooks"]),
            tuple((s["step"], s["status"]) for s in vm["steps"]))


def test_a_fanout_with_a_fair_share_eviction_equals_one_scan(tmp_path: Path) -> None:
    sb = Sandbox()
    sb.load("fleet", vms=60, subscriptions=2, vaults=1, mix=ALL_KINDS)
    sb.config.latency_ms = (5.0, 15.0)
    subs = sb.subscription_ids
    with automation_sandbox(sb) as aa:
        aa.publish()
        sb.automation.evictions.append(3)  # as POST /_sandbox/automation/fair-share does: the first child
        env = server_environment(aa.server, tmp_path / "parent.sqlite")
        shared = tmp_path / "shared.sqlite"
        targets = [a for s in subs for a in ("--subscription", s)]
        fanned = run_cli(env, "scan", *targets, "--fan-out", "3", "--automation-account", aa.account_id,
                         "--journal", str(shared), "--poll-seconds", "0.3", "--output", "json")
        single = run_cli(env, "scan", *targets, "--journal", str(tmp_path / "single.sqlite"), "--output", "json",
                         "--no-progress")
        jobs = list(sb.automation.jobs.values())

    assert fanned.returncode == single.returncode == 3, fanned.stderr + single.stderr  # 3: refusals (rails)
    report = json.loads(fanned.stdout)
    one = json.loads(single.stdout)
    children = report["children"]
    assert sorted(c["shard"] for c in children) == ["1/3", "2/3", "3/3"]
    evicted = [c for c in children if c["resubmits"]]
    assert len(evicted) == 1 and len(evicted[0]["jobs"]) == 2, children
    assert all(c["error"] is None and c["exit_code"] in (3, 4) for c in children)
    # The merged fleet report is the single job's, VM for VM.
    merged = report["fleet"]
    assert sorted(map(_key, merged["vms"])) == sorted(map(_key, one["vms"]))
    assert merged["counts"]["by_outcome"] == one["counts"]["by_outcome"]
    assert merged["counts"]["by_error_code"] == one["counts"]["by_error_code"]
    assert merged["discovery"]["candidates"] == one["discovery"]["candidates"] > 10
    assert merged["discovery"]["vms_seen"] == one["discovery"]["vms_seen"] == 60
    assert merged["resumed"]  # the resubmitted child resumed the evicted one's scan
    # The sandbox's side: four jobs, the evicted one Stopped by fair share, the resubmission resumed.
    by_name = {j.name: j for j in jobs}
    assert len(jobs) == 4
    first, again = (by_name[n] for n in evicted[0]["jobs"])
    assert first.status == "Stopped" and first.exception == EVICTED
    assert again.parameters == first.parameters  # same parameters: the same scan key, so it resumes
    assert any("resumed scan" in s.text for s in again.streams)
    assert "evicted by fair share" in fanned.stderr


def test_the_parent_as_a_runbook_job_fans_out_within_the_account(tmp_path: Path) -> None:
    """`--mode scan-fanout` as Automation runs it: the parent is itself a job whose managed identity starts
    the children in the same account."""
    import uuid

    from azure.mgmt.automation.models import JobCreateParameters

    from tests.automation.automation_sandbox import ACCOUNT, GROUP

    sb = Sandbox()
    sb.load("fleet", vms=30, subscriptions=2, vaults=1, mix=ALL_KINDS)
    with automation_sandbox(sb) as aa:
        aa.publish()
        args = ["--mode", "scan-fanout", "--fan-out", "2", "--fan-out-by", "subscription", "--automation-account",
                aa.account_id, *[a for s in sb.subscription_ids for a in ("--subscription", s)],
                "--journal", str(tmp_path / "shared.sqlite"), "--arm-endpoint", aa.server.endpoint,
                "--poll-seconds", "0.3"]
        name = str(uuid.uuid4())
        aa.client.job.create(GROUP, ACCOUNT, name, JobCreateParameters(properties={
            "runbook": {"name": "azbackup-fix"}, "parameters": {f"[PARAMETER {i}]": a for i, a in enumerate(args, 1)}}))
        parent = aa.wait_job(name)
        report = json.loads(aa.client.job.get_output(GROUP, ACCOUNT, name).splitlines()[-1])
        children = [j for j in sb.automation.jobs.values() if j.name != name]
    assert report["mode"] == "scan-fanout" and parent.properties.status == "Failed"  # exit 3: refusals found
    assert [c["status"] for c in report["fanout"]["children"]] == ["Failed", "Failed"]
    assert all(c["error"] is None for c in report["fanout"]["children"]) and len(children) == 2
    assert report["fleet"]["discovery"]["vms_seen"] == 30 and report["fleet"]["discovery"]["candidates"] > 5


def test_the_cli_gives_its_children_the_guest_and_key_vault_settings(tmp_path: Path) -> None:
    sb = guest_firewall_sandbox()
    object_id = "9f1a2b3c-4d5e-4f60-8a7b-0c1d2e3f4a5b"
    with automation_sandbox(sb) as aa:
        aa.publish()
        env = server_environment(aa.server, tmp_path / "parent.sqlite")
        fanned = run_cli(env, "scan", "--subscription", sb.subscription_ids[0], "--fan-out", "1",
                         "--automation-account", aa.account_id, "--journal", str(tmp_path / "shared.sqlite"),
                         "--poll-seconds", "0.3", "--output", "json", "--probe-guest",
                         "--guest-storage-endpoint", "contosodata.blob.core.windows.net",
                         "--backup-service-object-id", object_id)
        [params] = [list(j.parameters.values()) for j in sb.automation.jobs.values()]
    assert fanned.returncode == 3, fanned.stderr  # 3: the COM+ fix needs --allow-guest-changes
    assert "--probe-guest" in params
    assert params[params.index("--guest-storage-endpoint") + 1] == "contosodata.blob.core.windows.net:443"
    assert params[params.index("--backup-service-object-id") + 1] == object_id
    [vm] = [v for v in json.loads(fanned.stdout)["fleet"]["vms"] if v["error_code"] == "ExtensionSnapshotFailedCOM"]
    assert "StorageUnreachableFromGuest" in vm["findings"]
