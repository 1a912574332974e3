"""The fleet scan: discover -> confirm (job details) -> diagnose -> (apply: coordinate locks, run) -> report.

It sits in the runner's layer (it drives the runner for many VMs); `fleet/` holds the parts below it.

Work runs on a thread pool; every ARM request of every thread waits for its token in one shared
:class:`~azbackup_fix.gateway.budget.Budget` (per subscription and principal), so adding workers
adds overlap of latency, never a 429 storm. Lists that VMs share (vaults, resource groups, locks and
collections per resource group, policies) are read once per subscription by the gateway's
single-flight cache. Apply reuses the :class:`~azbackup_fix.runner.Runner` per VM, behind the same
guard rails and journal, with shared locks removed and restored once per resource group by the
:class:`~azbackup_fix.fleet.locks.LockCoordinator`. Progress goes to the journal as each VM finishes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from .checks import DEFAULT_OPTIONS, CheckOptions, diagnosis_for
from .checks.guest import (
    explained_outside_guest,
    guest_findings,
    points_into_guest,
    probe_command,
    with_guest_findings,
)
from .errors import AzBackupFixError, GuardRailError, InvalidInputError, one_line
from .fleet.discovery import DEFAULT_STUCK_AFTER, RESOURCE_GRAPH, Candidate, discover
from .fleet.locks import LockCoordinator, left_by_plans, shared_locks
from .fleet.progress import ProgressEvent, ProgressStore, open_progress
from .fleet.report import FleetReport, Outcome, VmResult
from .fleet.shards import (  # noqa: F401 (re-exported)
    MAX_WORKERS,
    check_workers,
    default_fix_workers,
    default_workers,
    in_shard,
    parse_shard,
)
from .gateway import Gateway, observe_vm, shared_reads
from .gateway.budget import Budget, BudgetPolicy, ThrottledError
from .guest import GuestChannel
from .ids import VaultRef, VmRef
from .models import VmObservation
from .models.events import EventSink, Interrupt
from .models.rails import given_rails, rail_named
from .models.report import RunReport, StepStatus
from .playbooks import Plan, get_playbook
from .runner import Runner, RunOptions, default_playbook_file, requests_from_findings
from .sdk_imports import SDK_IMPORT_LOCK
from .steps.backup import TriggerBackup

__all__ = ["FleetScanner", "ScanOptions", "check_workers", "default_fix_workers", "default_workers", "in_shard", "parse_shard"]

# Inspection-only playbooks change nothing: a VM routed only to them has no Azure-side fix.
_INSPECTION = frozenset({"inspect-vm"})


@dataclass(frozen=True, slots=True)
class ScanOptions:
    subscriptions: tuple[str, ...]
    vaults: tuple[VaultRef, ...] = ()
    vms: tuple[VmRef, ...] = ()  # only these VMs (CLI --vm, --ids, -g/-n); empty: every candidate
    resource_group: str | None = None  # only candidates in this resource group (CLI -g alone)
    apply: bool = False
    use_resource_graph: bool = True
    shard: tuple[int, int] = (1, 1)
    workers: int | None = None  # None: default_workers(len(subscriptions))
    fix_workers: int | None = None  # the fix phase's; None: ``workers`` if given, else default_fix_workers
    stuck_after: timedelta = DEFAULT_STUCK_AFTER
    allow_disruptive: bool = False
    allow_protection_changes: bool = False
    allow_network_changes: bool = False
    allow_guest_changes: bool = False
    allow_permission_changes: bool = False
    allow_extension_changes: bool = False
    wait: bool = True
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    max_targets: int | None = None
    resume: str | None = None
    fresh: bool = False
    probe_guest: bool = False  # read the guest (Run Command) of candidates whose job error points into it
    guest_probe_limit: int = 4  # probes at once across the scan (each holds a Run Command for tens of seconds)

    def targets(self, vm: VmRef) -> bool:
        """Whether ``vm`` is in the scan's scope (its shard aside)."""
        if self.vms and vm not in self.vms:
            return False
        return self.resource_group is None or vm.resource_group.casefold() == self.resource_group.casefold()

    @property
    def worker_count(self) -> int:
        return max(1, self.workers) if self.workers is not None else default_workers(len(self.subscriptions))

    @property
    def fix_worker_count(self) -> int:
        if self.fix_workers is not None:
            return max(1, self.fix_workers)
        return self.worker_count if self.workers is not None else default_fix_workers(len(self.subscriptions))

    def key_arguments(self) -> dict[str, Any]:
        """What identifies 'the same scan' for automatic resume."""
        return {"subscriptions": sorted(s.casefold() for s in self.subscriptions),
                "vaults": sorted(v.id.casefold() for v in self.vaults), "apply": self.apply,
                **({"vms": sorted(v.id.casefold() for v in self.vms)} if self.vms else {}),
                **({"resource_group": self.resource_group.casefold()} if self.resource_group else {}),
                "shard": list(self.shard), **given_rails(self),
                "options": {k: dict(v) for k, v in self.options.items()}}


