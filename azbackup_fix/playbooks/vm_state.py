"""wait-for-vm-state: a VM starting, stopping, deallocating or updating (guide 000 step 1; guide 001
"VM state does not allow backups": wait for the state to change, then trigger the backup). A bounded
wait on the instance view, then the backup; nothing is changed, so no guard rail."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ..models import VirtualMachine, VmObservation
from ..models.options import Option
from ..steps import Step, TriggerBackup, WaitForVmState
from .base import Plan, VmPlaybook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["WaitForVmStatePlaybook"]


@register
class WaitForVmStatePlaybook(VmPlaybook):
    id = "wait-for-vm-state"
    title = "Wait for a VM in a transient state to settle, then back up"
    error_codes = ("VmPowerStateTransitioning", "VmProvisioningStateTransitioning")
    actions = (*WaitForVmState.actions, *TriggerBackup.actions)
    options = MappingProxyType({
        "wait_minutes": Option(int, 30, minimum=1, maximum=24 * 60, help="how long to wait for the VM to settle"),
        **TRIGGER_OPTIONS,
    })

    @classmethod
    def plan_vm(cls, obs: VmObservation, vm: VirtualMachine, opts: dict[str, Any]) -> Plan:
        target = obs.vm_ref.id
        if not (vm.power_transitioning or vm.provisioning_transitioning):
            return Plan(cls.id, target, notes=(
                f"VM is {vm.power_state or 'in an unknown power state'}, provisioning {vm.provisioning_state}: settled",))
        state = vm.power_state if vm.power_transitioning else f"provisioning {vm.provisioning_state}"
        steps: list[Step] = [WaitForVmState(vm.ref, state or "transitioning", float(opts["wait_minutes"]) * 60)]
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps))
