"""When reinstalling the backup extension did not help (Windows): the VMSnapshot extension is Failed again and
the VM's last backups all failed on it. Each backup after an uninstall reinstalls the extension, so a
second such failure in a row means the plain reinstall ran into what the guest kept of the old one: the
full reinstall removes it through ARM and deletes its plugin folder and HandlerState keys in the guest."""

from __future__ import annotations

from datetime import datetime

from ..guest.fixes import plan_plugin_cleanup
from ..models import Finding, Severity, VmObservation
from ..models.backup import BackupJob
from .catalogue import finding_from_entry
from .evidence import ev
from .options import CheckOptions

__all__ = ["EXTENSION_FAILURE_CODES", "FAILURES_IN_A_ROW", "check_backup_extension_keeps_failing", "keeps_failing"]

EXTENSION_FAILURE_CODES = frozenset(c.casefold() for c in (
    "ExtensionOperationFailedForManagedDisks", "ExtensionOperationFailed", "ExtentionOperationFailed",
    "UserErrorVmProvisioningStateFailed", "BackupExtensionFailed",
))
FAILURES_IN_A_ROW = 2


def _latest_backups(observation: VmObservation) -> list[BackupJob]:
    vault = observation.vault
    jobs = [j for j in observation.jobs if j.is_backup and j.start_time is not None
            and (vault is None or j.vault == vault) and not j.is_in_progress]
    return sorted(jobs, key=lambda j: j.start_time or datetime.min, reverse=True)


def keeps_failing(observation: VmObservation) -> tuple[BackupJob, ...]:
    """The latest backups that failed on the backup extension in a row, when there are enough of them on
    a Windows VM whose VMSnapshot is Failed now, or already removed (a full reinstall interrupted after the
    removal: the next backup's install would meet the same leftovers); else ()."""
    vm = observation.vm
    ext = vm.backup_extension if vm is not None else None
    if vm is None or vm.os_family == "linux" or (ext is not None and not ext.is_failed):
        return ()
    probe = observation.guest_probe
    if ext is None and probe is not None and probe.ok and not plan_plugin_cleanup(probe):
        return ()  # removed, and the guest holds nothing of it any more: the next install starts clean
    row: list[BackupJob] = []
    for job in _latest_backups(observation):
        title = (job.primary_error.error_title if job.primary_error else None) or ""
        if not job.is_failed or title.casefold() not in EXTENSION_FAILURE_CODES:
            break
        row.append(job)
    return tuple(row) if len(row) >= FAILURES_IN_A_ROW else ()


def check_backup_extension_keeps_failing(observation: VmObservation, options: CheckOptions) -> tuple[Finding, ...]:
    row = keeps_failing(observation)
    if not row:
        return ()
    ext = observation.vm.backup_extension if observation.vm is not None else None
    return (finding_from_entry(
        "BackupExtensionKeepsFailing", severity=Severity.ERROR,
        title=f"the VMSnapshot extension failed the last {len(row)} backups in a row"
              + ("" if ext is not None else " (it is removed now)")
              + ": reinstalling it did not help; the full reinstall removes it and deletes its plugin folder and "
                "HandlerState keys in the guest",
        evidence=[ev("extension", ext.name if ext else None),
                  ev("status message", ext.status_message if ext else None),
                  *(ev("failed job", f"{j.ref.name}: {j.primary_error.error_title if j.primary_error else ''}")
                    for j in row)]),)
