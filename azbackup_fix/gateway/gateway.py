"""The Gateway: the SDK clients for one subscription and typed, cached reads over them.

Everything the library reads from Azure goes through here, and comes back as the frozen
models of :mod:`azbackup_fix.models`. Lists that many VMs share (locks and restore point
collections per resource group, resource groups, vaults, a vault's jobs, policies) are
cached for the gateway's lifetime; :meth:`Gateway.invalidate` drops them.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from ..errors import (
    InvalidInputError,
    InvalidResourceIdError,
    NotFoundError,
    ProtectedItemNotFoundError,
    VmNotFoundError,
)
from ..ids import (
    BackupJobRef,
    BackupPolicyRef,
    ProtectedItemRef,
    ResourceId,
    RestorePointCollectionRef,
    VaultRef,
    VmRef,
    normalize_region,
)
from ..models import (
    BackupJob,
    BackupPolicy,
    BackupStatus,
    Lock,
    ProtectedItem,
    RestorePointCollection,
    VirtualMachine,
)
from ..models.policy import PolicyState
from ..sdk_imports import SDK_IMPORT_LOCK
from .arm_errors import arm_call
from .clients import SdkClient
from .clouds import Cloud, get_cloud
from .convert_backup import (
    backup_status_from_wire,
    job_from_wire,
    lock_from_wire,
    policy_from_wire,
    protected_item_from_wire,
)
from .convert_compute import collection_from_wire, vm_from_wire
from .network import GatewayNetwork
from .policies import CappedRetryPolicy, RequestCounter
from .run_command import GatewayRunCommand
from .wire import dig, wire
from .writes import GatewayWrites

__all__ = ["DEFAULT_RETRY_AFTER_CAP", "Gateway", "VaultInfo"]

DEFAULT_RETRY_AFTER_CAP = 60.0  # seconds one Retry-After may stall a run
VAULT_TYPE = "Microsoft.RecoveryServices/vaults"
# One listing per vault serves every VM in it; the VM is picked client-side.
JOB_FILTER = "backupManagementType eq 'AzureIaasVM' and operation eq 'Backup'"
ITEM_FILTER = "backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'"

T = TypeVar("T")

# The two lists a fleet scan reads most are paged by hand through the SDK clients' own pipelines
# (``send_request``): a restore-point group of thousands of collections cost ~0.3 ms of CPU per
# collection in SDK models that were only turned back into JSON. The versions are the SDKs' own
# defaults (tests/gateway/test_raw_reads.py compares them with what the SDK operations send).
COMPUTE_API_VERSION = "2026-04-01"
BACKUP_API_VERSION = "2026-10-01"


def _json(chunks: Iterable[bytes]) -> dict[str, Any]:
    """The body of a ``stream=True`` SDK call: the JSON as ARM sent it, without the SDK's model round trip."""
    return json.loads(b"".join(chunks))


class VaultInfo:
    """A vault and its region (a VM's vault lives in the VM's region)."""

    __slots__ = ("location", "ref")

    def __init__(self, ref: VaultRef, location: str | None) -> None:
        self.ref = ref
        self.location = location

    def __repr__(self) -> str:
        return f"VaultInfo({self.ref.id!r}, {self.location!r})"


