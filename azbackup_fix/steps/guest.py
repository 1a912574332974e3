"""ApplyGuestFixes: make the guides' guest fixes through Run Command, journaled first, verified by probing again."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..guest import RUN_COMMAND_ACTIONS, GuestChannel, plan_guest_fixes
from ..models import VirtualMachine
from ..models.guest import GuestFix
from ..models.rails import DISRUPTIVE, GUEST, GuardRail
from ..models.report import DetailValue, StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["GUEST_FIX_ACTION", "ApplyGuestFixes"]

GUEST_FIX_ACTION = "guest-setting"  # journal action: one entry per setting, before it changes


@dataclass(frozen=True)
class ApplyGuestFixes(Step):
    vm: VirtualMachine
    fixes: tuple[GuestFix, ...]  # empty: the plan's probe failed at ARM; probe again first
    timeout: float = 20 * 60.0
    probe_at_apply: bool = False  # planned by a dry run that did not probe: what the guest needs is not known yet

    kind = "fix-guest"
    actions = RUN_COMMAND_ACTIONS
    rail = GUEST

    @property
    def target(self) -> str:
        return self.vm.ref.id

    def describe(self) -> str:
        what = "; ".join(f.describe() for f in self.fixes) or (
            "probe the guest (read-only), make the guides' fixes it finds, probe again" if self.probe_at_apply
            else "probe again and make the guides' fixes it finds")
        return f"inside VM {self.vm.ref.name} (Run Command): {what}"

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("fixes", len(self.fixes)),)

    def rails(self) -> tuple[GuardRail, ...]:
        # Restarting a service that hosts a VSS writer (SQL Server's, MSDTC) interrupts what it serves.
        return (GUEST, DISRUPTIVE) if any(f.disruptive for f in self.fixes) else (GUEST,)

    def run(self, ctx: StepContext) -> StepOutcome:
        # ARM's errors of Run Command itself (403, 409, 5xx) propagate: the runner reports them like any request's.
        channel = GuestChannel(ctx.gateway, timeout=self.timeout)
        fixes = self.fixes
        if not fixes:
            first = channel.probe(self.vm, raise_errors=True)
            if not first.ok:
                return self.outcome(StepStatus.FAILED, reason=f"the guest could not be read: {first.problem}")
            fixes = plan_guest_fixes(first)
            if not fixes:
                return self.outcome(StepStatus.UNCHANGED, reason="the probe found nothing to fix")
            if any(f.disruptive for f in fixes):
                # Not planned, so not guarded: a service restart the runner never saw is refused here.
                outcome = self.outcome(StepStatus.SKIPPED, refused=True, reason=(
                    f"needs {DISRUPTIVE.flag} ({DISRUPTIVE.allows}): the probe now finds a service restart; "
                    "run again to plan it"))
                return replace(outcome, rail=DISRUPTIVE.name)
        if ctx.journal is not None and ctx.run_id is not None:
            for fix in fixes:  # before the change: what is set, and the value it had
                ctx.journal.record_change(ctx.run_id, action=GUEST_FIX_ACTION, target=f"{self.vm.ref.id}#{fix.target}",
                                          detail=json.dumps({"action": fix.action, "setting": fix.target,
                                                             "value": fix.value, "before": fix.before},
                                                            separators=(",", ":"), default=str))
        used, out = channel.fix(self.vm, fixes)
        if out.problem or out.errors:
            return self.outcome(StepStatus.FAILED, reason="the fix script " + (out.problem or "reported: "
                                                                                 + "; ".join(out.errors)))
        # Verified by probing again: the guides' checks must now find nothing to fix.
        again = channel.probe(self.vm, raise_errors=True)
        ctx.guest_probes[self.vm.ref.id.casefold()] = again  # what later plans of this run read
        left = plan_guest_fixes(again)
        facts: tuple[tuple[str, DetailValue], ...] = (("channel", used), ("changed", len(out.changes)))
        if not again.ok:
            return self.outcome(StepStatus.FAILED, reason=f"the re-probe failed: {again.problem}", detail=facts)
        if left:
            return self.outcome(StepStatus.FAILED, reason="still to fix: " + "; ".join(f.describe() for f in left),
                                detail=facts)
        return self.outcome(StepStatus.CHANGED, detail=facts)
