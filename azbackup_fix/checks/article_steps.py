"""What the current guide 001 prescribes for its newer codes, condensed: steps nobody can take through
ARM (guest settings, schedules, other teams' policies), reported with the finding.

Source: Microsoft's current "Troubleshoot backup errors with Azure virtual machines" (models/guides.py
CURRENT_ARTICLE_SECTIONS); these codes are not in the seeds.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["ARTICLE_STEPS", "article_steps"]

_BCDR_KEYS = "HKLM\\SOFTWARE\\Microsoft\\BcdrAgentPersistentKeys"

ARTICLE_STEPS = MappingProxyType({
    "VMRestorePointInternalError": (
        "Windows: if the Application event log shows 'Faulting application name: IaaSBcdrExtension.exe', "
        "the antivirus is blocking the backup extension.",
        "Windows: exclude C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot and "
        "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot from antivirus scanning, "
        "then retry the backup.",
    ),
    "ExtensionFailedSnapshotLimitReachedError": (
        "Delete disk blob-snapshots that are not needed (snapshot blobs only, never the disk blobs).",
        "If soft delete is on for the disks' storage accounts, set its retention so the snapshots stay under "
        "the maximum at any time.",
        "If Azure Site Recovery protects the VM: set isanysnapshotfailed to false in /etc/azure/vmbackup.conf "
        "and schedule replication at another time than the backup.",
    ),
    "ExtensionFailedTimeoutVMNetworkUnresponsive": (
        f"Windows: take the snapshot through the host: REG ADD \"{_BCDR_KEYS}\" /v SnapshotMethod /t REG_SZ "
        f"/d firstHostThenGuest /f and REG ADD \"{_BCDR_KEYS}\" /v CalculateSnapshotTimeFromHost /t REG_SZ "
        "/d True /f, then retry the backup.",
        "Move the backup schedule to a time when the VM is under less load (CPU, IOPS).",
        "If it persists, increase the VM size and retry.",
    ),
    "ExtensionFailedVssServiceInBadState": (
        "Windows: restart the Volume Shadow Copy service (services.msc, or 'net stop VSS' and 'net start VSS' "
        "from an elevated prompt).",
        "If it persists, restart the VM at a scheduled downtime.",
    ),
    "UserErrorRequestDisallowedByPolicy": (
        "Change the policy assignment's effect from Deny to Modify (the policy then adds the tags instead of "
        "refusing the backup service's request), or",
        "create the restore-point resource group yourself with the name Azure Backup expects (the policy's "
        "instantRpDetails prefix/suffix, else AzureBackupRG_<region>_1) and the tags the policy requires.",
        "No exemption is created automatically: the policy belongs to whoever governs the subscription.",
    ),
    "UserErrorInstantRpNotFound": (
        "Restore from a different restore point: this one was deleted in the snapshot phase before it reached "
        "the vault.",
    ),
    "UserErrorMigrationFromTrustedLaunchVMToNonTrustedVMNotAllowed": (
        "A Trusted Launch VM cannot be moved to Generation 2 without Trusted Launch (its VM guest state blob "
        "is missing).",
        "To protect a Standard VM named like a deleted Trusted Launch one: disable soft delete, stop protection "
        "deleting the backup data, re-enable soft delete, then configure protection again; or create the VM "
        "under another name or resource group.",
    ),
})


def article_steps(code: str | None) -> tuple[str, ...]:
    return ARTICLE_STEPS.get(code or "", ())