@dataclass
class _Examined:
    result: VmResult
    observation: VmObservation | None = None
    plans: tuple[Plan, ...] = ()


class FleetScanner:
    """Scan (and with ``apply``, fix) the backups of many VMs across subscriptions.

    ``credential`` and client keywords as for :class:`~azbackup_fix.Remediator`; ``budget`` (default:
    ARM's buckets on the real clock) is shared by every request; ``journal`` is a
    :class:`~azbackup_fix.journal.Journal` (needed to record progress and to apply).
    """

    def __init__(
        self,
        credential: Any,
        *,
        budget: Budget | None = None,
        journal: Any = None,
        playbook_file: Any = None,
        check_options: CheckOptions = DEFAULT_OPTIONS,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        events: EventSink | None = None,
        interrupt: Interrupt | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.credential = credential
        self.budget = budget or Budget()
        self.journal = journal
        self.playbook_file = playbook_file
        self.check_options = check_options
        self.on_progress = on_progress
        self.events = events  # each fix's steps and waits as they happen (RunEvent)
        self.interrupt = interrupt if interrupt is not None else Interrupt()  # first Ctrl-C: no new fix
        self.client_kwargs = client_kwargs
        self._policy = BudgetPolicy(self.budget)
        self._transport: Any = None
        self._probe_slots: threading.BoundedSemaphore | None = None

    # -- plumbing -------------------------------------------------------------------------------

    def _gateways(self, subscriptions: Sequence[str], workers: int) -> dict[str, Gateway]:
        kwargs = dict(self.client_kwargs)
        if kwargs.get("transport") is None:
            kwargs["transport"] = self._transport = _pooled_transport(
                workers, kwargs.get("connection_verify"), kwargs.get("base_url"))
        return {s: Gateway(self.credential, s, per_retry_policies=[self._policy], **kwargs) for s in subscriptions}

    def list_subscriptions(self) -> tuple[str, ...]:
        """Every enabled subscription the credential sees (``GET /subscriptions``)."""
        with Gateway(self.credential, "00000000-0000-0000-0000-000000000000", **self.client_kwargs) as gw:
            return gw.resource_graph().list_subscriptions()

    def _emit(self, phase: str, done: int, total: int, outcomes: Counter[str]) -> None:
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(phase, done, total, dict(outcomes)))

    # -- per VM ---------------------------------------------------------------------------------

    def _plans(self, observation: VmObservation, diagnosis: Any, options: ScanOptions) -> tuple[tuple[str, ...], tuple[Plan, ...]]:
        """Triage's playbooks and their plans: pure functions of the observation (no request)."""
        # The packaged file when none was given, so the scan's rails gate its rules as the CLI's do.
        pf = self.playbook_file if self.playbook_file is not None else default_playbook_file()
        rails = getattr(pf, "guard_rails", None)
        if rails is not None and any(given_rails(options).values()):
            from dataclasses import replace

            pf = replace(pf, guard_rails=replace(rails, **given_rails(rails, options)))
        requests = requests_from_findings(diagnosis, pf)
        plans = []
        for req in requests:
            cls = get_playbook(req.playbook_id)
            merged = {**dict(req.options), **dict(options.options.get(req.playbook_id, {}))}
            if not options.wait and "wait" in cls.options:
                merged["wait"] = False
            plans.append(cls.plan(observation, cls.resolve(merged)))
        return tuple(r.playbook_id for r in requests), tuple(plans)

    def _gated_steps(self, plans: Sequence[Plan], options: ScanOptions) -> tuple[str, ...]:
        """Rails that planned steps need and the scan was not given (apply would refuse them)."""
        given = given_rails(options, getattr(self.playbook_file, "guard_rails", None))
        return tuple(dict.fromkeys(s.rail.name for p in plans for s in p.steps
                                   if s.rail is not None and not given.get(s.rail.name, False)))

    def _rails_needed(self, gw: Gateway, diagnosis: Any, observation: VmObservation,
                      options: ScanOptions) -> tuple[str, ...]:
        runner = Runner(gw, playbook_file=self.playbook_file, check_options=self.check_options)
        return runner.rails_needed(diagnosis, observation, RunOptions(
            **given_rails(options), wait=options.wait, options=options.options))

    def _examine(self, gw: Gateway, candidate: Candidate, options: ScanOptions,
                 job_vaults: Mapping[str, frozenset[str]] | None = None) -> _Examined:
        vm = candidate.vm
        base = VmResult(vm=vm.id, subscription=vm.subscription_id, outcome=Outcome.ERROR,
                        reasons=candidate.reasons, error_code=candidate.error_code)
        try:
            confirmed: bool | None = None
            code = candidate.error_code
            if candidate.job is not None:  # confirm with job details before any action
                job = gw.get_job(candidate.job)
                confirmed = job.is_failed or job.is_in_progress
                if job.primary_error is not None and job.primary_error.error_title:
                    code = job.primary_error.error_title
            if job_vaults is not None:
                # Resource Graph listed every vault holding a job of this VM in 14 days: the others
                # need no per-VM job listing (one request saved per candidate and other vault).
                seen = job_vaults.get(vm.id.casefold(), frozenset())
                for vault in gw.list_vaults():
                    if vault.ref.id.casefold() not in seen:
                        gw.prime_vm_jobs(vault.ref, vm, ())
            observation = observe_vm(gw, vm, vault_hint=candidate.vault, concurrent=False)
            diagnosis = diagnosis_for(observation, options=self.check_options)
            explained = explained_outside_guest(diagnosis) if points_into_guest(observation) else None
            if options.probe_guest and points_into_guest(observation) and observation.vm is not None \
                    and explained is None:
                # One read-only probe per VM, and only a few at once: each holds a Run Command for a while.
                with self._probe_slots or threading.BoundedSemaphore(1):
                    probe = GuestChannel(gw).probe(observation.vm)
                observation = replace(observation, guest_probe=probe)
                diagnosis = with_guest_findings(diagnosis, guest_findings(probe))
            findings = tuple(f.code for f in diagnosis.findings if f.severity.value != "info")
            if diagnosis.is_healthy:
                return _Examined(VmResult(vm.id, vm.subscription_id, Outcome.HEALTHY, candidate.reasons,
                                          confirmed, code, findings))
            playbooks, plans = self._plans(observation, diagnosis, options)
            changes = any(p.steps for p in plans)
            outcome = Outcome.NEEDS_FIX if _fixes(plans, code) and set(playbooks) - _INSPECTION else \
                Outcome.REPORT_ONLY
            if any(p.refusals for p in plans) and not changes:
                outcome = Outcome.REFUSED
            steps = tuple((s.kind, StepStatus.PLANNED.value, s.target) for p in plans for s in p.steps)
            refusals = "; ".join(r for p in plans for r in p.refusals) or None
            needed = self._rails_needed(gw, diagnosis, observation, options)
            gated = self._gated_steps(plans, options)
            if gated:
                needed = tuple(dict.fromkeys((*gated, *needed)))
            if needed and (gated or outcome is not Outcome.NEEDS_FIX):
                # The documented fix is there but its guard rail was not given: say which flag.
                outcome = Outcome.REFUSED
                refusals = "; ".join(filter(None, (refusals, *(f"needs {rail_named(r).flag}" for r in needed))))
            if explained is not None:
                # The path explains the error: fix it first; the guest is read only if it still fails.
                refusals = "; ".join(filter(None, (refusals, f"the guest was not probed: {explained} explains the "
                                                   f"job's error (after the path's fix, `{probe_command(vm.id)}`)")))
            elif not options.probe_guest and points_into_guest(observation):
                # The error points into a guest that can be asked: say how to read it (the scan only with the flag).
                refusals = "; ".join(filter(None, (refusals, "the job's error points inside the guest: scan "
                                                   f"--probe-guest, or `{probe_command(vm.id)}`, reads it")))
            return _Examined(VmResult(vm.id, vm.subscription_id, outcome, candidate.reasons, confirmed,
                                      code or (findings[0] if findings else None), findings, playbooks, steps,
                                      refusals), observation, plans)
        except ThrottledError as exc:
            return _Examined(_with(base, Outcome.THROTTLED, str(exc)))
        except AzBackupFixError as exc:
            return _Examined(_with(base, Outcome.ERROR, one_line(exc)))

    def _fix(self, gw: Gateway, examined: _Examined, options: ScanOptions, *, shared: bool = False) -> VmResult:
        """``shared``: the coordinator removed a lock this VM's plan named. Its run then keeps the playbooks
        chosen while the lock was there (with the lock gone, a ReadOnly-caused failure would route only to
        inspection) and waits for its verification backup, which must finish before the lock comes back."""
        result = examined.result
        vm = VmRef.parse(result.vm)
        # The examination just read this VM's network path; another VM's run must not make this one read it again.
        runner = Runner(gw, journal=self.journal, playbook_file=self.playbook_file, check_options=self.check_options,
                        keep_network_reads=True)
        run_options = RunOptions(apply=True, **given_rails(options),
                                 wait=options.wait or shared, options=options.options,
                                 playbooks=result.playbooks if shared and result.playbooks else None)
        try:
            report: RunReport = runner.run(vm, run_options, events=self.events, interrupt=self.interrupt)
        except ThrottledError as exc:
            return _with(result, Outcome.THROTTLED, str(exc))
        except AzBackupFixError as exc:
            return _with(result, Outcome.FAILED, one_line(exc))
        steps = tuple((s.step, s.status.value, s.target) for s in report.steps)
        if report.failures:
            outcome, detail = Outcome.FAILED, "; ".join(f"{s.step}: {s.reason}" for s in report.failures)
        elif report.refused:
            # The run's refusals, else each refused step's reason (a guard rail stops one playbook).
            reasons = report.refusals or tuple(f"{s.step}: {s.reason}" for s in report.steps if s.refused)
            outcome, detail = Outcome.REFUSED, "; ".join(reasons) or None
        elif any(s.status is StepStatus.CHANGED for s in report.steps):
            outcome, detail = Outcome.FIXED, None
        elif result.error_code and result.error_code in report.diagnosis_codes:
            # Nothing to change by now (say the shared lock its plan named was the coordinator's to
            # remove), but the failure is still diagnosed: not "nothing to do" for whoever reads this.
            outcome, detail = Outcome.REPORT_ONLY, f"no Azure-side change applies now; still {result.error_code}"
        else:
            outcome, detail = Outcome.NOTHING_TO_DO, None
        return VmResult(result.vm, result.subscription, outcome, result.reasons, result.confirmed,
                        result.error_code, result.findings, tuple(p.playbook for p in report.playbooks),
                        steps, detail)

    # -- the run --------------------------------------------------------------------------------

    def scan(self, options: ScanOptions) -> FleetReport:
        if not options.subscriptions:
            raise InvalidInputError("no subscription to scan")
        if options.apply and self.journal is None:
            raise InvalidInputError("applying needs a journal (journal=...)")
        started = time.monotonic()
        self._probe_slots = threading.BoundedSemaphore(max(1, options.guest_probe_limit))
        store = open_progress(self.journal) if self.journal is not None else None
        scan_id, resumed = (store.open_scan(options.key_arguments(), resume=options.resume, fresh=options.fresh)
                            if store is not None else ("scan-unrecorded", False))
        done = store.done(scan_id) if store is not None else {}
        gateways = self._gateways(options.subscriptions, max(options.worker_count, options.fix_worker_count))
        throttled_before = self.budget.throttled
        pool = ThreadPoolExecutor(max_workers=options.worker_count, thread_name_prefix="azbf-scan")
        try:
            self._emit("discover", 0, 0, Counter())
            found = discover(gateways, vaults=options.vaults, use_resource_graph=options.use_resource_graph,
                             stuck_after=options.stuck_after, on_signal=_warmer(pool, gateways, options.shard, done))
            for gw in gateways.values():  # with Resource Graph, read one VM's jobs, not whole vaults
                gw.per_vm_job_listing = found.source == RESOURCE_GRAPH
            mine = [c for c in found.candidates if in_shard(c.vm, options.shard) and options.targets(c.vm)]
            results: dict[str, VmResult] = {k: VmResult.from_dict(v) for k, v in done.items()}
            todo = _interleave([c for c in mine if c.vm.id.casefold() not in results])
            job_vaults = found.job_vaults if found.source == RESOURCE_GRAPH else None
            lock_actions = self._run(pool, gateways, todo, options, results, store, scan_id, len(mine), job_vaults)
            if store is not None:
                store.finish(scan_id)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for gw in gateways.values():
                gw.close()
            if self._transport is not None:
                self._transport.close()
                self._transport = None
            if store is not None:
                store.close()
        order = {c.vm.id.casefold(): i for i, c in enumerate(mine)}
        vms = tuple(sorted(results.values(), key=lambda r: order.get(r.vm.casefold(), len(order))))
        return FleetReport(
            scan_id=scan_id, mode="apply" if options.apply else "diagnose", source=found.source,
            vms_seen=found.vms_seen, candidates=len(mine), vms=vms,
            request_count=sum(g.request_count for g in gateways.values()),
            throttled=self.budget.throttled - throttled_before, elapsed_seconds=time.monotonic() - started,
            shard=f"{options.shard[0]}/{options.shard[1]}", resumed=resumed, fallback_reason=found.fallback_reason,
            lock_actions=tuple(lock_actions))

    def _run(self, pool: ThreadPoolExecutor, gateways: Mapping[str, Gateway], todo: list[Candidate],
             options: ScanOptions, results: dict[str, VmResult], store: ProgressStore | None, scan_id: str,
             total: int, job_vaults: Mapping[str, frozenset[str]] | None) -> list[tuple[str, str, str]]:
        outcomes: Counter[str] = Counter(r.outcome for r in results.values())
        mutex = threading.Lock()
        examined: dict[str, _Examined] = {}

        def finish(result: VmResult, phase: str) -> None:
            with mutex:
                results[result.vm.casefold()] = result
                outcomes[result.outcome] += 1
                if store is not None:
                    store.record(scan_id, result.vm, result.to_dict())
                self._emit(phase, len(results), total, outcomes)

        def examine(c: Candidate) -> None:
            ex = self._examine(gateways[c.vm.subscription_id], c, options, job_vaults)
            if options.apply and ex.result.outcome == Outcome.NEEDS_FIX:
                with mutex:
                    examined[c.vm.id.casefold()] = ex  # recorded once fixed (or not)
            else:
                finish(ex.result, "diagnose")

        list(pool.map(examine, todo))
        if not options.apply or not examined:
            return []
        limit = options.max_targets if options.max_targets is not None else \
            getattr(getattr(self.playbook_file, "guard_rails", None), "max_targets", None)
        if limit is not None and len(examined) > limit:
            raise GuardRailError(f"{len(examined)} VMs to fix exceed the limit of {limit} (--max-targets)")
        planned = {k: (e.observation, e.plans) for k, e in examined.items() if e.observation}
        locks = shared_locks(planned)
        behind_shared = {vm for _, vms in locks.values() for vm in vms}
        run_id = self.journal.start_run(command="scan", targets=sorted({lk.ref.id for lk, _ in locks.values()}))
        coordinator = LockCoordinator(gateways, self.journal, run_id, locks, leave=left_by_plans(planned))
        status = "failed"
        try:
            coordinator.remove_all()

            def fix(item: tuple[str, _Examined]) -> None:
                key, ex = item
                if self.interrupt.requested:  # the first Ctrl-C: no further VM is started
                    coordinator.vm_done(key)
                    return
                try:
                    result = self._fix(gateways[ex.result.subscription], ex, options, shared=key in behind_shared)
                finally:
                    coordinator.vm_done(key)
                finish(result, "apply")

            # A fix waits mostly on its long-running operations: more of them in flight than reads in the
            # diagnosis (default_fix_workers), the budget still keeping every subscription under ARM's limits.
            fixers = ThreadPoolExecutor(max_workers=options.fix_worker_count, thread_name_prefix="azbf-fix")
            try:
                list(fixers.map(fix, list(examined.items())))
            finally:
                fixers.shutdown(wait=True, cancel_futures=True)  # an exception here starts no further VM
            status = "succeeded"
        finally:
            with self.interrupt.shield():  # a further Ctrl-C cannot abort the restoring PUTs
                coordinator.restore_remaining()
            self.journal.finish_run(run_id, status=status)
        return [(a.step, a.status, a.lock_id) for a in coordinator.actions]


