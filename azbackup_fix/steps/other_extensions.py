"""RerunExtension and RemoveExtension: the levers for a failed extension that is not the backup
extension (guide 000 step 3; guide 001: "remove the failed extension, restart the VM").

The extension belongs to someone else, so both need ``allow_extension_changes``, and removing it is
only planned when the playbook is told to. Each journals what it changes before sending it: the
re-run the forceUpdateTag it replaces, the removal everything ARM returns to re-create the extension
(its protected settings are write-only and cannot be recorded: its owner re-supplies them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import AzureOperationError, GuardRailError
from ..ids import VmRef
from ..models.rails import EXTENSIONS
from ..models.report import DetailValue, StepOutcome, StepStatus
from ..waits import wait_until
from .base import Step, StepContext

__all__ = ["RERUN_EXTENSION", "REMOVE_EXTENSION", "RemoveExtension", "RerunExtension"]

RERUN_EXTENSION = "extension-rerun-started"  # journal actions, written before the change
REMOVE_EXTENSION = "extension-removal-started"
_READ = "Microsoft.Compute/virtualMachines/extensions/read"
_OPERATIONS = "Microsoft.Compute/locations/operations/read"


def _journal(ctx: StepContext, action: str, target: str, detail: dict[str, Any]) -> None:
    """Record the change BEFORE it is sent: compact JSON, nothing secret (public settings only)."""
    if ctx.journal is None or ctx.run_id is None:
        raise GuardRailError(f"{target}: not changed: no journal to record it in")
    ctx.journal.record_change(ctx.run_id, action=action, target=target,
                              detail=json.dumps(detail, sort_keys=True, separators=(",", ":")))


@dataclass(frozen=True)
class RerunExtension(Step):
    """Run the failed extension's handler again with its stored settings and a new forceUpdateTag;
    fails (and so holds the backup) when the handler fails again: its cause is still there."""

    vm: VmRef
    name: str
    qualified_type: str
    force_update_tag: str  # derived from the observed state, so a plan is a pure function of it
    previous_tag: str | None = None
    status_message: str | None = None

    kind = "rerun-extension"
    actions = ("Microsoft.Compute/virtualMachines/extensions/write", _READ, _OPERATIONS)
    rail = EXTENSIONS

    @property
    def target(self) -> str:
        return f"{self.vm.id}/extensions/{self.name}"

    def describe(self) -> str:
        return (f"re-run failed extension '{self.name}' ({self.qualified_type}) of VM {self.vm.name} with its "
                f"stored settings and forceUpdateTag '{self.force_update_tag}'")

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("type", self.qualified_type), ("force_update_tag", self.force_update_tag),
                ("previous_force_update_tag", self.previous_tag), ("failure", self.status_message))

    def run(self, ctx: StepContext) -> StepOutcome:
        _journal(ctx, RERUN_EXTENSION, self.target, {
            "vm": self.vm.id, "extension": self.name, "type": self.qualified_type,
            "forceUpdateTag": self.force_update_tag, "previousForceUpdateTag": self.previous_tag,
            "undo": "nothing to put back: settings are unchanged; a later update may set any tag"})
        try:
            state = ctx.gateway.rerun_extension(self.vm, self.name, self.force_update_tag)
        except AzureOperationError as exc:
            if (exc.arm_code or "").casefold() != "vmextensionprovisioningerror":
                raise
            # The handler failed again: the cause is the extension's own (its settings, its service,
            # the guest), which only its owner can fix. Say so; the backup is not triggered.
            return self.outcome(StepStatus.FAILED, reason=(
                f"extension '{self.name}' failed again after the re-run, so its cause persists: {exc}; "
                "its owner must fix it (or remove it with the playbook option remove)"),
                detail=(("arm_code", exc.arm_code),))
        return self.outcome(StepStatus.CHANGED, detail=(("provisioning_state", state),))


@dataclass(frozen=True)
class RemoveExtension(Step):
    """Uninstall a failed extension that is not the backup extension (only when asked), after
    journaling its definition; waits until it is gone."""

    vm: VmRef
    name: str
    qualified_type: str
    timeout: float = 1800.0

    kind = "remove-extension"
    actions = ("Microsoft.Compute/virtualMachines/extensions/delete", _READ, "Microsoft.Compute/virtualMachines/read",
               _OPERATIONS)
    destructive = True
    rail = EXTENSIONS

    @property
    def target(self) -> str:
        return f"{self.vm.id}/extensions/{self.name}"

    def describe(self) -> str:
        return (f"remove failed extension '{self.name}' ({self.qualified_type}) from VM {self.vm.name} "
                "(journaled with its public settings; its owner re-supplies protected settings to re-create it)")

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("type", self.qualified_type),)

    def run(self, ctx: StepContext) -> StepOutcome:
        definition = ctx.gateway.extension_definition(self.vm, self.name)
        if definition is None:
            return self.outcome(StepStatus.UNCHANGED, reason=f"extension '{self.name}' is already gone")
        _journal(ctx, REMOVE_EXTENSION, self.target, {
            "vm": self.vm.id, "extension": definition,
            "undo": "PUT the extension back with these properties (protectedSettings from its owner)"})
        ctx.gateway.delete_extension(self.vm, self.name)
        folded = self.name.casefold()
        wait_until(lambda: ctx.gateway.get_vm(self.vm),
                   lambda vm: not any(e.name.casefold() == folded for e in getattr(vm, "extensions", ())),
                   timeout=self.timeout, sleep=ctx.sleep, what=f"extension {self.name} of VM {self.vm.name} to be gone",
                   interval=15.0, **ctx.wait_kwargs(self.target))
        return self.outcome(StepStatus.CHANGED)
