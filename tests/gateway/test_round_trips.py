"""One VM's diagnosis waits on its reads' dependency depth, not on their number: counted from the HTTPS
sandbox's request log (which requests were in flight together), with a real latency on every request.

A round trip is a link in the longest chain of requests where each was sent after the previous one was
answered; requests in flight together share one. The token is one more (it precedes every ARM request)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbackup_fix import Remediator, SandboxCredential
from azbackup_fix.gateway import observe_vm
from azbackup_fix.ids import VmRef
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.sandbox import round_trips

ESTATES = Path(__file__).resolve().parents[2] / "azbackup_sandbox" / "estates"

LATENCY_MS = 200  # wide enough that requests sent together overlap even on a busy machine
TOKEN = 1


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=0.0) as running:
        yield running


def _diagnosed_both_ways(server: SandboxServer, vm: VmRef | None = None) -> tuple[VmRef, Any, list[Any], Any, list[Any]]:
    """With latency on every request: the VM (the first protected one unless given), its diagnosis with
    the requests it sent (reads in waves), then its observation read one by one and those requests."""
    sub = server.sandbox.subscription_ids[0]
    server.sandbox.config.update({"latency_ms": (LATENCY_MS, LATENCY_MS)})
    try:
        with Remediator(SandboxCredential(), sub, base_url=server.endpoint, connection_verify=server.ca_file,
                        polling_interval=0) as fix:
            vm = vm or fix.list_protected_vms()[0]
            fix.diagnose(vm)  # opens the connection pool: TLS handshakes are not ARM round trips
            server.sandbox.clear_requests()
            report = fix.diagnose(vm)
            concurrent = server.sandbox.requests()
            server.sandbox.clear_requests()
            fix.gateway.invalidate()
            sequential_observation = observe_vm(fix.gateway, vm, concurrent=False)
            sequential = server.sandbox.requests()
    finally:
        server.sandbox.config.update({"latency_ms": (0, 0)})
    return vm, report, concurrent, sequential_observation, sequential


@pytest.mark.parametrize("scenario", ["rp-limit-locked", "healthy", "failed-vmsnapshot-windows", "rp-limit-custom-rg"])
def test_a_diagnosis_takes_at_most_five_round_trips(server: SandboxServer, scenario: str) -> None:
    server.sandbox.load(scenario)
    vm, report, concurrent, sequential_observation, sequential = _diagnosed_both_ways(server)
    assert len(concurrent) == report.request_count >= 9
    assert TOKEN + round_trips(concurrent) <= 5, [(r.method, r.path) for r in concurrent]
    # The counter-check: the same reads one after another take one round trip each.
    assert round_trips(sequential) == len(sequential) >= len(concurrent) - 2
    assert sequential_observation.vm_ref == vm


def _encrypted_network_estate() -> dict[str, Any]:
    """network-nic-nsg-deny-internet with vm-app-01 also encrypted with ADE (BEK and KEK): its diagnosis
    reads the network path (the job failed with ExtensionSnapshotFailedNoNetwork) and the Key Vault."""
    estate = yaml.safe_load((ESTATES / "network-nic-nsg-deny-internet.yaml").read_text())
    sub = estate["subscriptions"][0]
    sub["keyVaults"] = [{"name": "kv-app-ade", "resourceGroup": "rg-app-prod",
                         "accessPolicies": [{"principal": "BackupManagementService",
                                             "permissions": {"keys": ["Get", "List", "UnwrapKey"],
                                                             "secrets": ["Get", "List"]}}]}]
    vm = next(v for v in sub["vms"] if v["name"] == "vm-app-01")
    vm["osDisk"]["encryptionSettings"] = {"keyVault": "kv-app-ade", "keyEncryptionKey": True}
    return estate


def test_the_deep_checks_run_in_waves_beside_the_rest(server: SandboxServer) -> None:
    server.sandbox.load_estate(_encrypted_network_estate())
    sub = server.sandbox.subscription_ids[0]
    vm = VmRef.parse(f"/subscriptions/{sub}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/"
                     "virtualMachines/vm-app-01")
    _, report, concurrent, observation, sequential = _diagnosed_both_ways(server, vm)
    codes = {f.code for f in report.findings}
    assert "StorageOutboundDenied" in codes, codes
    assert observation.network is not None and observation.network.readable
    assert observation.network.flow is not None and observation.key_vault is not None
    assert observation.key_vault.vaults and observation.key_vault.principal_object_id
    deep = [r for r in concurrent if "/microsoft.network/" in r.path.lower() or
            "/microsoft.keyvault/" in r.path.lower() or r.path.lower().startswith("/v1.0/")]
    assert len(deep) >= 10, [(r.method, r.path) for r in concurrent]
    # The same reads one after another: one round trip each; in waves, a fraction of that.
    assert round_trips(sequential) == len(sequential) >= len(concurrent) - 2
    waves = round_trips(concurrent)
    assert TOKEN + waves <= 8, sorted((r.received_at, r.method, r.path) for r in concurrent)
