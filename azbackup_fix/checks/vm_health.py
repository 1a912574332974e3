"""Step 1 of the guide: is the VM there, provisioned and running?"""

from __future__ import annotations

from ..models import Finding, Severity, VmObservation
from .catalogue import Playbook, finding_from_entry
from .evidence import ev, ev_list
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_deleted_vm", "check_vm_health"]


def check_deleted_vm(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """The VM is gone but a vault still protects it (guide 001's table)."""
    del options
    if obs.vm is not None or not obs.is_protected:
        return ()
    item = obs.protected_item
    evidence = [ev("vm id", obs.vm_ref.id), ev("vault", obs.vault.id if obs.vault else None)]
    if item is not None:
        evidence += [ev("protection state", item.protection_state), ev("last backup", item.last_backup_time)]
        if item.is_inactive:
            # Protection already stopped with data retained: nothing left to fix.
            return (
                finding_from_entry(
                    "VmNotFoundButProtected",
                    severity=Severity.INFO,
                    title=f"VM {obs.vm_ref.name} no longer exists; protection is stopped and its data retained",
                    evidence=evidence,
                    playbooks=(),
                ),
            )
    return (
        finding_from_entry(
            "VmNotFoundButProtected",
            severity=Severity.ERROR,
            title=f"VM {obs.vm_ref.name} no longer exists but is still protected; scheduled backups keep failing",
            evidence=evidence,
        ),
    )


def check_vm_health(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """Provisioning state (failed / transitioning) and power state."""
    del options
    vm = obs.vm
    if vm is None:
        return ()
    findings: list[Finding] = []
    if vm.provisioning_failed:
        backup_ext = vm.backup_extension
        failed_others = [e.name for e in vm.failed_other_extensions]
        backup_failed = backup_ext is not None and backup_ext.is_failed
        # The guide: a failed VMSnapshot is removed and re-installed by a backup; another failed
        # extension is re-run (it belongs to someone else); any other cause (an internal error) is the
        # VM's own provisioning problem.
        if backup_failed:
            playbook = Playbook.REINSTALL_BACKUP_EXTENSION
        elif failed_others:
            playbook = Playbook.RERUN_FAILED_EXTENSION
        else:
            playbook = Playbook.RECOVER_VM_PROVISIONING
        detail = vm.provisioning_error_code or "no error code reported"
        evidence = [
            ev("provisioning state", vm.provisioning_state),
            ev("status code", vm.provisioning_status_code),
            ev("status message", vm.provisioning_status_message),
        ]
        if backup_ext is not None:
            evidence.append(ev("backup extension state", backup_ext.provisioning_state))
        if failed_others:
            evidence.append(ev_list("other failed extensions", failed_others))
        findings.append(
            finding_from_entry(
                "UserErrorVmProvisioningStateFailed",
                severity=Severity.ERROR,
                title=f"VM is in failed provisioning state ({detail})",
                evidence=evidence,
                playbooks=(playbook,),
            )
        )
    elif vm.provisioning_transitioning:
        findings.append(
            finding_from_entry(
                "VmProvisioningStateTransitioning",
                severity=Severity.WARNING,
                title=f"VM provisioning state is {vm.provisioning_state}; backups can fail until it settles",
                evidence=[ev("provisioning state", vm.provisioning_state)],
            )
        )
    if vm.power_transitioning:
        # Guide 001, "VM state does not allow backups": wait for the state to change, then back up.
        findings.append(
            finding_from_entry(
                "VmPowerStateTransitioning",
                severity=Severity.ERROR,
                title=f"VM is {vm.power_state}; a backup fails until it settles (wait, then back up)",
                evidence=[ev("power state", vm.power_state), ev("provisioning state", vm.provisioning_state)],
            )
        )
    elif vm.is_offline:
        # Azure Backup's support matrix: backed up offline, crash-consistent; not a failure.
        findings.append(
            finding_from_entry(
                "VmNotRunning",
                severity=Severity.INFO,
                title=f"VM is {vm.power_state}: backed up offline, crash-consistent (not application-consistent); "
                      "start it for application-consistent backups",
                evidence=[ev("power state", vm.power_state), ev("consistency", "CrashConsistent")],
            )
        )
    elif vm.power_state is not None and not vm.is_running:
        findings.append(
            finding_from_entry(
                "VmNotRunning",
                severity=Severity.WARNING,
                title=f"VM power state is {vm.power_state}, not running",
                evidence=[ev("power state", vm.power_state)],
            )
        )
    return tuple(findings)
