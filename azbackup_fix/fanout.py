"""Fan-out on Azure Automation: a fleet scan split into N child jobs (shards ``K/N``) of the azbackup-fix
runbook, submitted through azure-mgmt-automation, polled, and merged into one fleet report.

Within Automation's limits: at most 100 job submissions per 30 seconds per account (the parent paces
itself; a 429 is also retried after its Retry-After) and the account's concurrent jobs (``max_concurrent``;
a job Automation refuses because the account is full is submitted again once a child has finished).
Each child's report is the last JSON line of its Output stream. A child that fair share evicted (Stopped,
"evicted") is submitted again with the same parameters and resumes from the journal the children share;
after ``max_resubmits`` it is reported as failed, as Automation itself gives up on a job evicted three
times. A child that fails without a report is reported with its Error stream's last line, never dropped.

Interrupting the parent (Ctrl-C, or the parent job being stopped) stops no child: every job it started
is in the report with its id and last known status, to be followed with ``az automation job show``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInputError
from .fleet.report import FleetReport, VmResult
from .gateway.automation import AutomationAccountRef, AutomationGateway, ChildJobState
from .gateway.budget import ARM_RATES, BucketRate
from .models.exit_codes import worst
from .models.rails import GUARD_RAILS

__all__ = ["DEFAULT_RUNBOOK", "ChildResult", "FanOut", "FanOutOptions", "FanOutReport", "FANOUT_SCHEMA", "child_arguments", "shared_rates",
           "SubmissionWindow", "child_report", "merge_fleet_reports"]

FANOUT_SCHEMA = "azbackup-fix/fanout/v1"
DEFAULT_RUNBOOK = "azbackup-fix"
SUBMISSIONS_PER_WINDOW = 100  # Automation: job submissions per account ...
SUBMISSION_WINDOW = 30.0  # ... every 30 seconds
MAX_CHILDREN = 1000
_EVICTED = "evicted"  # Automation's text on a job that fair share unloaded


@dataclass(frozen=True, slots=True)
class FanOutOptions:
    account: AutomationAccountRef
    children: int
    arguments: tuple[str, ...]  # every child's runbook arguments, without --shard
    runbook: str = DEFAULT_RUNBOOK
    hybrid_worker_group: str | None = None
    max_concurrent: int = 50
    max_resubmits: int = 3
    poll_seconds: float = 30.0
    # "shard": child K scans every subscription's K-th hash shard (K/N); "subscription": child K scans the
    # K-th share of the subscriptions whole: no discovery repeated, and no ARM buckets shared.
    split: str = "shard"
    # Client ids of user-assigned managed identities for the children, used in turn: ARM throttles per
    # subscription and principal, so children with identities of their own have buckets of their own.
    identities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.split not in ("shard", "subscription"):
            raise InvalidInputError(f"--fan-out-by must be shard or subscription, got '{self.split}'")
        if self.split == "subscription" and len(_subscriptions(self.arguments)) < self.children:
            raise InvalidInputError(f"--fan-out-by subscription needs at least {self.children} subscriptions, "
                                    f"got {len(_subscriptions(self.arguments))}")
        if not 1 <= self.children <= MAX_CHILDREN:
            raise InvalidInputError(f"--fan-out must be between 1 and {MAX_CHILDREN}, got {self.children}")
        if self.max_concurrent < 1:
            raise InvalidInputError(f"--max-concurrent-jobs must be at least 1, got {self.max_concurrent}")
        if any(a == "--shard" or a.startswith("--shard=") for a in self.arguments):
            raise InvalidInputError("--shard does not go with --fan-out (the parent gives each child its shard)")


@dataclass(frozen=True, slots=True)
class ChildResult:
    shard: str
    jobs: tuple[str, ...]  # every job submitted for this shard, the last one decisive
    status: str  # the last job's status; "NotStarted" if never submitted
    report: Mapping[str, Any] | None = None  # the child's runbook report (its last output line)
    error: str | None = None
    resubmits: int = 0

    @property
    def ok(self) -> bool:
        return self.report is not None and "fleet" in self.report

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.shard, "jobs": list(self.jobs), "status": self.status, "resubmits": self.resubmits,
                "error": self.error, "exit_code": (self.report or {}).get("exit_code"),
                "scan_id": ((self.report or {}).get("fleet") or {}).get("scan_id")}


@dataclass(frozen=True, slots=True)
class FanOutReport:
    account: str
    runbook: str
    children: tuple[ChildResult, ...]
    fleet: FleetReport
    interrupted: bool = False
    requests: int = 0

    @property
    def failed(self) -> tuple[ChildResult, ...]:
        return tuple(c for c in self.children if not c.ok)

    @property
    def exit_code(self) -> int:
        return worst([self.fleet.exit_code, *([1] if self.failed else [])])

    def to_dict(self) -> dict[str, Any]:
        return {"schema": FANOUT_SCHEMA, "account": self.account, "runbook": self.runbook,
                "interrupted": self.interrupted, "automation_requests": self.requests, "exit_code": self.exit_code,
                "children": [c.to_dict() for c in self.children], "fleet": self.fleet.to_dict()}


class SubmissionWindow:
    """At most ``limit`` submissions in any ``window`` seconds (a sliding window on ``clock``)."""

    def __init__(self, limit: int = SUBMISSIONS_PER_WINDOW, window: float = SUBMISSION_WINDOW, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._times: deque[float] = deque()

    def wait_seconds(self) -> float:
        now = self._clock()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        return 0.0 if len(self._times) < self.limit else self._times[0] + self.window - now

    def record(self) -> None:
        self._times.append(self._clock())


def child_report(output: str) -> Mapping[str, Any] | None:
    """A runbook job's report: the last line of its Output stream that is a JSON object."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def merge_fleet_reports(reports: Sequence[Mapping[str, Any]], *, scan_id: str, elapsed: float,
                        disjoint: bool = False) -> FleetReport:
    """One fleet report from the children's: each one hash shard of the same discovery, or with ``disjoint``
    each its own subscriptions (then the VMs seen add up)."""
    vms: dict[str, VmResult] = {}
    for report in reports:
        for vm in report.get("vms") or ():
            result = VmResult.from_dict(vm)
            vms[result.vm.casefold()] = result
    discovery = [r.get("discovery") or {} for r in reports]
    seen = [int(d.get("vms_seen") or 0) for d in discovery]
    modes = {r.get("mode") for r in reports}
    return FleetReport(
        scan_id=scan_id, mode="apply" if "apply" in modes else "diagnose",
        source=next((d.get("source") for d in discovery if d.get("source")), "resource-graph"),
        vms_seen=sum(seen) if disjoint else max(seen, default=0),
        candidates=sum(int(d.get("candidates") or 0) for d in discovery),
        vms=tuple(sorted(vms.values(), key=lambda v: v.vm.casefold())),
        request_count=sum(int(r.get("request_count") or 0) for r in reports),
        throttled=sum(int(r.get("throttled") or 0) for r in reports), elapsed_seconds=elapsed,
        shard=f"fan-out {len(reports)}", resumed=any(bool(r.get("resumed")) for r in reports),
        fallback_reason=next((d.get("fallback_reason") for d in discovery if d.get("fallback_reason")), None),
        lock_actions=tuple((a["step"], a["status"], a["lock"]) for r in reports for a in r.get("lock_actions") or ()))