class Gateway(GatewayWrites, GatewayNetwork, GatewayRunCommand):
    """Typed reads (and, through :class:`GatewayWrites`, writes) of one subscription through the Azure SDK clients.

    ``credential`` is any azure-core ``TokenCredential``. Keywords: ``cloud`` (AzureCloud,
    AzureChinaCloud, AzureUSGovernment), ``base_url`` (another ARM endpoint, e.g. the
    sandbox server), ``credential_scopes``, ``transport``, ``polling_interval``,
    ``retry_total``, ``retry_after_cap`` (seconds), ``connection_verify``, ``backup_service_object_id``
    (the Backup Management Service principal's object id, instead of asking Microsoft Graph), ``graph_url``
    (another Graph endpoint; default: the cloud's, or ``base_url`` when that is given),
    ``guest_storage_endpoint`` (``HOST[:PORT]``: the storage the guest probes test reachability of when
    the VM has no boot-diagnostics storage account, docs/guest-protocol.md); anything else
    is passed to the SDK clients unchanged, except ``logging_enable`` (the network trace logs
    bearer tokens), which is ignored.
    """

    def __init__(
        self,
        credential: TokenCredential,
        subscription_id: str,
        *,
        cloud: str | Cloud | None = None,
        base_url: str | None = None,
        credential_scopes: Iterable[str] | None = None,
        transport: Any = None,
        polling_interval: float | None = None,
        retry_total: int | None = None,
        retry_after_cap: float | None = DEFAULT_RETRY_AFTER_CAP,
        connection_verify: bool | str | None = None,
        per_retry_policies: Sequence[Any] = (),
        per_vm_job_listing: bool = False,
        backup_service_object_id: str | None = None,
        graph_url: str | None = None,
        guest_storage_endpoint: str | None = None,
        **client_kwargs: Any,
    ) -> None:
        if not isinstance(subscription_id, str) or not subscription_id.strip():
            raise InvalidInputError("a subscription id is required")
        self.subscription_id = subscription_id.strip()
        self.cloud = get_cloud(cloud)
        self.base_url = (base_url or self.cloud.arm_endpoint).rstrip("/")
        self.counter = RequestCounter()
        self._owns_transport = transport is None
        if transport is None:
            # One connection pool for the four clients.
            transport = RequestsTransport(**({"connection_verify": connection_verify}
                                             if connection_verify is not None else {}))
        retry: dict[str, Any] = {"retry_after_cap": retry_after_cap}
        if retry_total is not None:
            retry["retry_total"] = retry_total
        kwargs: dict[str, Any] = dict(client_kwargs)
        # azure-core's network trace (logging_enable) logs the raw Authorization header and every
        # body at DEBUG: never on. Its HttpLoggingPolicy (headers redacted, no bodies) still logs.
        kwargs.pop("logging_enable", None)
        kwargs.update(
            base_url=self.base_url,
            credential_scopes=list(credential_scopes or [self.cloud.credential_scope]),
            transport=transport,
            per_call_policies=[self.counter],
        )
        # Fleet runs list one VM's jobs (filtered by name) instead of a whole vault's.
        self.per_vm_job_listing = per_vm_job_listing
        # The Backup Management Service principal's object id, when Graph may not be asked (gateway/keyvault.py).
        self.backup_service_object_id = backup_service_object_id
        # host[:port] the guest probes test on 443 when the VM names no storage account of its own
        if guest_storage_endpoint:
            from ..guest.endpoints import parse_endpoint  # bad input is refused before any request

            guest_storage_endpoint = parse_endpoint(guest_storage_endpoint)
        self.guest_storage_endpoint = guest_storage_endpoint or None
        self.graph_url = graph_url
        self._credential = credential
        self._retry = retry
        self._per_retry_policies = tuple(per_retry_policies)
        if polling_interval is not None:
            kwargs["polling_interval"] = polling_interval
        if connection_verify is not None:
            kwargs["connection_verify"] = connection_verify
        self._transport = transport
        self._scopes = tuple(kwargs["credential_scopes"])
        self._client_kwargs = kwargs  # for every SDK client, made on first use (SdkClient; network; Key Vault)
        self._clients: dict[str, Any] = {}  # the SdkClient attributes below, once used
        self._clients_lock = threading.Lock()
        self._extra_clients: list[Any] = []
        self._network_client: Any = None
        self._cache: dict[tuple[str, ...], Any] = {}
        self._companions: dict[str, Any] = {}  # clients made on first use (key_vault())
        self._cache_lock = threading.RLock()
        self._inflight: dict[tuple[str, ...], threading.Lock] = {}

    # One connection pool, retry policy, counter and budget for all of them; each built on first use.
    compute = SdkClient("azure.mgmt.compute", "ComputeManagementClient")
    locks = SdkClient("azure.mgmt.resource.locks", "ManagementLockClient")
    resources = SdkClient("azure.mgmt.resource.resources", "ResourceManagementClient")
    backup = SdkClient("azure.mgmt.recoveryservicesbackup", "RecoveryServicesBackupClient")

    def client_kwargs(self) -> dict[str, Any]:
        """Keywords for one more SDK client on this gateway's endpoint, transport and policies (its own
        clients, the network's, Key Vault's). The retry policy and the per-retry policies (e.g. the fleet's
        budget: every attempt waits for its token) are made or copied per pipeline: an HTTPPolicy holds its
        pipeline's ``next``, so one instance shared by two clients sends one client's requests down the
        other's chain, and into a chain another thread is still building (tests/gateway/test_clients.py)."""
        kwargs = {**self._client_kwargs, "retry_policy": CappedRetryPolicy(**self._retry)}
        if self._per_retry_policies:
            kwargs["per_retry_policies"] = [copy.copy(p) for p in self._per_retry_policies]
        return kwargs

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        for client in (*self._clients.values(), *self._companions.values(), *self._extra_clients):
            client.close()
        if self._owns_transport:
            self._transport.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def invalidate(self, *, keep_network: bool = False) -> None:
        """Forget cached lists (after a change, or to read fresh state). ``keep_network``: keep the network
        path's reads (a run re-reading state after its own steps: the only network write it makes, an NSG
        rule, forgets them itself, :meth:`invalidate_network`), so one run asks them once per change."""
        with self._cache_lock:
            if not keep_network:
                self._cache.clear()
                return
            for key in [k for k in self._cache if not (k and k[0].startswith("network-"))]:
                del self._cache[key]

    @property
    def request_count(self) -> int:
        return self.counter.snapshot()

    def _cached(self, key: tuple[str, ...], read: Callable[[], T]) -> T:
        folded = tuple(k.casefold() for k in key)
        with self._cache_lock:
            if folded in self._cache:
                return self._cache[folded]
            # Single flight: threads wanting the same list wait for one read instead of repeating it.
            gate = self._inflight.setdefault(folded, threading.Lock())
        with gate:
            with self._cache_lock:
                if folded in self._cache:
                    return self._cache[folded]
            value = read()
            with self._cache_lock:
                self._inflight.pop(folded, None)
                return self._cache.setdefault(folded, value)

    @staticmethod
    def _pages(client: Any, path: str, api_version: str, **params: str) -> Iterator[dict[str, Any]]:
        """Every ``value`` item of an ARM list, following ``nextLink``, through ``client``'s pipeline
        (retries, budget, counter and authentication as for its operations); errors as the SDK raises them."""
        query = {"api-version": api_version, **{f"${k}": v for k, v in params.items()}}
        request: HttpRequest | None = HttpRequest("GET", path, params=query)
        while request is not None:
            response = client.send_request(request)
            response.raise_for_status()
            page = response.json()
            yield from page.get("value") or []
            link = page.get("nextLink")
            request = HttpRequest("GET", link) if link else None

    def resource_graph(self) -> Any:
        """A :class:`~.resource_graph.ResourceGraph` on this gateway's credential, transport and policies."""
        from .resource_graph import ResourceGraph

        return ResourceGraph(self._credential, base_url=self.base_url, credential_scopes=self._scopes,
                             transport=self._transport, retry_policy=CappedRetryPolicy(**self._retry),
                             per_call_policies=[self.counter],
                             per_retry_policies=[copy.copy(p) for p in self._per_retry_policies])

    # -- what companion clients share (gateway/keyvault.py) -------------------------------------

    @property
    def credential(self) -> TokenCredential:
        return self._credential

    def shared_transport(self) -> Any:
        return self._transport

    def retry_settings(self) -> dict[str, Any]:
        return dict(self._retry)

    def key_vault(self) -> Any:
        """The :class:`~.keyvault.KeyVaultGateway` (created once; KeyVaultExtraMissing without the extra)."""
        with self._cache_lock:
            found = self._companions.get("keyvault")
            if found is None:
                from .keyvault import KeyVaultGateway

                found = self._companions["keyvault"] = KeyVaultGateway(self, graph_url=self.graph_url)
            return found

    def _check_subscription(self, subscription: str) -> None:
        if subscription.casefold() != self.subscription_id.casefold():
            raise InvalidInputError(
                f"resource is in subscription {subscription}, not in {self.subscription_id} this gateway reads"
            )

    # -- compute ---------------------------------------------------------------------------------

    def get_vm(self, vm: VmRef) -> VirtualMachine:
        """The VM with its instance view (extensions' statuses included) in one GET."""
        self._check_subscription(vm.subscription_id)
        with arm_call(f"VM {vm.id}", not_found=VmNotFoundError):
            # stream=True: the JSON as ARM sent it; the compute SDK's model round trip cost ~8 ms of
            # CPU per VM, the largest share of a fleet scan's client time (the same holds below).
            body = _json(self.compute.virtual_machines.get(vm.resource_group, vm.name, expand="instanceView",
                                                           stream=True))
        return vm_from_wire(vm, body)

    def list_restore_point_collections(self, resource_group: str) -> tuple[RestorePointCollection, ...]:
        """Collections in a group, without their points (a list never carries them); the list is cached."""
        return tuple(collection_from_wire(i) for i in self._listed_collections(resource_group))

    def _listed_collections(self, resource_group: str) -> tuple[dict[str, Any], ...]:
        def read() -> tuple[dict[str, Any], ...]:
            path = f"/subscriptions/{self.subscription_id}/resourceGroups/{resource_group}" \
                   "/providers/Microsoft.Compute/restorePointCollections"
            with arm_call(f"restore point collections in {resource_group}"):
                return tuple(self._pages(self.compute, path, COMPUTE_API_VERSION))

        return self._cached(("rpc", resource_group), read)

    def get_restore_point_collection(self, ref: RestorePointCollectionRef) -> RestorePointCollection:
        """One collection with its restore points."""
        self._check_subscription(ref.subscription_id)
        with arm_call(f"restore point collection {ref.id}"):
            body = _json(self.compute.restore_point_collections.get(  # stream: see get_vm
                ref.resource_group, ref.name, expand="restorePoints", stream=True))
        return collection_from_wire(body)

    def restore_point_collections_for_vm(
        self, vm: VmRef, resource_groups: Iterable[str]
    ) -> tuple[RestorePointCollection, ...]:
        """This VM's collections in the groups (by ``source.id``, never by name), with their points."""
        out: list[RestorePointCollection] = []
        key = vm.id.casefold()
        for group in resource_groups:
            for collection_id in self.restore_point_collections_index(group).get(key, ()):
                collection = self.get_restore_point_collection(RestorePointCollectionRef.parse(collection_id))
                if collection.is_for(vm):
                    out.append(collection)
        return tuple(out)

    def restore_point_collections_index(self, resource_group: str) -> dict[str, tuple[str, ...]]:
        """The group's collection ids by folded source VM id, built from the raw list: a fleet's VMs share
        a group of thousands of collections, and only a few of them are ever read in full."""

        def index() -> dict[str, tuple[str, ...]]:
            out: dict[str, list[str]] = {}
            for item in self._listed_collections(resource_group):
                source = _source_key(dig(item, "properties", "source", "id"))
                if source is not None and item.get("id"):
                    out.setdefault(source, []).append(str(item["id"]))
            return {k: tuple(v) for k, v in out.items()}

        return self._cached(("rpc-index", resource_group), index)

    def _listed_all_collections(self) -> tuple[dict[str, Any], ...]:
        """RestorePointCollections_ListAll: every collection of the subscription, in any group."""

        def read() -> tuple[dict[str, Any], ...]:
            path = f"/subscriptions/{self.subscription_id}/providers/Microsoft.Compute/restorePointCollections"
            with arm_call(f"restore point collections of subscription {self.subscription_id}"):
                return tuple(self._pages(self.compute, path, COMPUTE_API_VERSION))

        return self._cached(("rpc-all",), read)

    def subscription_collections_index(self) -> dict[str, tuple[str, ...]]:
        """Every collection id of the subscription by folded source VM id (one cached listing): a VM's
        restore points may sit in any group ("across restore point collections and resource groups")."""

        def index() -> dict[str, tuple[str, ...]]:
            out: dict[str, list[str]] = {}
            for item in self._listed_all_collections():
                source = _source_key(dig(item, "properties", "source", "id"))
                if source is not None and item.get("id"):
                    out.setdefault(source, []).append(str(item["id"]))
            return {k: tuple(sorted(v, key=str.casefold)) for k, v in out.items()}

        return self._cached(("rpc-index-all",), index)

    def subscription_collection_count(self) -> int:
        """How many collections the subscription-wide listing held (what a search covered)."""
        return len(self._listed_all_collections())

    def find_vm_restore_point_collections(self, vm: VmRef) -> tuple[RestorePointCollection, ...]:
        """This VM's collections anywhere in the subscription (matched by ``source.id``, case-insensitive),
        each with its points."""
        out: list[RestorePointCollection] = []
        for collection_id in self.subscription_collections_index().get(vm.id.casefold(), ()):
            collection = self.get_restore_point_collection(RestorePointCollectionRef.parse(collection_id))
            if collection.is_for(vm):
                out.append(collection)
        return tuple(out)

    # -- resources and locks -------------------------------------------------------------------

    def list_resource_groups(self) -> tuple[str, ...]:
        def read() -> tuple[str, ...]:
            with arm_call(f"resource groups of subscription {self.subscription_id}"):
                return tuple(str(wire(g).get("name")) for g in self.resources.resource_groups.list())

        return self._cached(("groups",), read)

    def list_vaults(self) -> tuple[VaultInfo, ...]:
        """Every Recovery Services vault in the subscription; cached."""

        def read() -> tuple[VaultInfo, ...]:
            with arm_call(f"vaults of subscription {self.subscription_id}"):
                found = list(self.resources.resources.list(filter=f"resourceType eq '{VAULT_TYPE}'"))
            vaults = []
            for res in found:
                data = wire(res)
                vaults.append(VaultInfo(VaultRef.parse(str(data.get("id"))), data.get("location")))
            return tuple(vaults)

        return self._cached(("vaults",), read)

    def list_subscription_locks(self) -> tuple[Lock, ...]:
        def read() -> tuple[Lock, ...]:
            with arm_call(f"locks of subscription {self.subscription_id}"):
                return tuple(lock_from_wire(wire(lk)) for lk in self.locks.management_locks.list_at_subscription_level())

        return self._cached(("locks",), read)

    def list_resource_group_locks(self, resource_group: str) -> tuple[Lock, ...]:
        """Locks on the group and on resources in it (ARM's RG-level list); cached per group."""

        def read() -> tuple[Lock, ...]:
            with arm_call(f"locks in resource group {resource_group}"):
                items = self.locks.management_locks.list_at_resource_group_level(resource_group)
                return tuple(lock_from_wire(wire(lk)) for lk in items)

        return self._cached(("locks", resource_group), read)

    def locks_for(self, resource_groups: Iterable[str]) -> tuple[Lock, ...]:
        """Subscription locks plus each group's, without duplicates (a group list may repeat inherited ones)."""
        seen: dict[str, Lock] = {}
        for lock in self.list_subscription_locks():
            seen.setdefault(lock.ref.id.casefold(), lock)
        groups = {g.casefold(): g for g in reversed(list(resource_groups))}  # first spelling wins
        for group in groups.values():
            for lock in self.list_resource_group_locks(group):
                seen.setdefault(lock.ref.id.casefold(), lock)
        return tuple(seen.values())

    # -- backup --------------------------------------------------------------------------------------

    def get_backup_status(self, vm: VmRef, region: str) -> BackupStatus:
        """Which vault protects the VM, as the service answers ``locations/{region}/backupStatus``."""
        self._check_subscription(vm.subscription_id)
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.recoveryservicesbackup.models import BackupStatusRequest

        request = BackupStatusRequest(resource_type="VM", resource_id=vm.id)
        with arm_call(f"backup status of {vm.id}"):
            body = _json(self.backup.backup_status.get(normalize_region(region), request, stream=True))
        return backup_status_from_wire(body)

    def get_protected_item(self, ref: ProtectedItemRef) -> ProtectedItem:
        with arm_call(f"protected item {ref.item_name} in vault {ref.vault.name}", not_found=ProtectedItemNotFoundError):
            body = _json(self.backup.protected_items.get(
                ref.vault.name, ref.vault.resource_group, ref.fabric_name, ref.container_name, ref.item_name,
                stream=True))
        return protected_item_from_wire(body)

    def find_protected_item(self, ref: ProtectedItemRef) -> ProtectedItem | None:
        """The item, or ``None`` when the vault does not hold it."""
        try:
            return self.get_protected_item(ref)
        except NotFoundError:
            return None

    def list_protected_items(self, vault: VaultRef) -> tuple[ProtectedItem, ...]:
        """Azure VM items of a vault (for 'every protected VM'); cached per vault."""

        def read() -> tuple[ProtectedItem, ...]:
            with arm_call(f"protected items of vault {vault.name}"):
                items = list(self.backup.backup_protected_items.list(vault.name, vault.resource_group, filter=ITEM_FILTER))
            return tuple(protected_item_from_wire(wire(i)) for i in items)

        return self._cached(("items", vault.id), read)

    def get_policy(self, ref: BackupPolicyRef) -> BackupPolicy:
        def read() -> BackupPolicy:
            with arm_call(f"backup policy {ref.name} in vault {ref.vault.name}"):
                body = _json(self.backup.protection_policies.get(ref.vault.name, ref.vault.resource_group, ref.name,
                                                                 stream=True))
            return policy_from_wire(body)

        return self._cached(("policy", ref.id), read)

    def list_backup_jobs(self, vault: VaultRef) -> tuple[BackupJob, ...]:
        """The vault's recent Azure VM backup jobs (the service's default window), newest first; cached."""

        def read() -> tuple[BackupJob, ...]:
            with arm_call(f"backup jobs of vault {vault.name}"):
                items = list(self.backup.backup_jobs.list(vault.name, vault.resource_group, filter=JOB_FILTER))
            jobs = [job_from_wire(wire(i), vault) for i in items]
            return tuple(sorted(jobs, key=_newest_first))

        return self._cached(("jobs", vault.id), read)

    def jobs_for_vm(self, vault: VaultRef, vm: VmRef) -> tuple[BackupJob, ...]:
        if self.per_vm_job_listing:
            return self._list_vm_jobs(vault, vm)
        return tuple(j for j in self.list_backup_jobs(vault) if j.concerns(vm))

    def prime_vm_jobs(self, vault: VaultRef, vm: VmRef, jobs: tuple[BackupJob, ...]) -> None:
        """Seed one VM's job list in a vault from another source (Resource Graph said: none there)."""
        with self._cache_lock:
            self._cache[tuple(k.casefold() for k in ("vmjobs", vault.id, vm.id))] = jobs

    def _list_vm_jobs(self, vault: VaultRef, vm: VmRef) -> tuple[BackupJob, ...]:
        """One VM's jobs in a vault: the listing filtered by ``entityFriendlyName`` (one page, not the vault's)."""

        def read() -> tuple[BackupJob, ...]:
            name = vm.name.replace("'", "''")
            with arm_call(f"backup jobs of {vm.name} in vault {vault.name}"):
                items = list(self._pages(self.backup, f"{vault.id}/backupJobs", BACKUP_API_VERSION,
                                         filter=f"{JOB_FILTER} and entityFriendlyName eq '{name}'"))
            jobs = [job_from_wire(i, vault) for i in items]
            return tuple(sorted((j for j in jobs if j.concerns(vm)), key=_newest_first))

        return self._cached(("vmjobs", vault.id, vm.id), read)

    def deny_policy_states(self) -> tuple[PolicyState, ...]:
        """Deny assignments' compliance records for the subscription's resource groups (Policy Insights)."""
        from .policy_states import deny_states_for_groups

        return self._cached(("policystates", "deny"), lambda: deny_states_for_groups(self.resources,
                                                                                     self.subscription_id))

    def get_job(self, ref: BackupJobRef) -> BackupJob:
        """Job details (``errorDetails`` and the task list) of one job."""
        with arm_call(f"backup job {ref.name} in vault {ref.vault.name}"):
            body = _json(self.backup.job_details.get(ref.vault.name, ref.vault.resource_group, ref.name, stream=True))
        return job_from_wire(body, ref.vault)


def _source_key(source: Any) -> str | None:
    """A collection's ``source.id`` as a folded VM id; parsed only when it is not already canonical."""
    if not isinstance(source, str) or not source:
        return None
    folded = source.casefold()
    if folded.startswith("/subscriptions/") and not folded.endswith("/") and "%" not in folded and "//" not in folded:
        return folded
    try:
        return ResourceId.parse(source).id.casefold()
    except InvalidResourceIdError:
        return None  # a source we cannot read is no VM of ours


def _newest_first(job: BackupJob) -> tuple[bool, float]:
    return (job.start_time is None, -(job.start_time.timestamp() if job.start_time else 0.0))
