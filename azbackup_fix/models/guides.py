"""The troubleshooting guides findings cite, as people know them: English title and Microsoft Learn URL.

The seeds (``guide`` ids such as ``"000"``) are machine-translated copies of Microsoft's Azure Backup
troubleshooting articles; a report names the original article and section, with a link, rather than
the seed id. ``000``, ``002``, ``003`` and ``004`` are versions of the same article (agent and
extension issues); ``001`` is the general VM backup troubleshooting article.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CURRENT_ARTICLE_SECTIONS", "GUIDES", "Guide", "guide_for", "section_title"]

_LEARN = "https://learn.microsoft.com/en-us/azure/backup/"


@dataclass(frozen=True, slots=True)
class Guide:
    id: str
    title: str
    url: str

    def link(self, section: str | None = None) -> str:
        return f"{self.url}#{section}" if section else self.url


_AGENT = ("Troubleshoot Azure Backup failure: Issues with the agent or extension",
          _LEARN + "backup-azure-troubleshoot-vm-backup-fails-snapshot-timeout")

GUIDES: dict[str, Guide] = {
    "000": Guide("000", *_AGENT),
    "001": Guide("001", "Troubleshoot backup errors with Azure virtual machines",
                 _LEARN + "backup-azure-vms-troubleshoot"),
    "002": Guide("002", *_AGENT),
    "003": Guide("003", *_AGENT),
    "004": Guide("004", *_AGENT),
}

# The English headings of the sections the catalogue cites, by anchor.
_SECTIONS: dict[str, str] = {
    "step-1-check-azure-vm-health": "Step 1: Check Azure VM health",
    "step-2-check-azure-vm-guest-agent-service-health": "Step 2: Check Azure VM Guest Agent service health",
    "step-3-check-azure-vm-extension-health": "Step 3: Check Azure VM Extension health",
    "step-4-check-azure-backup-vm-extension-health": "Step 4: Check Azure Backup VM Extension health",
    "remove-lock-from-the-recovery-point-resource-group": "Remove lock from the recovery point resource group",
    "clean-up-restore-point-collection": "Clean up restore point collection",
    "the-backup-extension-fails-to-update-or-load": "The backup extension fails to update or load",
    "the-agent-installed-in-the-vm-is-out-of-date-for-linux-vms":
        "The agent installed in the VM is out of date (for Linux VMs)",
    "troubleshoot-azure-virtual-machine-backup": "Troubleshoot Azure virtual machine backup",
    "troubleshoot-vm-snapshot-issues": "Troubleshoot VM snapshot issues",
    "application-control-solution-is-blocking-iaasbcdrextensionexe":
        "Application control solution is blocking IaaSBcdrExtension.exe",
    "validate-vm-agent-installation": "Validate VM Agent installation",
    "the-vm-has-no-internet-access": "The VM has no internet access",
    "allow-access-to-azure-storage-that-corresponds-to-the-region":
        "Allow access to Azure Storage that corresponds to the region",
    "vm-agent-configuration-options-are-not-set-for-linux-vms":
        "VM Agent configuration options are not set (for Linux VMs)",
    "backupoperationfailed--backupoperationfailedv2---backup-fails-with-an-internal-error":
        "BackUpOperationFailed / BackUpOperationFailedV2 - Backup fails, with an internal error",
    "usererrorguestagentstatusunavailable---vm-agent-unable-to-communicate-with-azure-backup":
        "UserErrorGuestAgentStatusUnavailable - VM agent unable to communicate with Azure Backup",
    "guestagentsnapshottaskstatuserror---could-not-communicate-with-the-vm-agent-for-snapshot-status":
        "GuestAgentSnapshotTaskStatusError - Could not communicate with the VM agent for snapshot status",
    "usererrorvmprovisioningstatefailed---the-vm-is-in-failed-provisioning-state":
        "UserErrorVmProvisioningStateFailed - The VM is in failed provisioning state",
    "usererrorrpcollectionlimitreached---the-restore-point-collection-max-limit-has-reached":
        "UserErrorRpCollectionLimitReached - The Restore Point collection max limit has reached",
    "usererrorkeyvaultpermissionsnotconfigured---backup-doesnt-have-sufficient-permissions-to-the-key-vault-for-backup-of-encrypted-vms":
        "UserErrorKeyvaultPermissionsNotConfigured - Backup doesn't have sufficient permissions to the key vault "
        "for backup of encrypted VMs",
    "extensionsnapshotfailednonetwork---snapshot-operation-failed-due-to-no-network-connectivity-on-the-virtual-machine":
        "ExtensionSnapshotFailedNoNetwork - Snapshot operation failed due to no network connectivity on the "
        "virtual machine",
    "extensionoperationfailedformanageddisks---vmsnapshot-extension-operation-failed":
        "ExtensionOperationFailedForManagedDisks - VMSnapshot extension operation failed",
    "usererrorunsupporteddisksize---the-configured-disk-sizes-is-currently-not-supported-by-azure-backup":
        "UserErrorUnsupportedDiskSize - The configured disk size(s) is currently not supported by Azure Backup",
    "usererrorbackupoperationinprogress---unable-to-initiate-backup-as-another-backup-operation-is-currently-in-progress":
        "UserErrorBackupOperationInProgress - Unable to initiate backup as another backup operation is currently "
        "in progress",
    "usererrorcrpreportedusererror---backup-failed-due-to-an-error-for-details-see-job-error-message-details":
        "UserErrorCrpReportedUserError - Backup failed due to an error. For details, see Job Error Message Details",
    "usererrorbcmdatasourcenotpresent---backup-failed-this-virtual-machine-is-not-actively-protected-by-azure-backup":
        "UserErrorBcmDatasourceNotPresent - Backup failed: This virtual machine is not (actively) protected by "
        "Azure Backup",
}

# Sections that only Microsoft's current articles have (the seeds are older copies): anchor -> the
# article's source as read (MicrosoftDocs/azure-docs, articles/backup/<page>.md, ms.date 09/20/2023),
# so a reader can check the claim. The catalogue marks their entries ``in_seeds=False``.
_VMS_TROUBLESHOOT = "https://github.com/MicrosoftDocs/azure-docs/blob/main/articles/backup/backup-azure-vms-troubleshoot.md"
CURRENT_ARTICLE_SECTIONS: dict[str, str] = {
    anchor: _VMS_TROUBLESHOOT for anchor in (
        "vmrestorepointinternalerror---antivirus-configured-in-the-vm-is-restricting-the-execution-of-backup-extension",
        "extensionstuckindeletionstate---extension-state-is-not-supportive-to-the-backup-operation",
        "extensionfailedsnapshotlimitreachederror---snapshot-operation-failed-as-snapshot-limit-is-exceeded-for-"
        "some-of-the-disks-attached",
        "extensionfailedtimeoutvmnetworkunresponsive---snapshot-operation-failed-due-to-inadequate-vm-resources",
        "extensionfailedvssserviceinbadstate---snapshot-operation-failed-due-to-vss-volume-shadow-copy-service-in-"
        "bad-state",
        "usererrorrequestdisallowedbypolicy---an-invalid-policy-is-configured-on-the-vm-which-is-preventing-"
        "snapshot-operation",
        "usererrorinstantrpnotfound---restore-failed-because-the-snapshot-of-the-vm-was-not-found",
        "usererrormigrationfromtrustedlaunchvm-tonontrustedvmnotallowed",
    )
}
_SECTIONS.update({
    "jobs": "Jobs",
    "backup-or-restore-takes-time": "Backup or restore takes time",
    "vmrestorepointinternalerror---antivirus-configured-in-the-vm-is-restricting-the-execution-of-backup-extension":
        "VMRestorePointInternalError - Antivirus configured in the VM is restricting the execution of backup "
        "extension",
    "extensionstuckindeletionstate---extension-state-is-not-supportive-to-the-backup-operation":
        "ExtensionStuckInDeletionState - Extension state is not supportive to the backup operation",
    "extensionfailedsnapshotlimitreachederror---snapshot-operation-failed-as-snapshot-limit-is-exceeded-for-"
    "some-of-the-disks-attached":
        "ExtensionFailedSnapshotLimitReachedError - Snapshot operation failed as snapshot limit is exceeded for "
        "some of the disks attached",
    "extensionfailedtimeoutvmnetworkunresponsive---snapshot-operation-failed-due-to-inadequate-vm-resources":
        "ExtensionFailedTimeoutVMNetworkUnresponsive - Snapshot operation failed due to inadequate VM resources",
    "extensionfailedvssserviceinbadstate---snapshot-operation-failed-due-to-vss-volume-shadow-copy-service-in-"
    "bad-state":
        "ExtensionFailedVssServiceInBadState - Snapshot operation failed due to VSS (Volume Shadow Copy) service "
        "in bad state",
    "usererrorrequestdisallowedbypolicy---an-invalid-policy-is-configured-on-the-vm-which-is-preventing-"
    "snapshot-operation":
        "UserErrorRequestDisallowedByPolicy - An invalid policy is configured on the VM which is preventing "
        "Snapshot operation",
    "usererrorinstantrpnotfound---restore-failed-because-the-snapshot-of-the-vm-was-not-found":
        "UserErrorInstantRpNotFound - Restore failed because the Snapshot of the VM was not found",
    "usererrormigrationfromtrustedlaunchvm-tonontrustedvmnotallowed":
        "UserErrorMigrationFromTrustedLaunchVMToNonTrustedVMNotAllowed",
})

_CODES = (
    "UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError", "UserErrorVmProvisioningStateFailed",
    "UserErrorRpCollectionLimitReached", "UserErrorKeyvaultPermissionsNotConfigured",
    "ExtensionSnapshotFailedNoNetwork", "ExtensionOperationFailedForManagedDisks", "UserErrorUnsupportedDiskSize",
    "UserErrorBackupOperationInProgress", "UserErrorCrpReportedUserError", "UserErrorBcmDatasourceNotPresent",
)


def guide_for(guide_id: str | None) -> Guide | None:
    return GUIDES.get(guide_id) if guide_id else None


def section_title(anchor: str | None) -> str | None:
    """The section's heading for ``anchor``; ``code---words`` anchors read as ``Code - Words``."""
    if not anchor:
        return None
    if anchor in _SECTIONS:
        return _SECTIONS[anchor]
    head, sep, rest = anchor.partition("---")
    if sep:
        code = next((c for c in _CODES if c.casefold() == head), head)
        words = rest.replace("-", " ").strip()
        return f"{code} - {words[:1].upper()}{words[1:]}"
    words = anchor.replace("-", " ").strip()
    return words[:1].upper() + words[1:]
