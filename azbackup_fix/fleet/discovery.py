"""Find the VMs worth a look with as few requests as possible.

Resource Graph first: three paged queries over all the targeted subscriptions (latest backup job per
VM, unhealthy protected items, backup extensions not Succeeded), so a healthy VM costs a few
thousandths of a request. Where Resource Graph is unavailable (403/404, a rejected query, or
``use_resource_graph=False``) the same signals come from each vault's job and item listings.
Candidates are confirmed later, with job details, before anything acts on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import InvalidResourceIdError
from ..gateway import Gateway
from ..gateway.convert_backup import job_from_wire, protected_item_from_wire
from ..gateway.resource_graph import ResourceGraphUnavailableError
from ..ids import BackupJobRef, VaultRef, VmRef
from ..models import BackupJob, ProtectedItem
from .queries import BACKUP_EXTENSIONS, BACKUP_JOBS, PROTECTED_ITEMS

__all__ = ["DEFAULT_STUCK_AFTER", "Candidate", "Discovery", "discover"]

DEFAULT_STUCK_AFTER = timedelta(hours=6)
RESOURCE_GRAPH = "resource-graph"
VAULT_LISTING = "vault-listing"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A VM some signal says is unhealthy; ``job`` is the job to confirm with job details."""

    vm: VmRef
    reasons: tuple[str, ...]
    job: BackupJobRef | None = None
    error_code: str | None = None
    vault: VaultRef | None = None


@dataclass(frozen=True, slots=True)
class Discovery:
    source: str  # resource-graph | vault-listing
    candidates: tuple[Candidate, ...]
    vms_seen: int
    requests: int
    fallback_reason: str | None = None
    vaults: Mapping[str, VaultRef] = field(default_factory=dict)  # folded VM id -> protecting vault
    # Folded VM id -> folded ids of the vaults with any of its backup jobs in the window (Resource Graph).
    job_vaults: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class _Signals:
    vm: VmRef
    reasons: list[str] = field(default_factory=list)
    job: BackupJob | None = None
    vault: VaultRef | None = None


_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def _parse_start(text: str) -> datetime | None:
    """To the second (enough to order one VM's jobs), whatever fraction digits the service prints."""
    try:
        return datetime.fromisoformat(text[:19]).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _vm_of_job(job: BackupJob) -> VmRef | None:
    parts = (job.container_name or "").split(";")
    if len(parts) < 3:
        return None
    try:
        return VmRef(job.vault.subscription_id, parts[-2], parts[-1])
    except InvalidResourceIdError:
        return None


def _vm_of_item(item: ProtectedItem) -> VmRef | None:
    if item.vm_id is None or not item.vm_id.is_type(VmRef.RESOURCE_TYPE):
        return None
    return VmRef.parse(item.vm_id)


class _Collector:
    def __init__(self, vault_filter: set[str] | None, stuck_after: timedelta, now: Callable[[], datetime],
                 on_signal: Callable[[VmRef], None] | None = None) -> None:
        self.vault_filter = vault_filter
        self.on_signal = on_signal
        self.stuck_after = stuck_after
        self.now = now  # ARM's clock as the last answer gave it (virtual in the sandbox)
        self.seen: dict[str, VmRef] = {}
        self.homes: dict[str, VaultRef] = {}
        self.job_vaults: dict[str, set[str]] = {}
        self.seen_keys: set[str] = set()  # VMs seen through settled rows only (no VmRef built)
        self.settled_start: dict[str, datetime] = {}
        self.signals: dict[str, _Signals] = {}

    def _wanted(self, vault: VaultRef) -> bool:
        return self.vault_filter is None or vault.id.casefold() in self.vault_filter

    def _signal(self, vm: VmRef, reason: str, *, job: BackupJob | None = None,
                vault: VaultRef | None = None) -> None:
        key = vm.id.casefold()
        entry = self.signals.get(key)
        if entry is None:
            entry = self.signals[key] = _Signals(vm)
            if self.on_signal is not None:
                self.on_signal(vm)
        if reason not in entry.reasons:
            entry.reasons.append(reason)
        if job is not None and (entry.job is None or not entry.job.is_failed):
            entry.job = job
        entry.vault = entry.vault or vault

    def settled(self, vm_key: str, vault_key: str, start: str) -> None:
        """A settled (completed) job row: the VM is seen in that vault; a later failure still wins below."""
        if self.vault_filter is not None and vault_key not in self.vault_filter:
            return
        self.seen_keys.add(vm_key)
        self.job_vaults.setdefault(vm_key, set()).add(vault_key)
        when = _parse_start(start)
        if when is not None and when > self.settled_start.get(vm_key, _EPOCH):
            self.settled_start[vm_key] = when

    def jobs(self, jobs: Iterable[BackupJob]) -> None:
        latest: dict[str, BackupJob] = {}
        for job in jobs:
            if not self._wanted(job.vault) or not job.is_backup:
                continue
            vm = _vm_of_job(job)
            if vm is None:
                continue
            key = vm.id.casefold()
            self.seen.setdefault(key, vm)
            self.homes.setdefault(key, job.vault)
            self.job_vaults.setdefault(key, set()).add(job.vault.id.casefold())
            start = job.start_time or datetime.min.replace(tzinfo=timezone.utc)
            now = self.now()
            if job.is_in_progress and now - start > self.stuck_after:
                hours = (now - start).total_seconds() / 3600
                self._signal(vm, f"backup job in progress for {hours:.0f} h", job=job, vault=job.vault)
            best = latest.get(key)
            if best is None or start > (best.start_time or datetime.min.replace(tzinfo=timezone.utc)):
                latest[key] = job
        for key, job in latest.items():
            newer = self.settled_start.get(key)
            if newer is not None and job.start_time is not None and newer > job.start_time:
                continue  # a later backup of this VM completed: the failure is history
            if job.is_failed:
                error = job.primary_error
                code = error.error_title if error is not None else None
                self._signal(self.seen[key], f"latest backup job failed{f' ({code})' if code else ''}",
                             job=job, vault=job.vault)

    def items(self, items: Iterable[ProtectedItem]) -> None:
        for item in items:
            if not self._wanted(item.vault):
                continue
            vm = _vm_of_item(item)
            if vm is None:
                continue
            self.seen.setdefault(vm.id.casefold(), vm)
            self.homes.setdefault(vm.id.casefold(), item.vault)
            if item.protection_state not in (None, "Protected", "IRPending"):
                self._signal(vm, f"protection {item.protection_state}", vault=item.vault)
            elif (item.health_status or "Passed") != "Passed":
                self._signal(vm, f"backup health {item.health_status}", vault=item.vault)

    def extension(self, row: Mapping[str, Any]) -> None:
        ext_id = str(row.get("id") or "")
        vm_id = ext_id.split("/extensions/")[0]
        try:
            vm = VmRef.parse(vm_id)
        except InvalidResourceIdError:
            return
        if self.vault_filter is not None and vm.id.casefold() not in self.seen:
            return  # not protected by a vault in scope
        state = (row.get("properties") or {}).get("provisioningState")
        self._signal(vm, f"backup extension {state}")

    def result(self, source: str, requests: int, fallback: str | None) -> Discovery:
        candidates = []
        for key in sorted(self.signals):
            s = self.signals[key]
            error = s.job.primary_error if s.job is not None else None
            candidates.append(Candidate(
                vm=s.vm, reasons=tuple(s.reasons), job=s.job.ref if s.job is not None else None,
                error_code=error.error_title if error is not None else None, vault=s.vault or self.homes.get(key)))
        seen = set(self.seen) | set(self.signals) | self.seen_keys
        return Discovery(source, tuple(candidates), len(seen), requests, fallback, dict(self.homes),
                         {k: frozenset(v) for k, v in self.job_vaults.items()})


