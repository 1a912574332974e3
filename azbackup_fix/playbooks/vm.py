"""recover-vm-provisioning: reapply the VM; restart it only when explicitly allowed (disruptive)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..models import VmObservation
from ..models.rails import DISRUPTIVE
from ..steps import ReapplyVm, RestartVm, Step, TriggerBackup
from .base import Plan, Playbook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["RecoverVmProvisioning"]


@register
class RecoverVmProvisioning(Playbook):
    id = "recover-vm-provisioning"
    title = "Recover the VM's provisioning state or agent (Azure side)"
    # Not ExtensionSnapshotFailedNoNetwork: no guide prescribes a restart for it, and a restart changes no
    # NSG, route or DNS setting (allow-storage-outbound is its Azure-side fix).
    error_codes = ("UserErrorVmProvisioningStateFailed", "UserErrorGuestAgentStatusUnavailable",
                   "GuestAgentSnapshotTaskStatusError")
    actions = (
        "Microsoft.Compute/virtualMachines/read",
        "Microsoft.Compute/virtualMachines/reapply/action",
        "Microsoft.Compute/virtualMachines/restart/action",
        "Microsoft.Compute/locations/operations/read",
        *TriggerBackup.actions,
    )
    disruptive = True
    rail = DISRUPTIVE  # the restart; reapply needs none
    options = MappingProxyType({
        "reapply": (bool, True),
        "restart": (bool, False),  # also needs the run's allow_disruptive
        **{k: v for k, v in TRIGGER_OPTIONS.items()},
    })

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        vm = obs.vm
        if vm is None:
            return Plan(cls.id, target, notes=("the VM does not exist",))
        if not vm.is_running:
            return Plan(cls.id, target, notes=(f"VM is {vm.power_state or 'not running'}; nothing to recover here",))
        failed = vm.provisioning_failed
        agent_down = vm.agent.is_reported is False or not vm.agent.is_ready
        if not (failed or agent_down):
            return Plan(cls.id, target, notes=("provisioning succeeded and the agent is ready",))
        steps: list[Step] = []
        if opts["reapply"]:
            steps.append(ReapplyVm(vm.ref))
        if opts["restart"]:
            steps.append(RestartVm(vm.ref))
        notes = () if opts["restart"] else ("restart not planned (set option restart and allow disruptive changes)",)
        trigger = trigger_step(obs, opts)
        if steps and trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps), notes=notes)
