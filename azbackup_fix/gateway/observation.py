"""Gather one VM's :class:`~azbackup_fix.models.VmObservation` with as few ARM requests as possible, in
as few round trips as their dependencies allow.

Round trips (``concurrent=True``, the default; measured in tests/gateway/test_round_trips.py): the VM,
the vaults, the subscription's locks, its collection index and the VM's jobs start together; once the VM
answers, ``backupStatus`` beside the VM's item in the vaults of its region (the item's name follows from
the VM's), the VM group's and the default restore-point groups' locks; then the policy. Three ARM round
trips for the usual estate, four for a custom restore-point group. What is read:

1. the VM with its instance view (extensions included);
2. the subscription's vaults (one list) — to find other vaults' jobs, and the vault of a deleted VM;
3. ``backupStatus`` for the VM (which vault, item and policy), then the protected item and its policy
   (given a ``vault_hint`` whose item actively protects the VM, that item alone: no ``backupStatus``);
   when ``backupStatus`` is denied (the Reader role: it is a POST action), each vault's list of Azure VM
   items (one list per vault, cached), the VM's item picked by its VM id, then that item;
4. the resource groups (one list), to find the restore-point groups the policy names;
5. collections: one subscription-wide list (any group: the default pattern, the policy's
   custom groups, the VM's own group in the older layout), then a GET with its points only for
   this VM's collections; locks: subscription, VM group, each restore-point group and each group
   holding one of this VM's collections;
6. one job list per vault, the VM's jobs picked client-side; job details only when the
   latest failed job came without its error details;
7. Policy Insights' ``policyStates`` (one POST), only when that job failed with
   UserErrorRequestDisallowedByPolicy: which Deny assignments govern resource groups.
8. only for an encrypted VM (or a Key Vault failure): its managed disks, the Backup Management Service
   principal in Microsoft Graph, and its Key Vaults (gateway/keyvault_observation.py);
9. only when the failed job points at the network path: the NIC, its effective rules and routes, the
   region's service tags, the VNet's DNS and Network Watcher's verdicts (gateway/network.py).

The deep checks (8, 9, 7) run in the same waves: Key Vault's reads start when the VM model says it is
encrypted (else once the failed job names Key Vault), Policy Insights and the network path once the
latest failure is known, beside the policy -> restore-point groups' locks chain; inside each, independent
reads go out together. Guest probes are not read here (opt-in, long, and an ARM write: guest/).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..errors import PermissionDeniedError, VaultNotFoundError, VmNotFoundError, VmNotProtectedError
from ..ids import BackupPolicyRef, ProtectedItemRef, RestorePointRgNaming, VaultRef, VmRef, normalize_region
from ..models import (
    BackupJob,
    BackupPolicy,
    BackupStatus,
    Lock,
    ProtectedItem,
    RestorePointCollection,
    VirtualMachine,
    VmObservation,
)
from ..models.policy import PolicyState
from .gateway import Gateway, VaultInfo
from .keyvault_observation import encryption_hinted, observe_key_vault

__all__ = ["NETWORK_PATH_CODES", "observe_vm", "points_at_network", "shared_reads"]

T = TypeVar("T")
_READERS = 8  # one VM's reads in flight at once: its widest wave (lists, locks, jobs of a few vaults)
_SPECULATIVE_VAULTS = 2  # item reads started before backupStatus answers; more vaults in a region: wait for it


class _Items:
    """Protected item reads of one observation, each asked once (404 remembered as ``None``); a read may
    be started ahead (``prefetch``), and asking for it then waits for that read."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.read: dict[ProtectedItemRef, Future[ProtectedItem | None]] = {}

    def prefetch(self, pool: Any, ref: ProtectedItemRef) -> None:
        if ref not in self.read:
            self.read[ref] = pool.submit(self.gateway.find_protected_item, ref)

    def __call__(self, ref: ProtectedItemRef) -> ProtectedItem | None:
        if ref not in self.read:
            self.read[ref] = _Inline().submit(self.gateway.find_protected_item, ref)
        return self.read[ref].result()


def _find_item(items: _Items, vm: VmRef, vaults: tuple[VaultInfo, ...]) -> ProtectedItem | None:
    """The vault item for ``vm``, asked vault by vault (a deleted VM has no backupStatus)."""
    for vault in vaults:
        item = items(ProtectedItemRef.for_vm(vault.ref, vm))
        if item is not None:
            return item
    return None


