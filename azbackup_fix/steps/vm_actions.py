"""ReapplyVm, RestartVm and RedeployVm (restart and redeploy are disruptive: they need explicit permission)."""

from __future__ import annotations

from dataclasses import dataclass

from ..ids import VmRef
from ..models.rails import DISRUPTIVE
from ..models.report import StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["ReapplyVm", "RedeployVm", "RestartVm"]


@dataclass(frozen=True)
class ReapplyVm(Step):
    vm: VmRef

    kind = "reapply-vm"
    actions = ("Microsoft.Compute/virtualMachines/reapply/action", "Microsoft.Compute/locations/operations/read")

    @property
    def target(self) -> str:
        return self.vm.id

    def describe(self) -> str:
        return f"reapply VM {self.vm.name} (re-run its provisioning; no reboot)"

    def run(self, ctx: StepContext) -> StepOutcome:
        ctx.gateway.reapply_vm(self.vm)
        return self.outcome(StepStatus.CHANGED)


@dataclass(frozen=True)
class RestartVm(Step):
    vm: VmRef

    kind = "restart-vm"
    actions = ("Microsoft.Compute/virtualMachines/restart/action", "Microsoft.Compute/locations/operations/read")
    disruptive = True
    rail = DISRUPTIVE

    @property
    def target(self) -> str:
        return self.vm.id

    def describe(self) -> str:
        return f"restart VM {self.vm.name} (disruptive: the workload goes down)"

    def run(self, ctx: StepContext) -> StepOutcome:
        ctx.gateway.restart_vm(self.vm)
        return self.outcome(StepStatus.CHANGED)


@dataclass(frozen=True)
class RedeployVm(Step):
    """Move the VM to a new host and boot it there: the lever for an agent a restart did not revive."""

    vm: VmRef

    kind = "redeploy-vm"
    actions = ("Microsoft.Compute/virtualMachines/redeploy/action", "Microsoft.Compute/locations/operations/read")
    disruptive = True
    rail = DISRUPTIVE

    @property
    def target(self) -> str:
        return self.vm.id

    def describe(self) -> str:
        return (f"redeploy VM {self.vm.name} to a new host (disruptive: it reboots there; the temporary disk "
                "is lost)")

    def run(self, ctx: StepContext) -> StepOutcome:
        ctx.gateway.redeploy_vm(self.vm)
        return self.outcome(StepStatus.CHANGED)
