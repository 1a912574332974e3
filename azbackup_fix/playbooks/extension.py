"""reinstall-backup-extension: uninstall the failed VMSnapshot/VMSnapshotLinux extension, wait until it
is gone, then back up (the service reinstalls it)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ..models import VirtualMachine, VmObservation
from ..models.options import Option
from ..steps import DeleteExtension, Step, TriggerBackup
from .base import Plan, VmPlaybook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["ReinstallBackupExtension"]


@register
class ReinstallBackupExtension(VmPlaybook):
    id = "reinstall-backup-extension"
    title = "Reinstall the failed backup extension"
    error_codes = ("UserErrorVmProvisioningStateFailed", "ExtensionOperationFailedForManagedDisks",
                   "ExtensionOperationFailed", "ExtentionOperationFailed", "ExtensionStuckInDeletionState",
                   "BackupExtensionFailed")
    actions = (
        "Microsoft.Compute/virtualMachines/read",
        "Microsoft.Compute/virtualMachines/extensions/delete",
        "Microsoft.Compute/locations/operations/read",
        *TriggerBackup.actions,
    )
    destructive = True
    options = MappingProxyType({"extension_timeout_minutes": Option(int, 30, minimum=1, maximum=24 * 60), **TRIGGER_OPTIONS})

    @classmethod
    def plan_vm(cls, obs: VmObservation, vm: VirtualMachine, opts: dict[str, Any]) -> Plan:
        target = obs.vm_ref.id
        if (busy := cls.busy(obs)) is not None:
            return busy
        ext = vm.backup_extension
        if ext is None:
            return Plan(cls.id, target, notes=("no backup extension is installed; the next backup installs it",))
        if not (ext.is_failed or ext.is_deleting):
            return Plan(cls.id, target, notes=(f"backup extension '{ext.name}' is {ext.provisioning_state}",))
        if not vm.is_running:
            return Plan(cls.id, target, refusals=(
                f"VM {vm.ref.name} is {vm.power_state or 'not running'}; the backup extension is reinstalled "
                "only on a running VM (start it first)",))
        steps: list[Step] = [DeleteExtension(vm.ref, ext.name, ext.qualified_type,
                                             ext.provisioning_state, float(opts["extension_timeout_minutes"]) * 60)]
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        others = [e.name for e in vm.extensions if e.is_failed and not e.is_backup_extension]
        notes = (f"other failed extension(s) reported, not removed: {', '.join(others)}",) if others else ()
        return Plan(cls.id, target, steps=tuple(steps), notes=notes)