def _protecting_item(
    items: _Items, vm_ref: VmRef, status: BackupStatus | None, vaults: tuple[VaultInfo, ...]
) -> ProtectedItem | None:
    if status is not None and status.vault is not None:
        ref = ProtectedItemRef(
            status.vault,
            status.container_name or ProtectedItemRef.for_vm(status.vault, vm_ref).container_name,
            status.item_name or ProtectedItemRef.for_vm(status.vault, vm_ref).item_name,
        )
        item = items(ref)
        if item is None and not any(v.ref == status.vault for v in vaults):
            raise VaultNotFoundError(
                f"VM {vm_ref.name} is reported protected by vault {status.vault.id}, which does not exist"
            )
        if item is not None:
            return item
    # Stopped protection or a deleted VM: backupStatus may not name the vault; ask each vault.
    others = tuple(v for v in vaults if status is None or status.vault is None or v.ref != status.vault)
    return _find_item(items, vm_ref, others)


def _listed_item(items: _Items, vm_ref: VmRef, vaults: tuple[VaultInfo, ...]) -> ProtectedItem | None:
    """The VM's item found through reads only: each vault's Azure VM items, matched on the VM id (an item
    that actively protects the VM first), then read as ``backupStatus`` would have led to it."""
    found = [i for v in vaults for i in items.gateway.list_protected_items(v.ref)
             if i.vm_id is not None and i.vm_id == vm_ref.resource_id]
    found.sort(key=lambda i: i.is_inactive)
    for listed in found:
        item = items(listed.ref)
        if item is not None:
            return item
    return None


def _backup_status(gateway: Gateway, vm_ref: VmRef, region: str) -> BackupStatus | None:
    """``backupStatus`` for the VM, or ``None`` when the identity may not POST it (Reader)."""
    try:
        return gateway.get_backup_status(vm_ref, region)
    except PermissionDeniedError:
        return None


def _restore_point_groups(gateway: Gateway, naming: RestorePointRgNaming, region: str | None) -> list[str]:
    """Existing groups named by the policy's pattern or the service default, in the VM's region."""
    default = RestorePointRgNaming(region=region)
    return [g for g in gateway.list_resource_groups() if naming.matches(g) or default.matches(g)]


def shared_reads(gateway: Gateway) -> list[Callable[[], object]]:
    """The reads that :func:`observe_vm` shares between a subscription's VMs, as independent calls to
    run ahead of time (a fleet scan runs them while Resource Graph is still answering): vaults,
    subscription locks, the subscription's collections (one list), and, for each resource group named
    like Azure Backup's default restore-point groups, its locks. Each result lands in the gateway's
    cache; a group named by a custom policy prefix is read later, by the first VM that needs it."""
    default = RestorePointRgNaming()
    groups = [g for g in gateway.list_resource_groups() if default.matches(g)]
    reads: list[Callable[[], object]] = [gateway.list_vaults, gateway.list_subscription_locks,
                                         gateway.subscription_collections_index]
    for group in groups:
        reads.append(functools.partial(gateway.list_resource_group_locks, group))
    return reads


def _jobs(
    gateway: Gateway, vm_ref: VmRef, listed: tuple[BackupJob, ...], home: VaultRef | None
) -> tuple[tuple[BackupJob, ...], BackupJob | None]:
    """The VM's jobs (``listed``: from every vault of the subscription) and the latest failure of the
    protecting vault, with its error details (job details only when the listing came without them)."""
    jobs = list(listed)
    if home is not None and not any(j.vault == home for j in jobs) and \
            home not in [v.ref for v in gateway.list_vaults()]:
        jobs.extend(gateway.jobs_for_vm(home, vm_ref))
    # The latest failure that matters is the protecting vault's; others are history.
    home_failed = [j for j in jobs if j.is_failed and (home is None or j.vault == home)]
    latest = max(home_failed, key=lambda j: j.start_time or datetime.min.replace(tzinfo=timezone.utc), default=None)
    if latest is not None and not latest.errors:
        latest = gateway.get_job(latest.ref)
    return tuple(jobs), latest


_POLICY_DENIED = "usererrorrequestdisallowedbypolicy"


def _policy_states(gateway: Gateway, failed: BackupJob | None) -> tuple[PolicyState, ...] | None:
    """Policy Insights, only for a job a policy failed (one POST); ``None`` when the identity may not read it."""
    error = failed.primary_error if failed is not None else None
    if error is None or (error.error_title or "").strip().casefold() != _POLICY_DENIED:
        return None
    try:
        return gateway.deny_policy_states()
    except PermissionDeniedError:
        return None


def _hinted_item(items: _Items, vm_ref: VmRef, vault: VaultRef) -> ProtectedItem | None:
    """The VM's item in the vault a fleet scan saw its jobs in, when that item actively protects it: a VM
    has one active protection at a time, so ``backupStatus`` could only name this vault again. A stopped
    or paused item is not taken (another vault may protect the VM now); ``None`` then, and the caller
    asks ``backupStatus`` as for any VM."""
    item = items(ProtectedItemRef.for_vm(vault, vm_ref))
    if item is None or item.is_inactive or (item.vm_id is not None and item.vm_id != vm_ref.resource_id):
        return None
    return item


