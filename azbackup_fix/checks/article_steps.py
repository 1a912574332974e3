"""What the current guide 001 prescribes inside the VM for its newer guest-side codes, condensed: steps
nobody can take through ARM (report only until the guest channel lands).

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
})


def article_steps(code: str | None) -> tuple[str, ...]:
    return ARTICLE_STEPS.get(code or "", ())
