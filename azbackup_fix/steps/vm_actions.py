"""ReapplyVm, RestartVm and RedeployVm (restart and redeploy are disruptive: they need explicit permission)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ids import VmRef
from ..models.rails import DISRUPTIVE
from ..models.report import StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["ReapplyVm", "RedeployVm", "RestartVm"]

_OPERATIONS = "Microsoft.Compute/locations/operations/read"


@dataclass(frozen=True)
class _VmAction(Step):
    """One VM action (a POST long-running operation) sent through the gateway method ``call``."""

    vm: VmRef

    call: ClassVar[str]
    what: ClassVar[str]  # the description after the VM's name

    @property
    def target(self) -> str:
        return self.vm.id

    def describe(self) -> str:
        return f"{self.kind.split('-')[0]} VM {self.vm.name} {self.what}"

    def run(self, ctx: StepContext) -> StepOutcome:
        getattr(ctx.gateway, self.call)(self.vm)
        return self.outcome(StepStatus.CHANGED)


@dataclass(frozen=True)
class ReapplyVm(_VmAction):
    kind = "reapply-vm"
    actions = ("Microsoft.Compute/virtualMachines/reapply/action", _OPERATIONS)
    call = "reapply_vm"
    what = "(re-run its provisioning; no reboot)"


@dataclass(frozen=True)
class RestartVm(_VmAction):
    kind = "restart-vm"
    actions = ("Microsoft.Compute/virtualMachines/restart/action", _OPERATIONS)
    disruptive = True
    rail = DISRUPTIVE
    call = "restart_vm"
    what = "(disruptive: the workload goes down)"


@dataclass(frozen=True)
class RedeployVm(_VmAction):
    """Move the VM to a new host and boot it there: the lever for an agent a restart did not revive."""

    kind = "redeploy-vm"
    actions = ("Microsoft.Compute/virtualMachines/redeploy/action", _OPERATIONS)
    disruptive = True
    rail = DISRUPTIVE
    call = "redeploy_vm"
    what = "to a new host (disruptive: it reboots there; the temporary disk is lost)"