class _Inline:
    """An executor that runs each task at once, in the caller's thread (a fleet scan's workers are the
    concurrency there; a nested pool per VM would multiply threads)."""

    def submit(self, fn: Callable[..., T], *args: object, **kwargs: object) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the result, as a pool does
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def inline_executor() -> Any:
    """An executor that runs each submitted read at once in the caller's thread (no concurrency)."""
    return _Inline()


def _warm_default_groups(gateway: Gateway, pool: Any, region: str | None) -> None:
    """The locks of the groups named like Azure Backup's default restore-point groups in the VM's region,
    once the group list is in: the chain needs them after the policy, which usually names that pattern."""
    default = RestorePointRgNaming(region=region)
    for group in gateway.list_resource_groups():
        if default.matches(group):
            pool.submit(gateway.list_resource_group_locks, group)


def _vm_or_none(gateway: Gateway, vm_ref: VmRef) -> VirtualMachine | None:
    try:
        return gateway.get_vm(vm_ref)
    except VmNotFoundError:
        return None


def _locks_and_collections(gateway: Gateway, vm_ref: VmRef) -> tuple[tuple[RestorePointCollection, ...], list[str]]:
    collections = gateway.find_vm_restore_point_collections(vm_ref)
    holding = [c.ref.resource_group for c in collections]
    gateway.locks_for(holding)  # warm: the locks of the groups that hold this VM's snapshots
    return collections, holding


def _policy_and_locks(
    gateway: Gateway, vm_ref: VmRef, vm: VirtualMachine | None, item: ProtectedItem | None, region: str | None,
    collections_future: Future[tuple[tuple[RestorePointCollection, ...], list[str]]],
) -> tuple[BackupPolicy | None, tuple[RestorePointCollection, ...], tuple[Lock, ...]]:
    """The item's policy, then the locks of every group that matters: the VM's, the restore-point groups
    the policy (or the service default) names, and those holding the VM's collections."""
    policy = gateway.get_policy(BackupPolicyRef.parse(item.policy_id)) if item is not None and item.policy_id else None
    # A deleted VM's collections still hold snapshots (orphans): read them too.
    naming = policy.restore_point_rg_naming(region) if policy is not None and policy.rg_prefix else \
        RestorePointRgNaming(region=region)
    collections, holding = collections_future.result()
    if vm is not None:
        groups = _restore_point_groups(gateway, naming, region)
        locks = gateway.locks_for([vm_ref.resource_group, *groups, *holding])
    else:  # the VM's group may be gone with it; only the groups that still hold its snapshots
        locks = gateway.locks_for(holding) if holding else ()
    return policy, collections, locks


def _all_jobs(gateway: Gateway, vm_ref: VmRef, pool: Any) -> tuple[BackupJob, ...]:
    vaults = gateway.list_vaults()
    lists = [pool.submit(gateway.jobs_for_vm, v.ref, vm_ref) for v in vaults]
    return tuple(j for f in lists for j in f.result())