def _fixes(plans: Sequence[Plan], error_code: str | None) -> bool:
    """Whether the plans address the failure: a step besides the closing on-demand backup, or a failure
    whose documented fix is that backup (an internal error: retry). A backup triggered while the cause
    (an unreachable agent, a disk too large) stays would fail again: that VM is report-only."""
    kinds = [s.kind for p in plans for s in p.steps]
    retry = get_playbook("trigger-backup").error_codes
    return any(k != TriggerBackup.kind for k in kinds) or (TriggerBackup.kind in kinds and error_code in retry)


def _warmer(pool: ThreadPoolExecutor, gateways: Mapping[str, Gateway], shard: tuple[int, int],
            done: Mapping[str, Any]) -> Callable[[VmRef], None]:
    """Discovery's ``on_signal``: at the first candidate of a subscription, queue the reads its VMs share
    (:func:`~azbackup_fix.gateway.shared_reads`) on the scan's pool, so they run while Resource Graph is
    still paging, with ARM's buckets still full, instead of holding up the first VMs examined after it.
    A failed read is only a cache miss: the VM that needs it reads it again and reports the error."""
    by_folded = {s.casefold(): gw for s, gw in gateways.items()}
    warmed: set[str] = set()
    lock = threading.Lock()

    def queue_reads(gw: Gateway) -> None:
        for read in shared_reads(gw):
            pool.submit(read)

    def on_signal(vm: VmRef) -> None:
        sub = vm.subscription_id.casefold()
        if vm.id.casefold() in done or not in_shard(vm, shard) or sub not in by_folded:
            return
        with lock:
            if sub in warmed:
                return
            warmed.add(sub)
        pool.submit(queue_reads, by_folded[sub])

    return on_signal


