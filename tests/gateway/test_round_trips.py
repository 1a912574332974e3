"""One VM's diagnosis waits on its reads' dependency depth, not on their number: counted from the HTTPS
sandbox's request log (which requests were in flight together), with a real latency on every request.

A round trip is a link in the longest chain of requests where each was sent after the previous one was
answered; requests in flight together share one. The token is one more (it precedes every ARM request)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azbackup_fix import Remediator, SandboxCredential
from azbackup_fix.gateway import observe_vm
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.sandbox import round_trips

LATENCY_MS = 200  # wide enough that requests sent together overlap even on a busy machine
TOKEN = 1


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=0.0) as running:
        yield running


@pytest.mark.parametrize("scenario", ["rp-limit-locked", "healthy", "failed-vmsnapshot-windows", "rp-limit-custom-rg"])
def test_a_diagnosis_takes_at_most_five_round_trips(server: SandboxServer, scenario: str) -> None:
    server.sandbox.load(scenario)
    sub = server.sandbox.subscription_ids[0]
    server.sandbox.config.update({"latency_ms": (LATENCY_MS, LATENCY_MS)})
    try:
        with Remediator(SandboxCredential(), sub, base_url=server.endpoint, connection_verify=server.ca_file) as fix:
            vm = fix.list_protected_vms()[0]
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
    assert len(concurrent) == report.request_count >= 9
    assert TOKEN + round_trips(concurrent) <= 5, [(r.method, r.path) for r in concurrent]
    # The counter-check: the same reads one after another take one round trip each.
    assert round_trips(sequential) == len(sequential) >= len(concurrent) - 2
    assert sequential_observation.vm_ref == vm