def observe_vm(gateway: Gateway, vm_ref: VmRef, *, vault_hint: VaultRef | None = None,
               concurrent: bool = True) -> VmObservation:
    """Read everything the checks need about ``vm_ref``.

    ``vault_hint``: the vault some listing showed protecting the VM (a fleet scan's discovery); its
    item, when it actively protects the VM, replaces the ``backupStatus`` request.

    ``concurrent``: independent reads run in parallel (through the same gateway: its budget, retries and
    single-flight cache), so that the wall time follows the dependency depth, not the request count: the
    longest chain is VM -> backupStatus -> protected item -> policy (-> the locks of a custom
    restore-point group; the default groups' locks, the collections, the jobs and the vaults are read
    beside it). A fleet scan passes ``False``: its workers already run VMs in parallel.

    Raises VmNotFoundError when the VM neither exists nor is protected anywhere,
    VmNotProtectedError when it exists but no vault protects it, VaultNotFoundError when
    the vault that reportedly protects it is gone, and the gateway's errors otherwise.
    """
    pool: Any = ThreadPoolExecutor(max_workers=_READERS, thread_name_prefix="azbf-read") if concurrent else _Inline()
    try:
        # Beside the main chain: the shared lists (vaults, groups, subscription locks, the default
        # restore-point groups' locks, the collection index), this VM's collections, its jobs.
        vm_future = pool.submit(_vm_or_none, gateway, vm_ref)
        if concurrent:  # into the gateway's cache; the chain below reads them from there (or waits)
            pool.submit(gateway.list_vaults)
            pool.submit(gateway.list_subscription_locks)
        collections_future = pool.submit(_locks_and_collections, gateway, vm_ref)
        jobs_future = pool.submit(_all_jobs, gateway, vm_ref, pool)
        vm = vm_future.result()
        status: BackupStatus | None = None
        items = _Items(gateway)
        item = _hinted_item(items, vm_ref, vault_hint) if vm is not None and vault_hint is not None else None
        # backupStatus needs only the VM's region: sent the moment the VM answers.
        status_future = pool.submit(_backup_status, gateway, vm_ref, vm.location) \
            if item is None and vm is not None else None
        if concurrent and vm is not None:  # locks read only for a VM that exists (a deleted one's group may be gone)
            pool.submit(gateway.list_resource_group_locks, vm_ref.resource_group)
            pool.submit(_warm_default_groups, gateway, pool, vm.location)
        # An encrypted VM's Key Vault reads need only its model: started with backupStatus.
        key_vault_read = pool.submit(observe_key_vault, gateway, vm, failed_title=None, pool=pool) \
            if concurrent and vm is not None and encryption_hinted(vm) else None
        vaults = gateway.list_vaults()
        if item is None:
            if concurrent and vm is not None:
                # Beside backupStatus: the VM's item in the vaults of its region (a VM's vault is in its
                # region; the item's name follows from the VM's), usually the one backupStatus names.
                region_vaults = [v for v in vaults if v.location and
                                 normalize_region(v.location) == normalize_region(vm.location)]
                for v in region_vaults[:_SPECULATIVE_VAULTS]:
                    items.prefetch(pool, ProtectedItemRef.for_vm(v.ref, vm_ref))
            status = status_future.result() if status_future is not None else None
            if vm is not None and status is None:  # denied: find the vault through reads only
                item = _listed_item(items, vm_ref, vaults)
            item = item or _protecting_item(items, vm_ref, status, vaults)
        if vm is None and item is None:
            raise VmNotFoundError(f"VM {vm_ref.id} does not exist and no vault in the subscription protects it")
        if item is None and not (status is not None and status.protected):
            raise VmNotProtectedError(f"VM {vm_ref.name} is not protected by any Recovery Services vault")
        home = item.vault if item is not None else (status.vault if status is not None else None)
        region = vm.location if vm is not None else next((v.location for v in vaults if v.ref == home), None)

        # Two chains from here, side by side: the policy, then the locks of the groups it names; and the
        # latest failure's details, then the deep checks it calls for (Key Vault, Policy Insights, the
        # network path). Inline (a fleet's worker) they run in this order, one read after another.
        policy_read = pool.submit(_policy_and_locks, gateway, vm_ref, vm, item, region, collections_future)
        jobs, latest_failed = _jobs(gateway, vm_ref, jobs_future.result(), home)
        failed_title = latest_failed.primary_error.error_title \
            if latest_failed and latest_failed.primary_error else None
        if key_vault_read is None and vm is not None:
            key_vault_read = pool.submit(observe_key_vault, gateway, vm, failed_title=failed_title, pool=pool)
        states_read = pool.submit(_policy_states, gateway, latest_failed)
        network = None
        # Not for a VM that never had an agent or is between power states: their cause is known already.
        if vm is not None and not (vm.agent_never_installed or vm.power_transitioning) and points_at_network(
                VmObservation(vm_ref, vm=vm, backup_status=status, protected_item=item, jobs=jobs,
                              latest_failed_job=latest_failed)):
            network = gateway.network_path(vm, pool)
        policy, collections, locks = policy_read.result()
        key_vault = key_vault_read.result() if key_vault_read is not None else None
        policy_states = states_read.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    observation = VmObservation(
        policy_states=policy_states,
        vm_ref=vm_ref,
        vm=vm,
        location=region,
        backup_status=status,
        protected_item=item,
        policy=policy,
        locks=locks,
        restore_point_collections=collections,
        jobs=jobs,
        latest_failed_job=latest_failed,
        observed_at=gateway.counter.server_time or datetime.now(timezone.utc),
        collections_searched=gateway.subscription_collection_count(),
        key_vault=key_vault,
        network=network,
    )
    return observation


# The job errors the guides trace (among other causes) to a VM that cannot reach Azure Storage.
NETWORK_PATH_CODES = frozenset(c.casefold() for c in (
    "ExtensionSnapshotFailedNoNetwork", "GuestAgentSnapshotTaskStatusError", "UserErrorGuestAgentStatusUnavailable"))


def points_at_network(observation: VmObservation) -> bool:
    """Whether the current failure is one whose cause may be the network path: only those VMs pay for
    the network reads (a fleet's healthy VMs and other failures never do)."""
    job = observation.current_failed_job
    error = job.primary_error if job is not None else None
    return bool(error is not None and (error.error_title or "").casefold() in NETWORK_PATH_CODES)
