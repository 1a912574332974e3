"""WaitForVmState and WaitForAgentReady: bounded waits on the instance view; they change nothing.

A VM that is starting, stopping, deallocating or updating settles on its own (guide 001: "wait for
the state to change, then trigger the backup"); after a restart or redeploy the agent must report
Ready before a backup can succeed. Either wait failing holds the run's backup."""

from __future__ import annotations

from dataclasses import dataclass

from ..ids import VmRef
from ..models.report import StepOutcome, StepStatus
from ..waits import wait_until
from .base import Step, StepContext

__all__ = ["WaitForAgentReady", "WaitForVmState"]

_READ = ("Microsoft.Compute/virtualMachines/read",)


@dataclass(frozen=True)
class WaitForVmState(Step):
    vm: VmRef
    state: str  # what it was observed in, for the description
    timeout: float = 1800.0

    kind = "wait-for-vm-state"
    actions = _READ

    @property
    def target(self) -> str:
        return self.vm.id

    def describe(self) -> str:
        return (f"wait up to {self.timeout / 60:.0f} min for VM {self.vm.name} ({self.state}) to settle "
                "(running or stopped, provisioning done)")

    def run(self, ctx: StepContext) -> StepOutcome:
        # A VM's power state changes no NSG or route: the network reads are kept (effective lists are only
        # ever read, and cached, while the VM runs).
        ctx.gateway.invalidate(keep_network=True)
        vm = wait_until(lambda: ctx.gateway.get_vm(self.vm),
                        lambda v: not v.power_transitioning and not v.provisioning_transitioning,
                        timeout=self.timeout, sleep=ctx.sleep, what=f"VM {self.vm.name} to leave {self.state}",
                        interval=10.0, max_interval=60.0, **ctx.wait_kwargs(self.target))
        ctx.gateway.invalidate(keep_network=True)
        return self.outcome(StepStatus.UNCHANGED, detail=(("power_state", vm.power_state),
                                                          ("provisioning_state", vm.provisioning_state)))


@dataclass(frozen=True)
class WaitForAgentReady(Step):
    """After a restart or redeploy: the agent reports Ready, or the step fails and the backup is held."""

    vm: VmRef
    timeout: float = 900.0

    kind = "wait-for-agent"
    actions = _READ

    @property
    def target(self) -> str:
        return self.vm.id

    def describe(self) -> str:
        return f"wait up to {self.timeout / 60:.0f} min for the VM agent of {self.vm.name} to report Ready"

    def run(self, ctx: StepContext) -> StepOutcome:
        vm = wait_until(lambda: ctx.gateway.get_vm(self.vm), lambda v: v.agent.is_ready,
                        timeout=self.timeout, sleep=ctx.sleep, what=f"the VM agent of {self.vm.name} to be Ready",
                        interval=15.0, max_interval=60.0, **ctx.wait_kwargs(self.target))
        ctx.gateway.invalidate(keep_network=True)
        return self.outcome(StepStatus.UNCHANGED, detail=(("agent_status", vm.agent.status),
                                                          ("agent_version", vm.agent.version)))
