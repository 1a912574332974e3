"""The runner: triage -> plan (pure) -> guard rails -> apply (or dry-run) -> verify, for one target.

Dry-run is the default and sends no write request at all: every planned step is reported
``planned``. Applying first puts back locks a killed run left pending (the journal's
recovery), then runs each playbook's steps in order. A failed step skips the rest of its
playbook except steps marked ``always`` (lock restores), so a lock is put back whatever
happens; other playbooks still run, and every step gets exactly one outcome.

When applying, each playbook after the first that ran a step is planned again from fresh state
(resume protection, then back up, in one run). The run's one on-demand backup is held (skipped, with
why) after a failed or refused step, or while a diagnosed cause would make it fail
(:func:`~azbackup_fix.checks.backup_blockers`): the day's on-demand backups are few. Guard rails
(:data:`~azbackup_fix.models.GUARD_RAILS`) come from the run's keywords or the playbook file, and
nothing else; a rule the file withheld for a missing rail is named in ``RunReport.rails_needed``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from .checks import DEFAULT_OPTIONS, CheckOptions, backup_blockers, diagnosis_for
from .errors import AzBackupFixError, GuardRailError
from .gateway import Gateway, observe_vm
from .ids import ScopeKind, VmRef
from .models import Diagnosis, Finding, VmObservation
from .models.events import EventSink, Interrupt, RunEvent
from .models.rails import given_rails
from .models.report import PlaybookResult, RunReport, StepOutcome, StepStatus
from .playbook_file import fold_code
from .playbooks import Plan, get_playbook
from .steps import (
    DELETE_STARTED,
    DeleteLock,
    DeleteRestorePointCollection,
    LeaveLockRemoved,
    RestoreLock,
    Step,
    StepContext,
    TriggerBackup,
)

INTERRUPTED = "not started: the run was interrupted"

__all__ = ["INTERRUPTED", "PlaybookRequest", "RunOptions", "Runner", "default_playbook_file", "requests_from_findings",
           "with_journaled_deletions"]


@dataclass(frozen=True, slots=True)
class PlaybookRequest:
    """Run ``playbook_id`` with ``options`` because of ``reason_codes`` (triage's answer)."""

    playbook_id: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    reason_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: ``apply`` (default dry-run), permissions, limits and per-playbook options."""

    apply: bool = False
    # One field per guard rail (models.rails.GUARD_RAILS; a meta-test checks they match).
    allow_disruptive: bool = False
    allow_protection_changes: bool = False
    allow_network_changes: bool = False
    allow_guest_changes: bool = False
    allow_permission_changes: bool = False
    allow_extension_changes: bool = False
    max_targets: int | None = None
    # Dry-run: read the guest (Run Command, an ARM write) only when asked; applying with the guest rail probes.
    probe_guest: bool = False
    wait: bool = True  # wait for triggered backups' jobs (hard timeout per playbook option)
    playbooks: tuple[str, ...] | None = None  # run exactly these instead of triage's choice
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))


def requests_from_findings(diagnosis: Diagnosis, playbook_file: Any = None) -> tuple[PlaybookRequest, ...]:
    """Route a diagnosis through the playbook file (``None``: the packaged default.yaml, as the CLI and
    the runbook do, so every entry point routes alike)."""
    from .triage import route

    pf = playbook_file if playbook_file is not None else default_playbook_file()
    return tuple(PlaybookRequest(r.playbook_id, r.options, tuple(r.reason_codes)) for r in route(diagnosis, pf))


@functools.cache
def default_playbook_file() -> Any:
    """The packaged default.yaml, parsed once per process (immutable: frozen dataclasses, read-only maps)."""
    from .playbook_file import load_playbook_file

    return load_playbook_file(None)


Router = Callable[[Diagnosis], Sequence[PlaybookRequest]]


def with_journaled_deletions(observation: VmObservation, journal: Any) -> VmObservation:
    """The observation plus the VM's collections that a journaled run began deleting (a rerun finishes
    that fix instead of refusing a limit claim its own deletions explain)."""
    if journal is None or not hasattr(journal, "changes_by_action"):
        return observation
    key = f"source {observation.vm_ref.id}".casefold()
    ids = tuple(dict.fromkeys(c.target for c in journal.changes_by_action(DELETE_STARTED)
                              if c.detail.casefold() == key))
    return replace(observation, journaled_deletions=ids) if ids else observation


def _trigger_owner(plans: list[tuple[PlaybookRequest, Plan]]) -> int | None:
    """Which playbook runs the run's one on-demand backup: the first that puts locks back after its own
    trigger (that backup must run before the locks return), otherwise the last that triggers one
    (trigger-backup runs last)."""
    triggering = [i for i, (_, p) in enumerate(plans) if _triggers(p)]
    guarded = [i for i in triggering if any(isinstance(s, (RestoreLock, LeaveLockRemoved)) for s in plans[i][1].steps)]
    return guarded[0] if guarded else max(triggering, default=None)


def _dedupe_triggers(plans: list[tuple[PlaybookRequest, Plan]]) -> list[tuple[PlaybookRequest, Plan]]:
    """One on-demand backup per run, in the playbook :func:`_trigger_owner` names."""
    owner = _trigger_owner(plans)
    return [(req, plan if i == owner else _without_trigger(plan)) for i, (req, plan) in enumerate(plans)]


def _triggers(plan: Plan) -> bool:
    return any(isinstance(s, TriggerBackup) for s in plan.steps)


def _without_trigger(plan: Plan) -> Plan:
    if not _triggers(plan):
        return plan
    return replace(plan, steps=tuple(s for s in plan.steps if not isinstance(s, TriggerBackup)),
                   notes=(*plan.notes, "the run's one on-demand backup is triggered by another of its playbooks"))


def _addressed(finding: Finding, playbook_ids: set[str]) -> bool:
    """Whether one of ``playbook_ids`` is a documented fix of ``finding``."""
    if set(finding.playbooks) & playbook_ids:
        return True
    code = fold_code(finding.code)
    return any(code in {fold_code(c) for c in get_playbook(pid).error_codes} for pid in playbook_ids)


def _probes_guest(req: PlaybookRequest, observation: VmObservation) -> bool:
    """A playbook that plans from a guest probe (fix-guest) the guest could answer: its rail is worth naming
    (the probe runs only with it, so its plan here is empty)."""
    from .guest import channel_problem

    if observation.vm is None or not getattr(get_playbook(req.playbook_id), "needs_guest_probe", False):
        return False
    return channel_problem(observation.vm) is None


def _refused(step: Step, why: str) -> StepOutcome:
    outcome = step.outcome(StepStatus.SKIPPED, reason=why, refused=True)
    rail = next((r.name for r in step.rails() if why.startswith(f"needs {r.flag}")), None)
    return replace(outcome, rail=rail)


class Runner:
    """Runs playbooks for VMs of one gateway's subscription.

    ``journal`` (a :class:`~azbackup_fix.journal.Journal`, or a zero-argument factory) is
    needed to apply plans that remove locks; ``router`` maps a diagnosis to playbook
    requests (default: the playbook file's routing; no file: the packaged default.yaml).
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        journal: Any = None,
        playbook_file: Any = None,
        router: Router | None = None,
        check_options: CheckOptions = DEFAULT_OPTIONS,
        pending_findings: Callable[[VmObservation], Sequence[Finding]] | None = None,
        keep_network_reads: bool = False,
    ) -> None:
        self.gateway = gateway
        # The caller read the network path moments ago through this gateway (a fleet scan's examination):
        # the run's plan starts from those reads; the run's own NSG change forgets them as always.
        self.keep_network_reads = keep_network_reads
        self._journal = journal
        self.playbook_file = playbook_file if playbook_file is not None else default_playbook_file()
        self.router: Router | None = router
        self.check_options = check_options
        self._events: EventSink | None = None
        self.pending_findings = pending_findings  # dry-run: the journal's pending locks, as findings
        self._interrupt = Interrupt()

    # -- journal ---------------------------------------------------------------------------------

    def journal(self) -> Any:
        if callable(self._journal) and not hasattr(self._journal, "record_lock_removal"):
            self._journal = self._journal()
        return self._journal

    # -- entry points ------------------------------------------------------------------------------

    def run_many(self, vms: Sequence[VmRef], options: RunOptions = RunOptions(), *,
                 events: EventSink | None = None, interrupt: Interrupt | None = None) -> tuple[RunReport, ...]:
        """Run each VM in turn; after an interrupt no further VM is started."""
        limit = self._max_targets(options)
        if limit is not None and len(vms) > limit:
            raise GuardRailError(f"{len(vms)} targets exceed the limit of {limit} (raise max_targets to allow)")
        reports = []
        for vm in vms:
            if interrupt is not None and interrupt.requested:
                break
            reports.append(self.run(vm, options, events=events, interrupt=interrupt))
        return tuple(reports)

    def _max_targets(self, options: RunOptions) -> int | None:
        if options.max_targets is not None:
            return options.max_targets
        rails = getattr(self.playbook_file, "guard_rails", None)
        return getattr(rails, "max_targets", None)

    def _allowed(self, options: RunOptions) -> dict[str, bool]:
        """Each guard rail: given as the run's keyword (CLI flag) or in the playbook file's guard_rails."""
        return given_rails(options, getattr(self.playbook_file, "guard_rails", None))

    def run(self, vm: VmRef, options: RunOptions = RunOptions(), *, events: EventSink | None = None,
            interrupt: Interrupt | None = None) -> RunReport:
        """``events`` receives progress as it happens (:class:`~azbackup_fix.models.events.RunEvent`);
        once ``interrupt`` is requested no new step starts, waits stop at their next poll, and removed
        locks are still put back (the report says ``interrupted``)."""
        gw = self.gateway
        self._events, self._interrupt = events, interrupt if interrupt is not None else Interrupt()
        start_count, start_writes = gw.counter.count, gw.counter.writes
        journal = self.journal() if options.apply else None
        run_id = journal.start_run(command="apply", targets=[vm.id]) if journal is not None else None
        status = "failed"
        try:
            report = self._run(vm, options, journal, run_id)
            status = "failed" if report.failures else "succeeded"
        finally:
            if journal is not None and run_id is not None:
                journal.finish_run(run_id, status=status)
        return replace(report, request_count=gw.counter.count - start_count,
                       write_count=gw.counter.writes - start_writes, interrupted=self._interrupt.requested)

    # -- the work ---------------------------------------------------------------------------------

    def _run(self, vm: VmRef, options: RunOptions, journal: Any, run_id: str | None) -> RunReport:
        gw = self.gateway
        if self._events is not None:
            self._events(RunEvent("vm", vm.id, f"{'applying to' if options.apply else 'planning'} {vm.name}"))
        recovered: list[str] = []
        refusals: list[str] = []
        if journal is not None:
            from .recovery import recover_locks

            for rec in recover_locks(journal, gw, run_id=run_id):
                recovered.append(f"{rec.lock.ref.id}: {rec.outcome}")
        gw.invalidate(keep_network=self.keep_network_reads)  # plans read current state
        observation = with_journaled_deletions(observe_vm(gw, vm), journal)
        diagnosis = diagnosis_for(observation, options=self.check_options)
        pending: tuple[Finding, ...] = ()
        if not options.apply and self.pending_findings is not None:
            # A plan says what an interrupted run left removed (apply puts it back first instead).
            pending = tuple(self.pending_findings(observation))
            diagnosis = replace(diagnosis, findings=(*diagnosis.findings, *pending))
        requests = self._requests(diagnosis, options)
        observation = self._with_guest_probe(observation, requests, options)
        withheld = self.rails_needed(diagnosis, observation, options)
        plans = _dedupe_triggers([(req, self._plan(req, observation, options)) for req in requests])
        # The one on-demand backup of the run: the playbook that kept its trigger, or else trigger-backup,
        # which may plan one once the playbooks before it have changed the state.
        owner = _trigger_owner(plans)
        if owner is None:
            owner = max((i for i, (req, _) in enumerate(plans) if req.playbook_id == "trigger-backup"), default=None)
        allowed = self._allowed(options)
        ctx = StepContext(gateway=gw, journal=journal, run_id=run_id, sleep=gw.sleep, events=self._events,
                          interrupt=self._interrupt)
        results: list[PlaybookResult] = []
        ran: list[tuple[PlaybookRequest, Plan]] = []
        held_for: tuple[str, ...] = ()
        obs, stale = observation, False
        for index, (req, plan) in enumerate(plans):
            if options.apply and stale and not ctx.interrupt.requested and req.playbook_id == "trigger-backup" \
                    and (index != owner or ctx.triggered_jobs):
                # Its one step is the run's backup, which another playbook owns: it would plan nothing on
                # fresh state either, so no re-read for it (11 requests a fix; the verification reads next).
                plan = _without_trigger(plan)
            elif options.apply and stale and not ctx.interrupt.requested:
                # Plan from the state the previous playbooks left (resume-protection, then the backup); once
                # per change: a playbook that changed nothing leaves the state as read. The network path
                # is kept unless an NSG rule changed (that write forgets it).
                gw.invalidate(keep_network=True)
                obs = with_journaled_deletions(observe_vm(gw, vm), journal)
                stale = False
                # The guest as last probed: a fix step's re-probe, else the probe before the run.
                obs = replace(obs, guest_probe=ctx.guest_probes.get(vm.id.casefold(), observation.guest_probe))
                plan = self._plan(req, obs, options)
                if index != owner or ctx.triggered_jobs:
                    plan = _without_trigger(plan)
            held, blockers = self._hold_trigger(plan, obs, results, options)
            held_for = held_for or blockers
            refusals.extend(f"{req.playbook_id}: {r}" for r in plan.refusals)
            outcomes = self._execute(plan, obs, options, ctx, allowed, held)
            results.append(PlaybookResult(req.playbook_id, outcomes, req.reason_codes, plan.notes))
            ran.append((req, plan))
            stale = stale or any(o.status not in (StepStatus.PLANNED, StepStatus.SKIPPED) for o in outcomes)
        if options.apply and not ctx.interrupt.requested \
                and any(o.status is StepStatus.CHANGED for r in results for o in r.steps):
            results = self._verify(vm, ran, results, options)
        return RunReport(
            target=vm.id,
            applied=options.apply,
            playbooks=tuple(results),
            refusals=tuple(refusals),
            recovered_locks=tuple(recovered),
            generated_at=gw.counter.server_time or datetime.now(timezone.utc),
            diagnosis_codes=tuple(f.code for f in diagnosis.findings),
            withheld_rails=withheld,
            # A fix its rail would allow is not "nothing can change it": the rail is named instead.
            report_only=() if withheld else self._report_only(observation, diagnosis, results, held_for, options),
            pending_locks=tuple(f.title for f in pending),
        )

    def _with_guest_probe(self, observation: VmObservation, requests: Sequence[PlaybookRequest],
                          options: RunOptions) -> VmObservation:
        """A read-only guest probe, when a routed playbook plans from one (fix-guest) and the guest can be asked:
        applying, with the guest rail; in a dry run only when asked (``probe_guest``). Run Command is a write to
        ARM and a dry run makes none unasked: fix-guest then plans to probe at apply time."""
        wanted = options.probe_guest if not options.apply else self._allowed(options).get("allow_guest_changes", False)
        if not wanted:
            return observation
        if observation.vm is None or not any(getattr(get_playbook(r.playbook_id), "needs_guest_probe", False)
                                             for r in requests):
            return observation
        from .guest import GuestChannel, channel_problem

        if channel_problem(observation.vm) is not None:
            return observation
        return replace(observation, guest_probe=GuestChannel(self.gateway).probe(observation.vm))

    def _plan(self, req: PlaybookRequest, observation: VmObservation, options: RunOptions) -> Plan:
        return get_playbook(req.playbook_id).plan(observation, self._opts(req, options))

    def _hold_trigger(self, plan: Plan, obs: VmObservation, earlier: Sequence[PlaybookResult],
                      options: RunOptions) -> tuple[dict[int, str], tuple[str, ...]]:
        """Trigger steps not to start, with why, and the diagnosed causes that hold them: a backup is
        started only when nothing diagnosed would make it fail (the day's on-demand backups are few)."""
        where = [i for i, step in enumerate(plan.steps) if isinstance(step, TriggerBackup)]
        if not where:
            return {}, ()
        failed = [o for r in earlier for o in r.steps if o.status.is_failure or o.refused]
        if failed:
            why = f"not triggered: an earlier step ({failed[0].step}) did not succeed, so a backup now would fail"
            return dict.fromkeys(where, why), ()
        # Causes the steps before the trigger address do not hold it: in dry-run every earlier plan's, when
        # applying only this plan's own (earlier playbooks' effects are in the fresh state already).
        fixing = {plan.playbook} if any(not isinstance(s, TriggerBackup) for s in plan.steps) else set()
        if not options.apply:
            fixing |= {r.playbook for r in earlier
                       if any(o.status is StepStatus.PLANNED and o.step != TriggerBackup.kind for o in r.steps)}
        blockers = [f for f in backup_blockers(obs, self.check_options) if not _addressed(f, fixing)]
        if not blockers:
            return {}, ()
        why = "not triggered: " + "; ".join(f"{f.code} ({f.title})" for f in blockers) + " would make it fail"
        return dict.fromkeys(where, why), tuple(dict.fromkeys(f.code for f in blockers))

    def _report_only(self, observation: VmObservation, diagnosis: Diagnosis, results: Sequence[PlaybookResult],
                     held_for: tuple[str, ...], options: RunOptions) -> tuple[str, ...]:
        """The causes no step here changes while the VM's backups fail (RunReport exit code 5). With
        explicit ``playbooks`` the caller chose the scope: only a cause that blocks any backup counts."""
        if held_for:
            return held_for
        item = observation.protected_item
        if observation.vm is None and item is not None and item.is_inactive:
            return ()  # a deleted VM whose protection is stopped (data retained): no backup runs to fail
        if any(o.status in (StepStatus.PLANNED, StepStatus.CHANGED) for r in results for o in r.steps):
            return ()
        if any(o.refused and o.rail is not None for r in results for o in r.steps):
            return ()  # a step its rail would allow (a stuck job's cancel): the rail is named, not "report-only"
        blockers = tuple(dict.fromkeys(f.code for f in backup_blockers(observation, self.check_options)))
        if blockers:
            return blockers
        if observation.current_failed_job is not None and options.playbooks is None:
            return tuple(f.code for f in diagnosis.errors)
        return ()

    def _requests(self, diagnosis: Diagnosis, options: RunOptions) -> tuple[PlaybookRequest, ...]:
        if options.playbooks is not None:
            for pid in options.playbooks:
                get_playbook(pid)  # unknown ids are bad input, before any change
            return tuple(PlaybookRequest(pid) for pid in options.playbooks)
        if self.router is not None:
            return tuple(self.router(diagnosis))
        return requests_from_findings(diagnosis, self._effective_file(options))

    def rails_needed(self, diagnosis: Diagnosis, observation: VmObservation, options: RunOptions) -> tuple[str, ...]:
        """Rails a rule of the playbook file needed to route a fix that would change something here
        (a restart rule for a deallocated VM plans nothing, so it needs no flag). Pure: no request."""
        if options.playbooks is not None or self.router is not None:
            return ()
        from .triage import withheld_rails

        pf = self._effective_file(options)
        routed = {r.playbook_id for r in requests_from_findings(diagnosis, pf)}
        out = []
        withheld = withheld_rails(diagnosis, pf)

        def unlocks(rails: tuple[str, ...]) -> bool:
            raised = replace(pf, guard_rails=replace(pf.guard_rails, **dict.fromkeys(rails, True)))
            extra = [r for r in requests_from_findings(diagnosis, raised)
                     if r.playbook_id not in routed and r.playbook_id != "trigger-backup"]
            return any(self._plan(r, observation, options).steps or _probes_guest(r, observation) for r in extra)

        out = [rail for rail in withheld if unlocks((rail,))]
        if not out and len(withheld) > 1 and unlocks(withheld):  # a rule needing two rails (the full reinstall)
            out = list(withheld)
        return tuple(out)

    def _effective_file(self, options: RunOptions) -> Any:
        """The playbook file with its permission guard rails raised by the run's explicit permissions."""
        pf = self.playbook_file
        rails = getattr(pf, "guard_rails", None)
        if rails is None or not any(given_rails(options).values()):
            return pf
        return replace(pf, guard_rails=replace(rails, **given_rails(rails, options)))

    @staticmethod
    def _opts(req: PlaybookRequest, options: RunOptions) -> dict[str, Any]:
        cls = get_playbook(req.playbook_id)
        merged = {**dict(req.options), **dict(options.options.get(req.playbook_id, {}))}
        if not options.wait and "wait" in cls.options:
            merged["wait"] = False
        return cls.resolve(merged)

    def _guard(self, step: Step, obs: VmObservation, allowed: Mapping[str, bool]) -> str | None:
        """Why a step is refused (DESIGN §4), or None. Plans already follow these; this re-checks."""
        for rail in step.rails():
            if not allowed.get(rail.name, False):
                return f"needs {rail.flag} ({rail.allows}; keyword {rail.name})"
        if isinstance(step, (DeleteLock, RestoreLock)):
            lock = step.lock
            rg = (lock.resource_group or "").casefold()
            if lock.scope_kind is ScopeKind.SUBSCRIPTION:
                return "subscription locks are never removed"
            if not (obs.is_restore_point_rg(lock.resource_group) or rg == obs.vm_ref.resource_group.casefold()):
                return f"lock '{lock.name}' is outside the restore-point and VM resource groups"
        if isinstance(step, DeleteRestorePointCollection) and not any(
            c.ref == step.collection for c in obs.vm_collections
        ):
            return f"collection '{step.collection.name}' is not this VM's (source.id differs)"
        return None

    def _execute(self, plan: Plan, obs: VmObservation, options: RunOptions, ctx: StepContext,
                 allowed: Mapping[str, bool], held: Mapping[int, str] | None = None) -> tuple[StepOutcome, ...]:
        """Run (or in dry-run report) the plan's steps; ``held`` steps are skipped with their reason."""
        held = held or {}
        refusals = {i: self._guard(s, obs, allowed) for i, s in enumerate(plan.steps)}
        outcomes: list[StepOutcome] = []
        if not options.apply:
            for i, step in enumerate(plan.steps):
                why = refusals[i]
                if why:
                    outcomes.append(_refused(step, why))
                elif i in held:
                    outcomes.append(step.outcome(StepStatus.SKIPPED, reason=held[i]))
                else:
                    outcomes.append(step.planned())
            return tuple(outcomes)
        blocked: str | None = None
        if any(refusals.values()):
            # A refused step would leave the playbook half-done: refuse the whole playbook.
            blocked = "another step of this playbook was refused"
        done = 0
        try:
            for i, step in enumerate(plan.steps):
                done = i + 1
                if refusals[i]:
                    outcomes.append(_refused(step, refusals[i]))
                    continue
                if blocked and not step.always:
                    outcomes.append(step.outcome(StepStatus.SKIPPED, reason=blocked))
                    continue
                if i in held:
                    outcomes.append(step.outcome(StepStatus.SKIPPED, reason=held[i]))
                    continue
                if ctx.interrupt.requested and not step.always:
                    outcomes.append(step.outcome(StepStatus.SKIPPED, reason=INTERRUPTED))
                    ctx.emit(RunEvent("interrupted", step.target, step.describe(), status="skipped"))
                    continue
                ctx.emit(RunEvent("step", step.target, step.describe()))
                try:
                    outcome = step.run(ctx)
                except AzBackupFixError as exc:
                    outcome = StepOutcome.failure(step.kind, step.target, step.describe(), exc, step.details())
                outcomes.append(outcome)
                ctx.emit(RunEvent("step-done", step.target, outcome.reason or step.describe(),
                                  status=outcome.status.value))
                if outcome.status.is_failure or outcome.refused:
                    blocked = blocked or f"an earlier step ({step.kind}) did not succeed"
                if ctx.journal is not None and ctx.run_id is not None and outcome.status is StepStatus.CHANGED:
                    ctx.journal.record_change(ctx.run_id, action=step.kind, target=step.target,
                                              detail=step.describe())
        except BaseException:
            # Anything unexpected (a bug, Ctrl-C) still puts removed locks back before it propagates;
            # what cannot be put back stays pending in the journal for `recover`.
            with ctx.interrupt.shield():  # a further interrupt cannot abort these restores
                for index, step in enumerate(plan.steps[done:], start=done):
                    if step.always and not refusals[index]:
                        try:
                            step.run(ctx)
                        except Exception:  # noqa: BLE001 - the original error is the one to raise
                            pass
            raise
        return tuple(outcomes)

    def _verify(self, vm: VmRef, plans: list[tuple[PlaybookRequest, Plan]], results: list[PlaybookResult],
                options: RunOptions) -> list[PlaybookResult]:
        """Re-read state and let each playbook judge it (the network path as last read after the run's own
        NSG change, if any: nothing else in a run changes it)."""
        self.gateway.invalidate(keep_network=True)
        try:
            fresh = observe_vm(self.gateway, vm)
        except AzBackupFixError as exc:
            return [replace(r, verified=False, verification=f"could not re-read state: {exc}") for r in results]
        out = []
        # The run's one backup may sit in any playbook (the one that puts locks back after it): each
        # playbook's verdict waits for it alike.
        running = [s.detail_value("job_id") for r in results for s in r.steps
                   if s.step == TriggerBackup.kind and s.detail_value("job_status") == "InProgress"]
        for (req, _), result in zip(plans, results, strict=True):
            if result.failed:
                # A failed step is never "verified", whatever re-planning on fresh state says.
                first = result.failed[0]
                out.append(replace(result, verified=False,
                                   verification=f"{first.step} {first.status.value}: {first.reason}"))
                continue
            if result.steps and all(s.status is StepStatus.SKIPPED for s in result.steps):
                out.append(replace(result, verified=None, verification="not run: " + (result.steps[0].reason or "")))
                continue
            cls = get_playbook(req.playbook_id)
            verdict = cls.verify(fresh, self._opts(req, options))
            if not verdict.ok and running:
                # --no-wait: the backup that proves the fix has not run yet; neither fixed nor failed.
                out.append(replace(result, verified=None,
                                   verification=f"not verified: backup job {running[0]} is still running"))
                continue
            out.append(replace(result, verified=verdict.ok, verification=verdict.message))
        return out
