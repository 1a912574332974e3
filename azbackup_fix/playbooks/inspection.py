"""inspect-vm: the inspection-only path (agent, power state, disks, Key Vault, CRP): report, no changes."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..models import VmObservation
from ..models.limits import disk_limit_gb
from .base import Plan, Playbook, Verification
from .registry import register

__all__ = ["InspectVm"]


@register
class InspectVm(Playbook):
    id = "inspect-vm"
    title = "Inspect the VM (report only)"
    error_codes = ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError",
                   "ExtensionSnapshotFailedNoNetwork", "UserErrorUnsupportedDiskSize",
                   "UserErrorKeyvaultPermissionsNotConfigured", "UserErrorCrpReportedUserError", "VmNotRunning")
    actions = ("Microsoft.Compute/virtualMachines/read", "Microsoft.RecoveryServices/Vaults/backupJobs/read")
    inspection_only = True
    options = MappingProxyType({})

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        cls.resolve(options)
        obs = observation
        vm = obs.vm
        notes: list[str] = []
        if vm is None:
            notes.append("the VM does not exist")
        else:
            notes.append(f"power state {vm.power_state or 'unknown'}, provisioning {vm.provisioning_state}")
            notes.append(f"agent {vm.agent.status or 'not reported'} (version {vm.agent.version or 'unknown'})")
            big = [f"{d.name} {d.size_gb} GB" for d in vm.disks
                   if d.size_gb and d.size_gb > disk_limit_gb(d.encrypted or vm.encrypted)]
            if big:
                notes.append("disks over the supported size (32 TB, 4 TB encrypted; split them): " + ", ".join(big))
        job = obs.failed_job
        if job is not None and job.primary_error is not None:
            notes.append(f"latest failed job {job.ref.name}: {job.primary_error.error_title}")
        return Plan(cls.id, obs.vm_ref.id, notes=tuple(notes))

    @classmethod
    def verify(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Verification:
        return Verification(True, "inspection only; nothing changed")