@dataclass
class _Child:
    k: int
    n: int
    jobs: list[str] = field(default_factory=list)
    resubmits: int = 0
    state: ChildJobState | None = None
    result: ChildResult | None = None

    @property
    def shard(self) -> str:
        return f"{self.k}/{self.n}"


class FanOut:
    """Run one fan-out: ``run(options)`` submits, polls, resubmits and merges. ``sleep`` and ``clock`` are
    injectable (tests); ``on_event`` gets one line per child event (submitted, finished, resubmitted)."""

    def __init__(self, gateway: AutomationGateway, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, on_event: Callable[[str], None] | None = None,
                 new_name: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.gateway, self._sleep, self._clock = gateway, sleep, clock
        self._say = on_event or (lambda _line: None)
        self._new_name = new_name

    def run(self, options: FanOutOptions) -> FanOutReport:
        started = self._clock()
        children = [_Child(k, options.children) for k in range(1, options.children + 1)]
        pending: deque[_Child] = deque(children)
        running: list[_Child] = []
        window = SubmissionWindow(clock=self._clock)
        interrupted = False
        try:
            while pending or running:
                self._submit(pending, running, window, options)
                self._sleep(options.poll_seconds)
                for child in list(running):
                    state = self.gateway.job(child.jobs[-1])
                    child.state = state
                    if not state.finished:
                        continue
                    running.remove(child)
                    if self._evicted(state) and child.resubmits < options.max_resubmits:
                        child.resubmits += 1
                        self._say(f"shard {child.shard}: job {state.name} evicted by fair share; submitting it "
                                  f"again ({child.resubmits}/{options.max_resubmits}), it resumes from the journal")
                        pending.appendleft(child)
                        continue
                    child.result = self._collect(child, state)
                    self._say(f"shard {child.shard}: job {state.name} {state.status}"
                              f"{'' if child.result.ok else f': {child.result.error}'}")
        except KeyboardInterrupt:
            # Stop nothing: every child started so far keeps running and is in the report by its job id.
            interrupted = True
        results = tuple(c.result or ChildResult(
            c.shard, tuple(c.jobs), c.state.status if c.state else ("New" if c.jobs else "NotStarted"),
            error=(f"left running: job {c.jobs[-1]} (the parent was interrupted; it was not stopped)"
                   if c.jobs else "not started (the parent was interrupted)"), resubmits=c.resubmits)
            for c in children)
        fleet = merge_fleet_reports([c.report["fleet"] for c in results if c.ok and c.report is not None],
                                    scan_id=f"fanout-{uuid.uuid4().hex[:12]}", elapsed=self._clock() - started,
                                    disjoint=options.split == "subscription")
        return FanOutReport(options.account.id, options.runbook, results, fleet, interrupted,
                            self.gateway.request_count)

    def _submit(self, pending: deque[_Child], running: list[_Child], window: SubmissionWindow,
                options: FanOutOptions) -> None:
        while pending and len(running) < options.max_concurrent:
            wait = window.wait_seconds()
            if wait > 0:
                self._sleep(wait)
            child = pending[0]
            name = self._new_name()
            arguments = _child_arguments(options, child.k)
            window.record()
            if not self.gateway.start_job(name, options.runbook, arguments, run_on=options.hybrid_worker_group):
                return  # the account is at its concurrent-jobs limit: again after the next poll
            pending.popleft()
            child.jobs.append(name)
            child.state = ChildJobState(name, "New")
            running.append(child)
            self._say(f"shard {child.shard}: submitted job {name}")

    @staticmethod
    def _evicted(state: ChildJobState) -> bool:
        return state.status == "Stopped" and _EVICTED in (state.exception or "").lower()

    def _collect(self, child: _Child, state: ChildJobState) -> ChildResult:
        report = child_report(self.gateway.output(state.name)) if state.status in ("Completed", "Failed") else None
        error = None
        if report is None or "fleet" not in report:
            error = self.gateway.last_error(state.name) or state.exception or f"the job ended {state.status} " \
                                                                               "without a report"
            if state.status == "Stopped" and self._evicted(state):
                error = f"evicted by fair share {child.resubmits + 1} times: {error}"
        return ChildResult(child.shard, tuple(child.jobs), state.status, report, error, child.resubmits)


def _subscriptions(arguments: Sequence[str]) -> list[str]:
    return [arguments[i + 1] for i, a in enumerate(arguments[:-1]) if a == "--subscription"]


def _without(arguments: Sequence[str], flag: str, keep: Callable[[str], bool]) -> list[str]:
    """``arguments`` without the ``flag VALUE`` pairs whose value ``keep`` rejects."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(arguments):
        if skip:
            skip = False
            continue
        if arg == flag and i + 1 < len(arguments):
            skip = True
            if keep(arguments[i + 1]):
                out += [arg, arguments[i + 1]]
            continue
        out.append(arg)
    return out


def _child_arguments(options: FanOutOptions, k: int) -> tuple[str, ...]:
    n = options.children
    out = list(options.arguments)
    identity = None
    if options.identities:
        identity = options.identities[(k - 1) % len(options.identities)]
        out = [*_without(out, "--client-id", lambda _value: False), "--client-id", identity]
    if options.split == "subscription":  # the k-th share of the subscriptions, whole: buckets of its own
        mine = set(_subscriptions(options.arguments)[k - 1::n])
        return tuple(_without(out, "--subscription", mine.__contains__))
    # Children with the same identity share each subscription's ARM buckets: each takes its part of them.
    share = sum(1 for j in range(1, n + 1) if identity is None
                or options.identities[(j - 1) % len(options.identities)] == identity)
    return (*out, "--shard", f"{k}/{n}", *(("--arm-share", str(share)) if share > 1 else ()))


def shared_rates(share: int) -> dict[str, BucketRate]:
    """ARM's buckets for one of ``share`` jobs with the same principal (capacity and refill split evenly)."""
    if share < 1:
        raise InvalidInputError(f"--arm-share must be at least 1, got {share}")
    return {kind: BucketRate(rate.capacity / share, rate.refill_per_second / share) for kind, rate in ARM_RATES.items()}


def child_arguments(*, mode: str, subscriptions: Sequence[str], journal: str | None,
                    rails: Mapping[str, bool] | None = None, no_wait: bool = False, leave_locks_removed: bool = False,
                    max_targets: int | None = None, workers: int | None = None, arm_endpoint: str | None = None,
                    cloud: str | None = None, client_id: str | None = None,
                    playbooks: str | None = None, probe_guest: bool = False,
                    guest_storage_endpoint: str | None = None,
                    backup_service_object_id: str | None = None) -> tuple[str, ...]:
    """The runbook arguments every child gets (the parent adds ``--shard K/N``); ``rails`` by name, as
    :func:`~azbackup_fix.models.rails.given_rails` gives them. The children share the journal: it must be
    a location every worker reaches (a Hybrid Worker's disk; the Blob journal)."""
    if mode not in ("scan", "scan-apply"):
        raise InvalidInputError(f"a fan-out child scans (scan or scan-apply), not '{mode}'")
    if not subscriptions:
        raise InvalidInputError("a fan-out needs at least one --subscription")
    if not journal:
        raise InvalidInputError("fan-out children resume from the journal they share: give --journal with a "
                                "location every worker reaches")
    out = ["--mode", mode]
    for sub in subscriptions:
        out += ["--subscription", sub]
    out += ["--journal", journal]
    given = dict(rails or {})
    flags = {**{rail.flag: bool(given.get(rail.name)) for rail in GUARD_RAILS},
             "--no-wait": no_wait, "--leave-locks-removed": leave_locks_removed, "--probe-guest": probe_guest}
    out += [flag for flag, given in flags.items() if given]
    values = {"--max-targets": max_targets, "--workers": workers, "--arm-endpoint": arm_endpoint, "--cloud": cloud,
              "--client-id": client_id, "--playbooks": playbooks,
              # the parent's guest and Key Vault settings: a child checks its VMs as the parent would
              "--guest-storage-endpoint": guest_storage_endpoint,
              "--backup-service-object-id": backup_service_object_id}
    for flag, value in values.items():
        if value is not None:
            out += [flag, str(value)]
    return tuple(out)
