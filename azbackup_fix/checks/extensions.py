"""Steps 3 and 4 of the guide: every extension's state, then the backup extension's.

The backup extension is found by publisher ``Microsoft.Azure.RecoveryServices`` and
type ``VMSnapshot``/``VMSnapshotLinux``, never by its resource name.
"""

from __future__ import annotations

from ..models import Finding, Severity, VmObservation
from .catalogue import finding_from_entry
from .evidence import ev
from .guest_steps import extension_steps
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_backup_extension", "check_extensions"]


def check_extensions(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    """Failed extensions other than the backup one (guide 000 step 3): an error while they fail the VM's
    provisioning (every backup then fails), else a warning; the fix re-runs them, never removes them
    unless asked (they belong to someone else)."""
    del options
    vm = obs.vm
    if vm is None:
        return ()
    findings = []
    for ext in vm.failed_other_extensions:
        blocking = vm.provisioning_failed
        findings.append(
            finding_from_entry(
                "ExtensionProvisioningFailed",
                severity=Severity.ERROR if blocking else Severity.WARNING,
                title=f"Extension {ext.name} ({ext.qualified_type}) is in failed state"
                + (" and fails the VM's provisioning, so backups fail" if blocking else
                   " and can interfere with backups"),
                evidence=[
                    ev("extension", ext.name),
                    ev("type", ext.qualified_type),
                    ev("provisioning state", ext.provisioning_state),
                    ev("status code", ext.status_code),
                    ev("status message", ext.status_message),
                    ev("force update tag", ext.force_update_tag),
                ],
            )
        )
    return tuple(findings)


def check_backup_extension(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    del options
    vm = obs.vm
    if vm is None:
        return ()
    ext = vm.backup_extension
    if ext is None:
        if not obs.is_protected:
            return ()
        return (
            finding_from_entry(
                "BackupExtensionNotInstalled",
                severity=Severity.INFO,
                title="The VMSnapshot backup extension is not installed; the next backup installs it",
                evidence=[ev("extensions", ", ".join(e.name for e in vm.extensions) or "none")],
            ),
        )
    evidence = [
        ev("extension", ext.name),
        ev("type", ext.qualified_type),
        ev("version", ext.type_handler_version),
        ev("provisioning state", ext.provisioning_state),
        ev("status code", ext.status_code),
        ev("status message", ext.status_message),
    ]
    if ext.is_deleting:
        return (
            finding_from_entry(
                "ExtensionStuckInDeletionState",
                severity=Severity.WARNING,
                title=f"Backup extension {ext.name} is being deleted; backups fail until it is gone",
                evidence=evidence,
            ),
        )
    if ext.is_failed:
        return (
            finding_from_entry(
                "BackupExtensionFailed",
                severity=Severity.ERROR,
                title=f"Backup extension {ext.name} ({ext.qualified_type}) is in failed state"
                + (f": {ext.status_message}" if ext.status_message else ""),
                evidence=evidence,
                guest_steps=extension_steps(vm.os_family),
            ),
        )
    return ()
