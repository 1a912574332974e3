"""reinstall-backup-extension-clean: the full VMSnapshot reinstall on Windows, for when reinstalling the
extension did not help (it failed the last backups in a row, see checks.extension_reinstall): remove it
through ARM (allow_extension_changes), delete its plugin folder and HandlerState keys in the guest through
Run Command (allow_guest_changes; the agent is not stopped), then back up: the service installs it afresh."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ..checks.extension_reinstall import keeps_failing
from ..models import VirtualMachine, VmObservation
from ..models.options import Option
from ..models.rails import GUEST
from ..steps import Step, TriggerBackup
from ..steps.guest_plugin import CleanBackupPlugin, RemoveBackupExtension
from .base import Plan, VmPlaybook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["ReinstallBackupExtensionClean"]


@register
class ReinstallBackupExtensionClean(VmPlaybook):
    id = "reinstall-backup-extension-clean"
    title = "Reinstall the backup extension fully (Windows): remove it, clean its plugin state in the guest"
    error_codes = ("BackupExtensionKeepsFailing",)
    actions = (*RemoveBackupExtension.actions, *CleanBackupPlugin.actions, *TriggerBackup.actions)
    rail = GUEST
    destructive = True
    options = MappingProxyType({"extension_timeout_minutes": Option(int, 30, minimum=1, maximum=24 * 60),
                                **TRIGGER_OPTIONS})

    @classmethod
    def plan_vm(cls, obs: VmObservation, vm: VirtualMachine, opts: dict[str, Any]) -> Plan:
        target = obs.vm_ref.id
        if not keeps_failing(obs):
            return Plan(cls.id, target, notes=("the backup extension is not failing backups in a row on Windows; "
                                               "reinstall-backup-extension is the first step",))
        if (busy := cls.busy(obs)) is not None:
            return busy
        if not vm.is_running or not vm.agent.is_ready:
            return Plan(cls.id, target, refusals=(
                f"VM {vm.ref.name} is {vm.power_state or 'not running'} with agent {vm.agent.status or 'not reported'}; "
                "the guest half of the full reinstall needs a running VM and a Ready agent",))
        ext = vm.backup_extension  # None: removed already (a run interrupted after the removal)
        steps: list[Step] = [] if ext is None else [
            RemoveBackupExtension(vm.ref, ext.name, ext.qualified_type, ext.provisioning_state,
                                  float(opts["extension_timeout_minutes"]) * 60)]
        steps.append(CleanBackupPlugin(vm.ref))
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps))
