"""The way users run it, in separate processes over the HTTPS sandbox server (`azbackup-sandbox
serve`): the installed CLI (diagnose -> apply --yes -> fixed) and the Automation runbook with the real
ManagedIdentityCredential, both authenticated by the sandbox's managed-identity endpoint
(IDENTITY_ENDPOINT / IDENTITY_HEADER) and restricted by RBAC to the shipped operator role. Unchanged
code: only environment and endpoint settings point it at the sandbox. State is read through
`GET /_sandbox/state`; the virtual clock is moved with `POST /_sandbox/clock`."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox_cli import cli_environment, run_cli

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SANDBOX = BIN / "azbackup-sandbox"
ROLE = json.loads((REPO / "examples/rbac/azbackup-fix-operator.json").read_text(encoding="utf-8"))
MANAGED_IDENTITY = "6d3a6f1e-2b1c-4f8e-9a51-5a4db0c0ffee"  # the sandbox's Automation identity
LOCK = "/resourceGroups/AzureBackupRG_eastus_1/providers/Microsoft.Authorization/locks/rg-no-delete"


class Server:
    def __init__(self, ready: dict[str, Any]) -> None:
        self.ready = ready
        self.endpoint: str = ready["endpoint"]
        self.subscription: str = ready["subscription_ids"][0]
        self._ssl = ssl.create_default_context(cafile=ready["ca_file"])

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self._ssl, timeout=60) as answer:
            return json.loads(answer.read())

    def state(self) -> dict[str, Any]:
        return self.call("GET", "/_sandbox/state")["resources"]

    def vm_id(self, name: str) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/rg-app-prod/providers/"
                f"Microsoft.Compute/virtualMachines/{name}")

    def env(self, tmp: Path) -> dict[str, str]:
        return cli_environment(endpoint=self.endpoint, ca_file=self.ready["ca_file"],
                               identity_endpoint=self.ready["identity_endpoint"],
                               identity_header=self.ready["identity_header"], journal=tmp / "journal.sqlite")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ready_file = tmp_path_factory.mktemp("sandbox") / "ready.json"
    process = subprocess.Popen([str(SANDBOX), "serve", "--scenario", "demo", "--ready-file", str(ready_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""  # the ready line: blocks until serving
        assert line, process.stderr.read() if process.stderr else "no ready line"
        yield Server(json.loads(line))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
def demo(server: Server) -> Server:
    server.call("POST", "/_sandbox/load?scenario=demo")
    server.call("POST", "/_sandbox/config", {"rbac": True})
    server.call("POST", "/_sandbox/rbac", {"object_id": MANAGED_IDENTITY, "actions": ROLE["Actions"]})
    server.call("DELETE", "/_sandbox/requests")
    return server


def _writes(server: Server) -> list[dict[str, Any]]:
    # backupStatus and the network path's effective rules/routes and Network Watcher verdicts are POSTs that only read
    from azbackup_fix.gateway.policies import READ_ONLY_POSTS

    return [r for r in server.call("GET", "/_sandbox/requests")
            if r["method"] != "GET" and not r["path"].lower().endswith(READ_ONLY_POSTS)]


def test_cli_diagnose_apply_then_backups_succeed(demo: Server, tmp_path: Path) -> None:
    env = demo.env(tmp_path)
    sql, web = demo.vm_id("vm-sql-01"), demo.vm_id("vm-web-01")

    found = run_cli(env, "diagnose", "--vm", sql, "--vm", web, "--output", "json")
    assert found.returncode == 4, found.stderr
    codes = {d["target"]: {f["code"] for f in d["findings"]} for d in json.loads(found.stdout)}
    assert "UserErrorRpCollectionLimitReached" in codes[sql] and "BackupExtensionFailed" in codes[web]
    assert _writes(demo) == []  # diagnose only reads

    applied = run_cli(env, "apply", "--yes", "--no-wait", "--vm", sql, "--vm", web, "--output", "json",
                   "--check-permissions", str(REPO / "examples/rbac/azbackup-fix-operator.json"))
    assert applied.returncode == 0, applied.stderr + applied.stdout
    reports = {r["target"]: r for r in json.loads(applied.stdout)}
    assert [s["step"] for p in reports[sql]["playbooks"] for s in p["steps"]] == [
        "delete-lock", "delete-restore-point-collection", "trigger-backup", "restore-lock"]
    assert all(s["status"] == "changed" for r in reports.values() for p in r["playbooks"] for s in p["steps"])
    jobs = {r["target"]: s["detail"]["job_id"] for r in reports.values() for p in r["playbooks"]
            for s in p["steps"] if s["step"] == "trigger-backup"}

    demo.call("POST", "/_sandbox/clock?advance=7200")  # the triggered jobs run to completion
    state = demo.state()
    assert [r for r in demo.call("GET", "/_sandbox/requests") if r["status"] == 403] == []
    statuses = {j["id"].rsplit("/", 1)[-1]: j["status"] for j in state["backup"]["jobs"]}
    assert statuses[jobs[sql]] == "Completed" and statuses[jobs[web]] == "Completed"
    (lock,) = state["locks"]  # put back, identical
    assert lock["id"].endswith(LOCK) and lock["level"] == "CanNotDelete"
    sql_points = [c["restorePoints"] for c in state["compute"]["restorePointCollections"]
                  if c["sourceId"].casefold() == sql.casefold()]
    assert sum(len(p) for p in sql_points) == 1  # the 18 old points are gone; the new backup added one
    vm = next(v for v in state["compute"]["virtualMachines"] if v["id"].casefold() == web.casefold())
    snapshot = next(e for e in vm["extensions"] if e["type"] == "VMSnapshot")
    assert snapshot["provisioningState"] == "Succeeded"  # reinstalled by the backup

    again = run_cli(env, "plan", "--vm", sql, "--vm", web, "--output", "json")
    assert again.returncode == 0, again.stdout  # nothing left to do
    assert all(not p["steps"] for r in json.loads(again.stdout) for p in r["playbooks"])


def test_check_permissions_stops_before_any_change(demo: Server, tmp_path: Path) -> None:
    role = tmp_path / "contributor.json"
    role.write_text(json.dumps({"Actions": ["*"], "NotActions": ["Microsoft.Authorization/*/Delete",
                                                                 "Microsoft.Authorization/*/Write"]}))
    result = run_cli(demo.env(tmp_path), "apply", "--yes", "--vm", demo.vm_id("vm-sql-01"),
                  "--check-permissions", str(role))
    assert result.returncode == 3
    assert "Microsoft.Authorization/locks/delete" in result.stdout and "nothing was changed" in result.stdout
    assert _writes(demo) == []
    assert len(demo.state()["locks"]) == 1


def _runbook(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = subprocess.run([sys.executable, "-m", "azbackup_fix.runbook", *args], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    assert all(line.startswith(("VERBOSE: ", "WARNING: ", "ERROR: ")) for line in lines[:-1]), lines
    return result, json.loads(lines[-1])


def test_runbook_with_managed_identity_repairs_the_extension(demo: Server, tmp_path: Path) -> None:
    env = demo.env(tmp_path)
    env.pop("AZBACKUP_ARM_ENDPOINT")  # the runbook gets it as a parameter instead
    web = demo.vm_id("vm-web-01")
    result, report = _runbook(env, "--subscription", demo.subscription, "--mode", "diagnose",
                              "--arm-endpoint", demo.endpoint)
    assert result.returncode == 4 and report["schema"] == "azbackup-fix/runbook/v1"
    assert len(report["diagnoses"]) == 5 and "WARNING: vm-web-01: BackupExtensionFailed" in result.stdout

    result, report = _runbook(env, "--subscription", demo.subscription, "--vm", web, "--mode", "apply",
                              "--no-wait", "--arm-endpoint", demo.endpoint)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = report["runs"]
    assert [s["step"] for p in run["playbooks"] for s in p["steps"]] == ["delete-extension", "trigger-backup"]
    demo.call("POST", "/_sandbox/clock?advance=7200")
    state = demo.state()
    vm = next(v for v in state["compute"]["virtualMachines"] if v["id"].casefold() == web.casefold())
    assert next(e for e in vm["extensions"] if e["type"] == "VMSnapshot")["provisioningState"] == "Succeeded"
    requests = demo.call("GET", "/_sandbox/requests")
    assert {r["principal"] for r in requests} == {MANAGED_IDENTITY}  # the token came from the identity endpoint
    assert [r for r in requests if r["status"] == 403] == []
    assert "access_token" not in result.stdout + result.stderr


def test_runbook_bad_input_is_one_error_line_and_exit_2(demo: Server, tmp_path: Path) -> None:
    result, report = _runbook(demo.env(tmp_path), "--subscription", demo.subscription, "--vm", "not-an-id")
    assert result.returncode == 2 and report["exit_code"] == 2
    assert result.stderr.startswith("ERROR: ") and _writes(demo) == []


def test_runbook_scan_modes_find_fix_and_resume_a_fleet(server: Server, tmp_path: Path) -> None:
    loaded = server.call("POST", "/_sandbox/load?scenario=fleet-small")
    server.call("POST", "/_sandbox/config", {"rbac": True})
    server.call("POST", "/_sandbox/rbac", {"object_id": MANAGED_IDENTITY, "actions": ROLE["Actions"]})
    server.call("DELETE", "/_sandbox/requests")
    env = server.env(tmp_path)
    subs = [a for s in loaded["subscription_ids"] for a in ("--subscription", s)]

    result, report = _runbook(env, "--mode", "scan", *subs)
    fleet = report["fleet"]
    # 3: some fixes need a guard rail not given (a stuck job's cancel, an agent's restart), named per VM.
    assert result.returncode == 3 == report["exit_code"] and fleet["schema"] == "azbackup-fix/fleet/v1"
    assert fleet["discovery"]["source"] == "resource-graph" and fleet["discovery"]["vms_seen"] == 300
    needs_fix = fleet["counts"]["by_outcome"]["needs-fix"]
    assert needs_fix > 0 and result.stdout.count("WARNING: ") == len(fleet["vms"])
    assert "VERBOSE: diagnose: " in result.stdout
    assert [r for r in _writes(server) if r["operation"] != "ResourceGraph_Resources"] == []  # queries only read

    locks_before = sorted(lk["id"] for lk in server.state()["locks"])
    result, report = _runbook(env, "--mode", "scan-apply", "--no-wait", *subs)
    by_outcome = {o: {v["vm"] for v in report["fleet"]["vms"] if v["outcome"] == o}
                  for o in report["fleet"]["counts"]["by_outcome"]}
    assert by_outcome["fixed"] and "needs-fix" not in by_outcome, result.stdout
    # Stuck jobs are not waited for with --no-wait: those VMs are left for a later run.
    stuck = {v["vm"] for v in report["fleet"]["vms"] if v["error_code"] == "UserErrorBackupOperationInProgress"}
    assert stuck and not stuck & by_outcome["fixed"]
    assert [r for r in server.call("GET", "/_sandbox/requests") if r["status"] == 403] == []
    assert sorted(lk["id"] for lk in server.state()["locks"]) == locks_before  # removed once, put back

    server.call("POST", "/_sandbox/clock?advance=7200")  # the triggered backups complete
    result, report = _runbook(env, "--mode", "scan", *subs)
    still = {v["vm"] for v in report["fleet"]["vms"] if v["outcome"] == "needs-fix"}
    refused = {v["vm"] for v in report["fleet"]["vms"] if v["outcome"] == "refused"}
    # The stuck jobs' cancel needs --allow-disruptive (named); the rest is fixed or needs the guest.
    assert still == set() and stuck <= refused, result.stdout
    result, report = _runbook(env, "--mode", "scan", "--vm", server.vm_id("x"), *subs)
    assert result.returncode == 2 and "--vm does not go with the scan modes" in result.stderr