def _pooled_transport(workers: int, connection_verify: Any, base_url: str | None) -> Any:
    """One connection pool for every gateway, as large as the worker count (requests' default is 10:
    more workers would open and drop a TLS connection per request).

    The environment (proxies, CA bundle) is read once for the one ARM host instead of on every
    request, which cost about a millisecond of CPU per request at fleet rates."""
    import os

    import requests
    with SDK_IMPORT_LOCK:  # sdk_imports.py
        from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(10, workers + 4))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.proxies.update(requests.utils.get_environ_proxies(base_url or "https://management.azure.com"))
    session.trust_env = False
    if connection_verify is None:
        connection_verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
    extra = {"connection_verify": connection_verify} if connection_verify is not None else {}
    return RequestsTransport(session=session, session_owner=True, **extra)


def _interleave(candidates: list[Candidate]) -> list[Candidate]:
    """Round-robin over subscriptions: each has its own ARM buckets, so spreading the work spends them in parallel."""
    queues: dict[str, list[Candidate]] = {}
    for c in candidates:
        queues.setdefault(c.vm.subscription_id.casefold(), []).append(c)
    out: list[Candidate] = []
    for i in range(max((len(q) for q in queues.values()), default=0)):
        out.extend(q[i] for q in queues.values() if i < len(q))
    return out


def _with(result: VmResult, outcome: str, detail: str | None) -> VmResult:
    return VmResult(result.vm, result.subscription, outcome, result.reasons, result.confirmed, result.error_code,
                    result.findings, result.playbooks, result.steps, detail, result.requests)
