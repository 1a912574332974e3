"""fix-guest: the guides' fixes inside the guest (VSS writer services, COM+ and MSDTC, SchUseStrongCrypto,
Defender exclusions, waagent.conf, the Linux agent), planned from the read-only probe the runner makes,
behind the guest rail; then the backup."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from ..guest import channel_problem, plan_guest_fixes
from ..models import VmObservation
from ..models.rails import GUEST
from ..steps import Step, TriggerBackup
from ..steps.guest import ApplyGuestFixes
from .base import VM_GONE, Plan, Playbook, Verification
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["FixGuest"]


@register
class FixGuest(Playbook):
    id = "fix-guest"
    title = "Fix the guest causes the probe found (Run Command)"
    error_codes = ("ExtensionFailedVssWriterInBadState", "ExtensionSnapshotFailedCOM", "ExtensionFailedSecureNetworkChannel",
                   "ExtensionVCRedistInstallationFailure", "AntivirusBlockingBackupExtension", "AgentConfigurationNotSet", "GuestAgentOutOfDate",
                   "GuestAgentSnapshotTaskStatusError", "ExtensionConfigParsingFailure",
                   "SqlServerVssCopyBackupNotSet")
    actions = (*ApplyGuestFixes.actions, *TriggerBackup.actions)
    rail = GUEST
    needs_guest_probe: ClassVar[bool] = True  # the runner probes the guest (read-only) before planning
    options = MappingProxyType({**TRIGGER_OPTIONS})

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        if obs.vm is None:
            return cls.nothing(obs, VM_GONE)
        problem = channel_problem(obs.vm)
        if problem is not None:
            return Plan(cls.id, target, notes=(f"nothing can run in the guest: {problem}",))
        probe = obs.guest_probe
        if probe is None:
            # A dry run sends no Run Command unasked: the step probes when applied, fixes what it finds, re-probes.
            steps: list[Step] = [ApplyGuestFixes(obs.vm, (), probe_at_apply=True)]
            trigger = trigger_step(obs, opts)
            if trigger is not None:
                steps.append(trigger)
            return Plan(cls.id, target, steps=tuple(steps), notes=(
                "the guest was not probed (Run Command writes to ARM; a dry run sends none unasked): applying with "
                "allow_guest_changes probes it, makes the guides' fixes it finds and probes again; "
                "plan --probe-guest (probe_guest=True) reads it now",))
        if not probe.ok and not probe.request_failed:
            return Plan(cls.id, target, notes=(f"the guest could not be read: {probe.problem}",))
        fixes = plan_guest_fixes(probe)
        notes: tuple[str, ...] = ()
        if not probe.ok:  # ARM refused or failed the probe's request: the step asks again and reports ARM's answer
            notes = (f"the probe's Run Command failed ({probe.problem}); the step probes again before fixing",)
        if probe.ok and not fixes:
            return Plan(cls.id, target, notes=("the probe found nothing to fix in the guest",))
        steps = [ApplyGuestFixes(obs.vm, fixes)]
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps), notes=notes)

    @classmethod
    def verify(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Verification:
        # The fix step probes the guest again and fails if anything is left; the fresh Azure-side state the
        # runner reads holds no probe, so there is nothing more to judge here.
        return Verification(True, "the probe after the fix found nothing left to fix")