def _now(gateway: Gateway) -> datetime:
    return gateway.counter.server_time or datetime.now(timezone.utc)


_SETTLED = frozenset({"completed", "completedwithwarnings", "cancelled"})


def _job_rows(rows: Iterable[Mapping[str, Any]], collector: _Collector) -> Iterator[BackupJob]:
    """Full models only for rows that can signal something (failed or running); a settled job only
    marks its VM as seen in its vault. Most rows of a healthy fleet are settled: 10,000 parses saved."""
    for row in rows:
        props = row.get("properties") or {}
        status = str(props.get("status") or "").casefold()
        parts = str(props.get("containerName") or "").split(";")
        row_id = str(row.get("id") or "")
        if status not in _SETTLED or len(parts) < 3 or "/backupjobs/" not in row_id.casefold():
            yield job_from_wire(dict(row))
            continue
        vault_id = row_id[: row_id.casefold().index("/backupjobs/")]
        sub = vault_id.split("/")[2]
        collector.settled(f"/subscriptions/{sub}/resourceGroups/{parts[-2]}/providers/Microsoft.Compute"
                          f"/virtualMachines/{parts[-1]}".casefold(), vault_id.casefold(),
                          str(props.get("startTime") or ""))


def _by_resource_graph(gateway: Gateway, subscriptions: Sequence[str], collector: _Collector) -> int:
    graph = gateway.resource_graph()
    collector.jobs(_job_rows(graph.query(BACKUP_JOBS, subscriptions), collector))
    collector.items(protected_item_from_wire(row) for row in graph.query(PROTECTED_ITEMS, subscriptions))
    for row in graph.query(BACKUP_EXTENSIONS, subscriptions):
        collector.extension(row)
    return graph.requests


def _by_vault_listing(gateways: Mapping[str, Gateway], collector: _Collector) -> int:
    requests = 0
    for gateway in gateways.values():
        before = gateway.request_count
        for vault in gateway.list_vaults():
            if not collector._wanted(vault.ref):
                continue
            collector.jobs(gateway.list_backup_jobs(vault.ref))
            collector.items(gateway.list_protected_items(vault.ref))
        requests += gateway.request_count - before
    return requests


def discover(
    gateways: Mapping[str, Gateway],
    *,
    vaults: Sequence[VaultRef] = (),
    use_resource_graph: bool = True,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    on_signal: Callable[[VmRef], None] | None = None,
) -> Discovery:
    """Candidates across ``gateways`` (one per subscription), limited to ``vaults`` when given.

    ``on_signal`` hears each VM the moment a first signal names it (a later row may still clear it),
    so a caller can start reading what that VM's subscription will need while discovery goes on."""
    vault_filter = {v.id.casefold() for v in vaults} or None
    first = next(iter(gateways.values()))
    fallback: str | None = None
    if use_resource_graph:
        collector = _Collector(vault_filter, stuck_after, lambda: _now(first), on_signal)
        try:
            requests = _by_resource_graph(first, list(gateways), collector)
            return collector.result(RESOURCE_GRAPH, requests, None)
        except ResourceGraphUnavailableError as exc:
            fallback = f"Resource Graph unavailable, listed vault jobs instead: {exc}"
    else:
        fallback = "Resource Graph not used (--no-resource-graph)"
    collector = _Collector(vault_filter, stuck_after, lambda: _now(first), on_signal)
    requests = _by_vault_listing(gateways, collector)
    return collector.result(VAULT_LISTING, requests, fallback)
