"""Issue 14's Linux probes and the storage check end to end: the installed CLI over the HTTPS sandbox
(managed identity, REQUESTS_CA_BUNDLE) reads a Linux guest whose SELinux denies waagent through Run
Command, the probe script running for real against the guest's fake root, and tests the storage endpoint
given in the environment on 443 through the NSG the sandbox models (a subnet NSG denying storage)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azbackup_sandbox import Sandbox, SandboxServer
from tests.sandbox_cli import run_cli, server_environment

pytestmark = pytest.mark.e2e

FAST = 1e3  # the virtual clock: Run Command's ~30 s costs little real time
SUB = "a8383246-6edc-5168-a99f-ca020b3b8fc5"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/vm-app-01"


def _findings(env: dict[str, str]) -> dict[str, dict]:
    done = run_cli(env, "diagnose", "--vm", VM, "--probe-guest", "--output", "json", timeout=240)
    assert done.returncode == 4, done.stderr
    return {f["code"]: f for f in json.loads(done.stdout)["findings"]}


def test_linux_probe_over_https(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(scenario="guest-linux-selinux-denials"), clock_rate=FAST) as server:
        env = server_environment(server, tmp_path / "journal.sqlite")
        found = _findings(env)
        runs = [r for r in server.sandbox.requests() if "RunCommand" in r.operation]
    assert found["SELinuxDeniesAgent"]["evidence_fields"]["guest_waagent_denials"] == 2
    assert found["StorageReachabilityNotChecked"]["severity"] == "info"
    assert [r for r in runs if r.operation.endswith("CreateOrUpdate")]


def test_storage_endpoint_from_the_environment_over_https(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(scenario="network-subnet-nsg-deny-storage"), clock_rate=FAST) as server:
        env = server_environment(server, tmp_path / "journal.sqlite")
        env["AZBACKUP_GUEST_STORAGE_ENDPOINT"] = "contosodata.blob.core.windows.net"
        found = _findings(env)
    unreachable = found["StorageUnreachableFromGuest"]["evidence_fields"]
    assert unreachable["guest_unreachable_endpoint"] == "contosodata.blob.core.windows.net:443"
    assert "StorageOutboundDenied" in found
