"""rerun-failed-extension: a failed extension that is not the backup extension (guide 000 step 3;
guide 001: "remove the failed extension, restart the VM"). Reapply cannot clear the VM's
VMExtensionProvisioningError while the extension stays Failed, so: re-run it with its stored settings
and a new forceUpdateTag (or, only with the option ``remove``, uninstall it: it belongs to someone
else), then reapply, then the backup. Both need ``allow_extension_changes``. When the re-run fails
again the cause persists: the step says so and the run triggers no backup."""

from __future__ import annotations

import hashlib
from types import MappingProxyType
from typing import Any

from ..models import VirtualMachine, VmObservation
from ..models.compute import Extension
from ..models.options import Option
from ..models.rails import EXTENSIONS
from ..steps import ReapplyVm, RemoveExtension, RerunExtension, Step, TriggerBackup
from .base import Plan, VmPlaybook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["RerunFailedExtension", "rerun_tag"]


def rerun_tag(vm_id: str, ext: Extension) -> str:
    """A forceUpdateTag new to the extension, derived from what was observed (a plan stays a pure
    function of state): its id, its current tag and its failure."""
    seed = "|".join((vm_id.casefold(), ext.name.casefold(), ext.force_update_tag or "", ext.status_code or "",
                     ext.status_message or ""))
    return "azbackup-fix-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:12]


@register
class RerunFailedExtension(VmPlaybook):
    id = "rerun-failed-extension"
    title = "Re-run a failed extension that is not the backup extension (or remove it, when asked)"
    error_codes = ("ExtensionProvisioningFailed", "UserErrorVmProvisioningStateFailed")
    actions = (
        "Microsoft.Compute/virtualMachines/read",
        *RerunExtension.actions,
        "Microsoft.Compute/virtualMachines/extensions/delete",
        *ReapplyVm.actions,
        *TriggerBackup.actions,
    )
    rail = EXTENSIONS
    options = MappingProxyType({
        "remove": Option(bool, False, help="uninstall the failed extension instead of re-running it "
                                           "(it belongs to someone else: only when asked)"),
        "reapply": Option(bool, True, help="reapply the VM afterwards, clearing its failed provisioning"),
        "extension_timeout_minutes": Option(int, 30, minimum=1, maximum=24 * 60),
        **TRIGGER_OPTIONS,
    })

    @classmethod
    def plan_vm(cls, obs: VmObservation, vm: VirtualMachine, opts: dict[str, Any]) -> Plan:
        target = obs.vm_ref.id
        failed = vm.failed_other_extensions
        if not failed:
            return Plan(cls.id, target, notes=("no failed extension other than the backup extension",))
        if (busy := cls.busy(obs)) is not None:
            return busy
        if not vm.is_running:
            return Plan(cls.id, target, refusals=(
                f"VM {vm.ref.name} is {vm.power_state or 'not running'}; extensions change only on a running VM",))
        steps: list[Step] = []
        timeout = float(opts["extension_timeout_minutes"]) * 60
        for ext in failed:
            if opts["remove"]:
                steps.append(RemoveExtension(vm.ref, ext.name, ext.qualified_type, timeout))
            else:
                steps.append(RerunExtension(vm.ref, ext.name, ext.qualified_type, rerun_tag(vm.ref.id, ext),
                                            ext.force_update_tag, ext.status_message))
        if opts["reapply"] and vm.provisioning_failed:
            steps.append(ReapplyVm(vm.ref))
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        notes = () if opts["remove"] else (
            "a re-run that fails again means the cause persists: the run stops there without a backup",)
        return Plan(cls.id, target, steps=tuple(steps), notes=notes)
