"""Gateway writes through the real SDK clients against the in-process sandbox: locks at every
scope kind (get, delete, put back identical), collection and extension deletes (LRO),
trigger backup with its job id, job cancel, VM actions, protection updates."""

from __future__ import annotations

from typing import Any

import pytest

from azbackup_fix import SandboxCredential
from azbackup_fix.gateway import Gateway
from azbackup_fix.ids import LockRef, ResourceId
from azbackup_fix.models import Lock, LockLevel
from azbackup_sandbox import Sandbox
from azbackup_sandbox.core.control import subscription_ids
from tests.gateway.sandbox_arm import VM_RG, writes


def _gateway(sandbox: Sandbox, **kwargs: Any) -> Gateway:
    kwargs.setdefault("transport", sandbox.transport())
    kwargs.setdefault("polling_interval", 0)
    return Gateway(SandboxCredential(), subscription_ids(sandbox)[0], **kwargs)


def _scopes(sub: str) -> list[ResourceId]:
    return [
        ResourceId(sub),
        ResourceId(sub, VM_RG),
        ResourceId.parse(f"/subscriptions/{sub}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/vm-app-02"),
    ]


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["subscription", "resource-group", "resource"])
def test_lock_round_trip_at_every_scope(kind: int) -> None:
    sandbox = Sandbox(scenario="healthy")
    gateway = _gateway(sandbox)
    scope = _scopes(gateway.subscription_id)[kind]
    lock = Lock(LockRef(scope, "keep-me"), LockLevel.READ_ONLY, notes="owned by ops", owners=("app-1",))
    assert gateway.get_lock(lock.ref) is None
    created = gateway.put_lock(lock)
    assert created == lock and created.notes == "owned by ops" and created.owners == ("app-1",)
    assert gateway.get_lock(lock.ref) == lock
    gateway.delete_lock(lock)
    assert gateway.get_lock(lock.ref) is None
    gateway.delete_lock(lock)  # already gone: the goal is reached, no error
    methods = [r.method for r in writes(sandbox.requests())]
    assert methods == ["PUT", "DELETE", "DELETE"]


def test_lock_writes_invalidate_cached_lists() -> None:
    sandbox = Sandbox(scenario="rp-limit-locked")
    gateway = _gateway(sandbox)
    (lock,) = [lk for lk in gateway.list_resource_group_locks("AzureBackupRG_eastus_1")]
    gateway.delete_lock(lock)
    assert gateway.list_resource_group_locks("AzureBackupRG_eastus_1") == ()
    restored = gateway.put_lock(lock)
    assert restored.level is lock.level and restored.notes == lock.notes
    assert gateway.list_resource_group_locks("AzureBackupRG_eastus_1") == (lock,)
