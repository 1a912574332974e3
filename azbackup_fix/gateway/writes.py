"""The gateway's writes: locks, restore point collections, extensions, VM actions, backup jobs.

A mixin of :class:`~azbackup_fix.gateway.Gateway` (which owns the SDK clients and the read
cache). Every write drops the cached reads it makes stale. Long-running operations are
polled by azure-core's poller, whose sleeps go through the transport (virtual in the sandbox).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from ..ids import LockRef, ResourceId, ScopeKind
from ..models import Lock
from .arm_errors import arm_call
from .convert_backup import lock_from_wire
from .wire import wire

if TYPE_CHECKING:
    from azure.mgmt.resource.locks import ManagementLockClient

__all__ = ["GatewayWrites"]


class GatewayWrites:
    """Write operations; mixed into :class:`Gateway`, which provides the clients and cache."""

    subscription_id: str
    locks: ManagementLockClient
    _cache: dict[tuple[str, ...], Any]
    _cache_lock: threading.RLock

    if TYPE_CHECKING:  # provided by Gateway
        def _check_subscription(self, subscription: str) -> None: ...

    # -- cache ---------------------------------------------------------------------------------

    def _forget(self, *keys: tuple[str, ...]) -> None:
        """Drop cached reads a write made stale (keys folded as :meth:`Gateway._cached` folds them)."""
        with self._cache_lock:
            for key in keys:
                self._cache.pop(tuple(k.casefold() for k in key), None)

    def _forget_lock_lists(self, ref: LockRef) -> None:
        keys: list[tuple[str, ...]] = [("locks",)]
        if ref.resource_group:
            keys.append(("locks", ref.resource_group))
        self._forget(*keys)

    # -- locks ---------------------------------------------------------------------------------

    def _lock_call(self, ref: LockRef, verb: str, *args: Any) -> Any:
        """Call the SDK's ``{verb}_at_{level}`` operation for the lock's scope kind."""
        self._check_subscription(ref.scope.subscription)
        ops = self.locks.management_locks
        scope = ref.scope
        if ref.scope_kind is ScopeKind.SUBSCRIPTION:
            return getattr(ops, f"{verb}_at_subscription_level")(ref.name, *args)
        if ref.scope_kind is ScopeKind.RESOURCE_GROUP:
            return getattr(ops, f"{verb}_at_resource_group_level")(scope.resource_group, ref.name, *args)
        provider, parent, type_name, name = _resource_parts(scope)
        return getattr(ops, f"{verb}_at_resource_level")(
            scope.resource_group, provider, parent, type_name, name, ref.name, *args
        )

    def get_lock(self, ref: LockRef) -> Lock | None:
        """The lock as it is now, or ``None`` when it does not exist."""
        try:
            with arm_call(f"lock {ref.id}"):
                result = self._lock_call(ref, "get")
        except NotFoundError:
            return None
        return lock_from_wire(wire(result))

    def put_lock(self, lock: Lock) -> Lock:
        """Create (or recreate) the lock with its name, scope, level, notes and owners."""
        from azure.mgmt.resource.locks.models import ManagementLockObject, ManagementLockOwner

        body = ManagementLockObject(
            level=lock.level.value,
            notes=lock.notes,
            owners=[ManagementLockOwner(application_id=o) for o in lock.owners] or None,
        )
        with arm_call(f"put lock {lock.ref.id}"):
            result = self._lock_call(lock.ref, "create_or_update", body)
        self._forget_lock_lists(lock.ref)
        data = wire(result)
        return lock_from_wire(data) if data.get("id") else lock

    def delete_lock(self, lock: Lock) -> None:
        """Delete the lock; a lock already gone is not an error (the goal is reached)."""
        try:
            with arm_call(f"delete lock {lock.ref.id}"):
                self._lock_call(lock.ref, "delete")
        except NotFoundError:
            pass
        finally:
            self._forget_lock_lists(lock.ref)


def _resource_parts(scope: ResourceId) -> tuple[str, str, str, str]:
    """(provider namespace, parent path, type, name) of a resource scope for the SDK's resource-level calls."""
    assert scope.provider is not None and scope.resources
    *parents, (type_name, name) = scope.resources
    parent = "/".join(f"{t}/{n}" for t, n in parents)
    return scope.provider, parent, type_name, name

