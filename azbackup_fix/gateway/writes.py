"""The gateway's writes: locks, restore point collections, extensions, VM actions, backup jobs.

A mixin of :class:`~azbackup_fix.gateway.Gateway` (which owns the SDK clients and the read
cache). Every write drops the cached reads it makes stale. Long-running operations are
polled by azure-core's poller, whose sleeps go through the transport (virtual in the sandbox).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import AzureOperationError, NotFoundError
from ..ids import (
    BackupJobRef,
    LockRef,
    ProtectedItemRef,
    ResourceId,
    RestorePointCollectionRef,
    ScopeKind,
    VmRef,
)
from ..models import Lock, ProtectedItem
from ..sdk_imports import SDK_IMPORT_LOCK
from ..waits import wait_until
from .arm_errors import arm_call
from .convert_backup import lock_from_wire, protected_item_from_wire
from .wire import dig, wire

if TYPE_CHECKING:
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
    from azure.mgmt.resource.locks import ManagementLockClient

__all__ = ["GatewayWrites"]


class GatewayWrites:
    """Write operations; mixed into :class:`Gateway`, which provides the clients and cache."""

    subscription_id: str
    locks: ManagementLockClient
    compute: ComputeManagementClient
    backup: RecoveryServicesBackupClient
    _transport: Any
    _cache: dict[tuple[str, ...], Any]
    _cache_lock: threading.RLock

    if TYPE_CHECKING:  # provided by Gateway
        def _check_subscription(self, subscription: str) -> None: ...

    # -- time ----------------------------------------------------------------------------------

    @property
    def sleep(self) -> Callable[[float], None]:
        """The transport's sleep: real time against Azure, virtual time in the sandbox."""
        return self._transport.sleep

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
        with SDK_IMPORT_LOCK:  # sdk_imports.py
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

    # -- compute -------------------------------------------------------------------------------

    def delete_restore_point_collection(self, ref: RestorePointCollectionRef) -> None:
        """Delete a collection and its points, waiting for the LRO.

        A large collection's delete can fail with ``OperationTimedOut`` (raised as
        AzureOperationError with that ``arm_code``); the guide says to retry, which the
        caller decides. A collection already gone is not an error.
        """
        self._check_subscription(ref.subscription_id)
        try:
            with arm_call(f"delete restore point collection {ref.id}"):
                self.compute.restore_point_collections.begin_delete(ref.resource_group, ref.name).result()
        except NotFoundError:
            pass
        finally:
            self._forget(("rpc", ref.resource_group))

    def delete_extension(self, vm: VmRef, name: str) -> None:
        """Uninstall a VM extension by its resource name, waiting for the LRO (it passes through Deleting)."""
        self._check_subscription(vm.subscription_id)
        try:
            with arm_call(f"delete extension {name} of VM {vm.name}"):
                self.compute.virtual_machine_extensions.begin_delete(vm.resource_group, vm.name, name).result()
        except NotFoundError:
            pass

    def extension_definition(self, vm: VmRef, name: str) -> dict[str, Any] | None:
        """What re-creates a VM extension: publisher, type, handler version, public settings, auto upgrade
        and forceUpdateTag, as ARM returns them (protectedSettings are write-only, never returned).
        None when it is gone."""
        self._check_subscription(vm.subscription_id)
        try:
            with arm_call(f"extension {name} of VM {vm.name}"):
                ext = self.compute.virtual_machine_extensions.get(vm.resource_group, vm.name, name)
        except NotFoundError:
            return None
        body = wire(ext)
        props = dig(body, "properties", default={})
        keys = ("publisher", "type", "typeHandlerVersion", "autoUpgradeMinorVersion", "forceUpdateTag", "settings")
        return {"name": body.get("name") or name, "location": body.get("location"),
                **{k: props[k] for k in keys if props.get(k) is not None}}

    def rerun_extension(self, vm: VmRef, name: str, force_update_tag: str) -> str | None:
        """Run a VM extension's handler again with its stored settings (a PATCH with only a new
        ``forceUpdateTag``: public and protected settings stay as they are), waiting for the LRO.
        Returns the extension's provisioning state; a handler that fails again raises
        AzureOperationError (``arm_code`` VMExtensionProvisioningError)."""
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.compute.models import VirtualMachineExtensionUpdate

        self._check_subscription(vm.subscription_id)
        with arm_call(f"re-run extension {name} of VM {vm.name}"):
            done = self.compute.virtual_machine_extensions.begin_update(
                vm.resource_group, vm.name, name, VirtualMachineExtensionUpdate(force_update_tag=force_update_tag),
            ).result()
        return getattr(done, "provisioning_state", None)

    def redeploy_vm(self, vm: VmRef) -> None:
        """Redeploy the VM to a new host (disruptive: it reboots there), waiting for the LRO."""
        self._check_subscription(vm.subscription_id)
        with arm_call(f"redeploy VM {vm.name}"):
            self.compute.virtual_machines.begin_redeploy(vm.resource_group, vm.name).result()

    def reapply_vm(self, vm: VmRef) -> None:
        """Reapply the VM's state (redeploys extensions' goal state; no reboot), waiting for the LRO."""
        self._check_subscription(vm.subscription_id)
        with arm_call(f"reapply VM {vm.name}"):
            self.compute.virtual_machines.begin_reapply(vm.resource_group, vm.name).result()

    def restart_vm(self, vm: VmRef) -> None:
        """Restart the VM (disruptive), waiting for the LRO."""
        self._check_subscription(vm.subscription_id)
        with arm_call(f"restart VM {vm.name}"):
            self.compute.virtual_machines.begin_restart(vm.resource_group, vm.name).result()

    # -- backup --------------------------------------------------------------------------------

    def _forget_jobs(self, ref: ProtectedItemRef) -> None:
        self._forget(("jobs", ref.vault.id), ("items", ref.vault.id))

    def trigger_backup(
        self, item: ProtectedItemRef, expiry: datetime, *, operation_timeout: float = 600.0
    ) -> BackupJobRef:
        """Start an on-demand backup kept until ``expiry``; return the job it created.

        Sent exactly once: the POST is not idempotent, so callers must check for a running
        job first and must not retry it blindly (a retry could start a second backup). The
        SDK's RetryPolicy would resend a POST after 500/503/504 or any Retry-After, so its
        retries are off for this call: the caller checks for the job before trying again.
        The SDK's ``trigger`` returns nothing; the job id comes from polling the operation
        named by the Azure-AsyncOperation (or Location) header.
        """
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.recoveryservicesbackup.models import BackupRequestResource, IaasVMBackupRequest

        request = BackupRequestResource(properties=IaasVMBackupRequest(
            recovery_point_expiry_time_in_utc=expiry))
        v = item.vault
        try:
            with arm_call(f"trigger backup of {item.item_name}"):
                headers = self.backup.backups.trigger(
                    v.name, v.resource_group, item.fabric_name, item.container_name, item.item_name, request,
                    cls=lambda pipeline_response, deserialized, response_headers: dict(
                        pipeline_response.http_response.headers),
                    retry_total=0,
                )
        finally:
            self._forget_jobs(item)
        url = _header(headers or {}, "Azure-AsyncOperation") or _header(headers or {}, "Location") or ""
        op_id = _operation_id(url)
        if op_id is None:
            raise AzureOperationError(f"trigger backup of {item.item_name}: the answer named no operation to poll")

        def read() -> Any:
            with arm_call(f"backup operation {op_id}"):
                return wire(self.backup.protected_item_operation_statuses.get(
                    v.name, v.resource_group, item.fabric_name, item.container_name, item.item_name, op_id))

        status = wait_until(read, lambda s: str(dig(s, "status", default="")).casefold() != "inprogress",
                            timeout=operation_timeout, sleep=self.sleep, what=f"backup operation {op_id}",
                            interval=5.0, max_interval=30.0)
        if str(dig(status, "status")).casefold() != "succeeded":
            code = dig(status, "error", "code")
            message = dig(status, "error", "message", default="the trigger operation failed")
            raise AzureOperationError(f"trigger backup of {item.item_name}: {message}",
                                      arm_code=code or "OperationFailed")
        job_id = dig(status, "properties", "jobId")
        if not job_id:
            raise AzureOperationError(f"trigger backup of {item.item_name}: the operation named no job")
        return BackupJobRef(v, str(job_id).rstrip("/").rsplit("/", 1)[-1])

    def cancel_job(self, ref: BackupJobRef) -> None:
        """Ask the service to cancel a job (only jobs marked cancellable can be); returns when asked."""
        with arm_call(f"cancel backup job {ref.name}"):
            self.backup.job_cancellations.trigger(ref.vault.name, ref.vault.resource_group, ref.name)
        self._forget(("jobs", ref.vault.id))

    def update_protection(
        self, item: ProtectedItemRef, vm: VmRef, *, policy_id: str | None = None, stop_retain_data: bool = False
    ) -> ProtectedItem:
        """Resume protection with ``policy_id``, or stop protection retaining the data (never deletes it).

        A protected item PUT; SDK 11.2 answers with the base ProtectedItem whose ``properties``
        is a dict, read here through the wire form.
        """
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.recoveryservicesbackup.models import ProtectedItemResource

        if stop_retain_data == bool(policy_id):
            raise ValueError("give exactly one of policy_id or stop_retain_data")
        props: dict[str, Any] = {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm.id}
        if stop_retain_data:
            props["protectionState"] = "ProtectionStopped"
        else:
            props["policyId"] = policy_id
        v = item.vault
        try:
            with arm_call(f"update protection of {item.item_name}"):
                result = self.backup.protected_items.begin_create_or_update(
                    v.name, v.resource_group, item.fabric_name, item.container_name, item.item_name,
                    ProtectedItemResource(properties=props),
                ).result()
        finally:
            self._forget_jobs(item)
        data = wire(result)
        if not data.get("id"):
            data["id"] = item.id
        return protected_item_from_wire(data)


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.casefold() == name.casefold()), None)


def _operation_id(url: str) -> str | None:
    for marker in ("/operationsStatus/", "/operationResults/", "/backupOperations/"):
        idx = url.casefold().find(marker.casefold())
        if idx >= 0:
            return url[idx + len(marker):].split("?", 1)[0].strip("/") or None
    return None


def _resource_parts(scope: ResourceId) -> tuple[str, str, str, str]:
    """(provider namespace, parent path, type, name) of a resource scope for the SDK's resource-level calls."""
    assert scope.provider is not None and scope.resources
    *parents, (type_name, name) = scope.resources
    parent = "/".join(f"{t}/{n}" for t, n in parents)
    return scope.provider, parent, type_name, name

