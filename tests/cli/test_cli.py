"""The azbackup-fix CLI through its real entry point: in-process ``main([...])`` with
``--sandbox``, over the HTTPS sandbox server with ``--arm-endpoint`` (in-process and as a
subprocess with REQUESTS_CA_BUNDLE and a managed identity), outputs, exit codes, bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.control import MANAGED_IDENTITY_OBJECT_ID, subscription_ids
from tests.gateway.sandbox_arm import BROKEN, NEIGHBOUR, VM_RG, writes

SUB = subscription_ids(Sandbox(scenario="healthy"))[0]
REPO = Path(__file__).resolve().parents[2]


def vm_id(name: str = BROKEN, subscription: str = SUB) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{name}"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZBACKUP_ARM_ENDPOINT", "AZBACKUP_SUBSCRIPTION", "AZURE_SUBSCRIPTION_ID", "GITHUB_STEP_SUMMARY",
                 "AZBACKUP_CLOUD"):
        monkeypatch.delenv(name, raising=False)


# -- in-process sandbox ----------------------------------------------------------------------------

def test_text_report_reads_like_a_diagnosis() -> None:
    code, out, err = run("diagnose", "--sandbox", "rp-limit-locked", "--vm", vm_id())
    assert code == 4 and err == ""
    assert out.startswith("vm-app-01 (resource group rg-app-prod): 2 problems found")
    assert "[ERROR] UserErrorRpCollectionLimitReached" in out
    assert "- restore points: 18" in out and "lock: " in out
    assert "Fix: playbook clear-restore-point-limit" in out
    assert "What will fix it, in order: clear-restore-point-limit" in out
    assert "(12 ARM requests, read-only)" in out
    # In the guides' order: the limit before the lock that causes it.
    assert out.index("UserErrorRpCollectionLimitReached") < out.index("RestorePointResourceGroupLocked")


def test_healthy_vm_exits_zero() -> None:
    code, out, _ = run("diagnose", "--sandbox", "healthy", "--vm", vm_id(NEIGHBOUR))
    assert code == 0 and "healthy: nothing wrong with its backup" in out


@pytest.mark.parametrize(
    ("scenario", "code_expected"),
    [
        ("rp-limit-custom-rg", "UserErrorRpCollectionLimitReached"),
        ("failed-vmsnapshot-windows", "BackupExtensionFailed"),
        ("failed-vmsnapshot-linux", "BackupExtensionFailed"),
        ("agent-not-ready", "UserErrorGuestAgentStatusUnavailable"),
        ("backup-in-progress", "UserErrorBackupOperationInProgress"),
        ("protection-stopped", "UserErrorBcmDatasourceNotPresent"),
        ("disk-too-large", "UserErrorUnsupportedDiskSize"),
        ("vm-deleted", "VmNotFoundButProtected"),
    ],
)
def test_json_per_scenario(scenario: str, code_expected: str) -> None:
    code, out, _ = run("diagnose", "--sandbox", scenario, "--vm", vm_id(), "--output", "json")
    report = json.loads(out)
    assert code == 4
    assert report["schema"] == "azbackup-fix/diagnosis/v1"
    assert code_expected in [f["code"] for f in report["findings"]]
    assert report["request_count"] > 0 and report["summary"]["error"] >= 1


def test_deallocated_vm_is_context_not_a_failure() -> None:
    """Azure backs a deallocated VM up offline (crash-consistent): its jobs succeed, so the diagnosis
    notes the power state (info: not application-consistent) and exits 0."""
    code, out, _ = run("diagnose", "--sandbox", "vm-deallocated", "--vm", vm_id(), "--output", "json")
    report = json.loads(out)
    assert code == 0
    (finding,) = [f for f in report["findings"] if f["code"] == "VmNotRunning"]
    assert finding["severity"] == "info" and "not application-consistent" in finding["title"]
    assert report["summary"]["error"] == 0


def test_common_options_before_or_after_the_command() -> None:
    before = run("--output", "json", "--sandbox", "healthy", "diagnose", "--vm", vm_id())
    after = run("diagnose", "--vm", vm_id(), "--sandbox", "healthy", "--output", "json")
    assert before[0] == after[0] == 0
    strip = lambda text: {k: v for k, v in json.loads(text).items() if k != "generated_at"}  # noqa: E731
    assert strip(before[1]) == strip(after[1])


def test_every_protected_vm_of_a_sandbox_without_vm() -> None:
    code, out, _ = run("diagnose", "--sandbox", "demo", "--output", "json")
    reports = json.loads(out)
    assert code == 4 and isinstance(reports, list) and len(reports) == 5
    names = {r["target"].rsplit("/", 1)[1] for r in reports}
    assert names == {"vm-sql-01", "vm-web-01", "vm-api-01", "vm-files-01", "vm-dc-01"}


def test_repeated_vm_gives_a_json_array() -> None:
    code, out, _ = run("diagnose", "--sandbox", "healthy", "--vm", vm_id(), "--vm", vm_id(NEIGHBOUR), "-o", "json")
    assert code == 0 and [r["target"] for r in json.loads(out)] == [vm_id(), vm_id(NEIGHBOUR)]


def test_markdown_and_github_step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = run("diagnose", "--sandbox", "failed-vmsnapshot-linux", "--vm", vm_id(), "--output", "markdown")
    assert code == 4
    assert out.startswith("## Azure VM Backup diagnosis")
    assert "| VM | Resource group | Status | Playbooks |" in out and "`reinstall-backup-extension`" in out
    assert "<details><summary>Evidence for BackupExtensionFailed</summary>" in out
    assert summary.read_text(encoding="utf-8").startswith("## Azure VM Backup diagnosis")


def test_demo_runs_fast_and_exits_zero() -> None:
    code, out, err = run("demo")
    assert code == 0 and err == ""
    assert "Result: 5 of 5 VMs back up successfully after the run" in out
    for name in ("vm-sql-01", "vm-web-01", "vm-api-01", "vm-files-01", "vm-dc-01"):
        assert name in out


def test_help_lists_commands() -> None:
    code, out, _ = run("--help")
    assert code == 0


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("argv", "expected_code", "message"),
    [
        (["diagnose", "--sandbox", "healthy", "--vm", "/subscriptions/x"], 2, "is not a GUID"),
        (["diagnose", "--sandbox", "healthy", "--vm", "vm-app-01"], 2, "must start with '/subscriptions/'"),
        (["diagnose", "--sandbox", "healthy", "--vm", vm_id("vm-nope")], 2, "does not exist"),
        (["diagnose", "--sandbox", "healthy", "--vm", vm_id(), "--subscription",
          "00000000-0000-0000-0000-000000000001"], 2, "not in --subscription"),
        (["diagnose", "--sandbox", "healthy", "--vm", vm_id(subscription="00000000-0000-0000-0000-000000000001")],
         2, "could not be found"),
        (["diagnose", "--sandbox", "no-such-scenario"], 2, "unknown scenario"),
        (["diagnose", "--sandbox", "healthy", "--arm-endpoint", "https://x.example"], 2, "exclude each other"),
        (["diagnose", "--arm-endpoint", "http://127.0.0.1:1"], 2, "must be an https:// URL"),
        (["diagnose", "--output", "yaml"], 2, "invalid choice"),
    ],
)
def test_bad_input_is_one_line_without_traceback(argv: list[str], expected_code: int, message: str) -> None:
    code, out, err = run(*argv)
    assert code == expected_code
    assert message in err and "Traceback" not in err
    assert out == ""


def test_debug_shows_the_traceback() -> None:
    code, _, err = run("diagnose", "--sandbox", "healthy", "--vm", vm_id("vm-nope"), "--debug")
    assert code == 2 and "Traceback" in err and "VmNotFoundError" in err


def test_one_bad_vm_does_not_hide_the_others() -> None:
    code, out, err = run("diagnose", "--sandbox", "healthy", "--vm", vm_id("vm-nope"), "--vm", vm_id(), "-o", "json")
    assert code == 2 and "vm-nope" in err
    assert [r["target"] for r in json.loads(out)] == [vm_id()]


# -- over the HTTPS sandbox server --------------------------------------------------------------------

@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=0.0) as running:
        yield running


@pytest.fixture
def https_env(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What a CI job sets: the endpoint, the CA bundle and a managed identity (as Azure Automation)."""
    env = {
        "AZBACKUP_ARM_ENDPOINT": server.endpoint,
        "REQUESTS_CA_BUNDLE": server.ca_file,
        "IDENTITY_ENDPOINT": server.identity_endpoint,
        "IDENTITY_HEADER": server.identity_header,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with server.sandbox.lock:
        server.sandbox.rbac.principals.clear()
        server.sandbox.config.rbac = server.sandbox.rbac.enforce = False
    return env


def test_arm_endpoint_in_process_with_managed_identity(server: SandboxServer, https_env: dict[str, str]) -> None:
    server.sandbox.load("rp-limit-locked")
    code, out, err = run("diagnose", "--arm-endpoint", server.endpoint, "--vm", vm_id(), "--output", "json")
    assert code == 4, err
    assert "UserErrorRpCollectionLimitReached" in [f["code"] for f in json.loads(out)["findings"]]
    log = server.sandbox.requests()
    assert writes(log) == [] and {r.principal for r in log} == {MANAGED_IDENTITY_OBJECT_ID}


def test_permission_denied_exits_three(server: SandboxServer, https_env: dict[str, str]) -> None:
    server.sandbox.load("healthy")
    with server.sandbox.lock:
        server.sandbox.config.rbac = server.sandbox.rbac.enforce = True
        server.sandbox.rbac.assign(MANAGED_IDENTITY_OBJECT_ID, actions=("Microsoft.Compute/*/read",))
    code, out, err = run("diagnose", "--vm", vm_id())  # endpoint from AZBACKUP_ARM_ENDPOINT
    assert code == 3 and out == ""
    assert "permission denied: missing 'Microsoft.Resources/subscriptions/resources/read'" in err
    assert err.count("\n") == 1 and writes(server.sandbox.requests()) == []


def test_vault_missing_exits_two(server: SandboxServer, https_env: dict[str, str]) -> None:
    server.sandbox.load("healthy")
    with server.sandbox.lock:
        server.sandbox.backup.vaults.clear()  # the vault is gone; its items still answer backupStatus
    code, _, err = run("diagnose", "--vm", vm_id())
    assert code == 2 and "which does not exist" in err
    assert writes(server.sandbox.requests()) == []


def test_console_module_as_a_subprocess(server: SandboxServer, https_env: dict[str, str]) -> None:
    server.sandbox.load("backup-in-progress")
    env = {**os.environ, **https_env, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "azbackup_fix.cli", "diagnose", "--arm-endpoint", server.endpoint,
         "--vm", vm_id(), "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert result.returncode == 4, result.stderr
    report = json.loads(result.stdout)
    assert "UserErrorBackupOperationInProgress" in [f["code"] for f in report["findings"]]
    assert report["request_count"] == len([r for r in server.sandbox.requests() if r.path != "/_sandbox/identity"])
