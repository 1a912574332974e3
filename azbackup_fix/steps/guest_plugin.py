"""The full VMSnapshot reinstall on Windows, its two guarded halves: RemoveBackupExtension (through ARM,
behind the extension rail) and CleanBackupPlugin (Run Command: delete the plugin folder and HandlerState
keys the removed extension left, journaled first, verified by probing again). The agent keeps running
throughout: the script that deletes reports back through it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..guest import RUN_COMMAND_ACTIONS, GuestChannel, channel_problem
from ..guest.fixes import plan_plugin_cleanup
from ..ids import VmRef
from ..models.rails import EXTENSIONS, GUEST, GuardRail
from ..models.report import DetailValue, StepOutcome, StepStatus
from .base import Step, StepContext
from .extensions import DeleteExtension
from .guest import GUEST_FIX_ACTION

__all__ = ["CleanBackupPlugin", "RemoveBackupExtension"]


@dataclass(frozen=True)
class RemoveBackupExtension(DeleteExtension):
    """DeleteExtension as the first half of the full reinstall: an extension change, behind its rail."""

    rail = EXTENSIONS


@dataclass(frozen=True)
class CleanBackupPlugin(Step):
    vm: VmRef
    timeout: float = 20 * 60.0

    kind = "clean-backup-plugin"
    actions = ("Microsoft.Compute/virtualMachines/read", *RUN_COMMAND_ACTIONS)
    rail = GUEST

    @property
    def target(self) -> str:
        return self.vm.id

    def describe(self) -> str:
        return (f"inside VM {self.vm.name} (Run Command): delete what the removed VMSnapshot left, its plugin "
                "folder and HandlerState keys (the agent keeps running)")

    def rails(self) -> tuple[GuardRail, ...]:
        return (GUEST, EXTENSIONS)

    def run(self, ctx: StepContext) -> StepOutcome:
        vm = ctx.gateway.get_vm(self.vm)  # as it is now: without the removed extension in the way
        problem = channel_problem(vm)
        if problem is not None:
            return self.outcome(StepStatus.FAILED, reason=f"nothing can run in the guest: {problem}")
        channel = GuestChannel(ctx.gateway, timeout=self.timeout)
        first = channel.probe(vm, raise_errors=True)
        if not first.ok:
            return self.outcome(StepStatus.FAILED, reason=f"the guest could not be read: {first.problem}")
        fixes = plan_plugin_cleanup(first)
        ctx.guest_probes[self.vm.id.casefold()] = first  # what later plans of this run read
        if not fixes:
            return self.outcome(StepStatus.UNCHANGED, reason="the removed extension left nothing in the guest")
        if ctx.journal is not None and ctx.run_id is not None:
            for fix in fixes:  # before the deletion: what goes (stale state, not restored by undo)
                ctx.journal.record_change(ctx.run_id, action=GUEST_FIX_ACTION, target=f"{self.vm.id}#{fix.target}",
                                          detail=json.dumps({"action": fix.action, "setting": fix.target,
                                                             "value": fix.value, "before": fix.before},
                                                            separators=(",", ":")))
        used, out = channel.fix(vm, fixes)
        if out.problem or out.errors:
            return self.outcome(StepStatus.FAILED, reason="the fix script " + (out.problem or "reported: "
                                                                                 + "; ".join(out.errors)))
        again = channel.probe(vm, raise_errors=True)
        ctx.guest_probes[self.vm.id.casefold()] = again
        facts: tuple[tuple[str, DetailValue], ...] = (("channel", used), ("deleted", len(out.changes)))
        if not again.ok:
            return self.outcome(StepStatus.FAILED, reason=f"the re-probe failed: {again.problem}", detail=facts)
        left = plan_plugin_cleanup(again)
        if left:
            return self.outcome(StepStatus.FAILED, reason="still in the guest: " + "; ".join(f.target for f in left),
                                detail=facts)
        return self.outcome(StepStatus.CHANGED, detail=facts)
