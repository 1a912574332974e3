"""Each SDK client of a gateway has a pipeline of its own: an azure-core HTTPPolicy keeps its pipeline's
``next``, so one retry policy shared by the clients sent compute's requests down whichever pipeline was
built last, and into one another thread was still building (CI: ``'_SansIOHTTPPolicyRunner' object has no
attribute 'next'`` in a fleet-style run on Python 3.10)."""

from __future__ import annotations

import threading
from typing import Any

from azbackup_fix import SandboxCredential
from azbackup_fix.gateway import Gateway
from azbackup_fix.gateway.network import _client as network_client
from azbackup_fix.gateway.policies import CappedRetryPolicy
from azbackup_sandbox import Sandbox
from azbackup_sandbox.core.control import subscription_ids
from tests.gateway.sandbox_arm import Target


def _chain(client: Any) -> list[Any]:
    """The policies a request passes through, from the pipeline's first node to its transport runner."""
    node = client._client._pipeline._impl_policies[0]
    chain = [node]
    while hasattr(node, "next") and node.next is not None:
        node = node.next
        chain.append(node)
    return chain


def test_every_client_sends_down_its_own_pipeline() -> None:
    sandbox = Sandbox(scenario="healthy")
    gateway = Gateway(SandboxCredential(), subscription_ids(sandbox)[0], transport=sandbox.transport())
    clients = [gateway.compute, gateway.backup, gateway.locks, gateway.resources, network_client(gateway)]
    chains = [_chain(c) for c in clients]
    for client, chain in zip(clients, chains, strict=True):
        assert chain[:-1] == client._client._pipeline._impl_policies  # the walk stays in this pipeline
        assert any(isinstance(p, CappedRetryPolicy) for p in chain)  # our retry cap on every client
    policies = [id(p) for chain in chains for p in chain[:-1]]
    assert len(policies) == len(set(policies))  # no policy object serves two pipelines


def test_clients_built_in_parallel_all_answer() -> None:
    sandbox = Sandbox(scenario="healthy")
    gateway = Gateway(SandboxCredential(), subscription_ids(sandbox)[0], transport=sandbox.transport())
    vm = Target(sandbox).vm()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def read(what: str) -> None:
        start.wait()
        try:
            if what == "vm":
                gateway.get_vm(vm)
            elif what == "locks":
                gateway.compute  # noqa: B018  (built concurrently with the others)
                gateway.locks.management_locks.list_at_subscription_level().next()
            else:
                getattr(gateway, what)  # built while the others send
        except StopIteration:
            pass
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(w,)) for w in ("vm", "locks", "backup", "resources")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {r.operation.split("_")[0] for r in sandbox.requests()} >= {"VirtualMachines", "ManagementLocks"}
