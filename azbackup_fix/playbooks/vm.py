"""recover-vm-provisioning: reapply the VM; restart or redeploy it (a new host) only when explicitly
allowed (disruptive), then wait for the agent to report Ready before the backup.

An agent that was never installed is not recovered here (no reboot brings one): the plan says so and
points at the guide's installation steps and at an Enhanced policy's agentless crash-consistent
backup, a protection change it never makes itself. A VM failed by another extension's failure is
``rerun-failed-extension``'s: reapply alone cannot clear it."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ..models import VirtualMachine, VmObservation
from ..models.rails import DISRUPTIVE
from ..steps import ReapplyVm, RedeployVm, RestartVm, Step, TriggerBackup, WaitForAgentReady
from .base import Plan, VmPlaybook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["AGENTLESS_NOTE", "RecoverVmProvisioning"]

AGENTLESS_NOTE = ("to keep backups running while the agent cannot be fixed, switch the VM to an Enhanced policy "
                  "with agentless crash-consistent backup (a protection change: not done here)")


@register
class RecoverVmProvisioning(VmPlaybook):
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
        "Microsoft.Compute/virtualMachines/redeploy/action",
        "Microsoft.Compute/locations/operations/read",
        *TriggerBackup.actions,
    )
    disruptive = True
    rail = DISRUPTIVE  # restart and redeploy; reapply needs none
    options = MappingProxyType({
        "reapply": (bool, True),
        "restart": (bool, False),  # also needs the run's allow_disruptive
        "redeploy": (bool, False),  # a new host (and a reboot): instead of restart; needs allow_disruptive
        "agent_wait_minutes": (int, 15),
        **{k: v for k, v in TRIGGER_OPTIONS.items()},
    })

    @classmethod
    def plan_vm(cls, obs: VmObservation, vm: VirtualMachine, opts: dict[str, Any]) -> Plan:
        target = obs.vm_ref.id
        if not vm.is_running:
            return Plan(cls.id, target, notes=(f"VM is {vm.power_state or 'not running'}; nothing to recover here",))
        if vm.agent_never_installed:
            return Plan(cls.id, target, notes=(
                "the VM agent was never installed: restart and redeploy cannot bring one; install it in the guest "
                "(guide 001, Validate VM Agent installation)", AGENTLESS_NOTE))
        agent_down = not vm.agent.is_ready
        others = [e.name for e in vm.failed_other_extensions]
        if vm.provisioning_failed and others and not agent_down:
            return Plan(cls.id, target, notes=(
                f"provisioning failed because extension(s) {', '.join(others)} failed: reapply cannot clear it; "
                "rerun-failed-extension does (allow_extension_changes)",))
        if not (vm.provisioning_failed or agent_down):
            return Plan(cls.id, target, notes=("provisioning succeeded and the agent is ready",))
        steps: list[Step] = []
        notes: list[str] = []
        if opts["reapply"]:
            steps.append(ReapplyVm(vm.ref))
        if opts["redeploy"]:
            steps.append(RedeployVm(vm.ref))  # it reboots the VM on its new host: no restart as well
        elif opts["restart"]:
            steps.append(RestartVm(vm.ref))
        else:
            notes.append("restart or redeploy not planned (set option restart or redeploy and allow disruptive "
                         "changes)")
        if agent_down:
            # A backup now would fail while the agent is not Ready: wait for it, and stop if it stays down.
            steps.append(WaitForAgentReady(vm.ref, float(opts["agent_wait_minutes"]) * 60))
            notes.append(AGENTLESS_NOTE)
        trigger = trigger_step(obs, opts)
        if steps and trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps), notes=tuple(notes))
