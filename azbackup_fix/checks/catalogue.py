"""The failure catalogue (DESIGN.md section 3) as data.

One :class:`CatalogueEntry` per code a finding can carry: the documented job
error codes (``errorTitle``) and the cause codes our checks derive from state.
Each names the troubleshooting guide (seed id) and section anchor it comes from,
the playbooks that fix it, and, for the text fallback, English fragments of the
documented error message. The tuple's order is the guides' order, which
:func:`~azbackup_fix.checks.diagnose.diagnose` uses to sort findings: step 1 VM
health, step 2 agent, step 3 extensions, step 4 backup extension, then the job
error rows as guide 000 lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..models import Evidence, Finding, Severity
from ..models.guides import GUIDES, Guide, guide_for, section_title

__all__ = [
    "CATALOGUE",
    "GUIDES",
    "Guide",
    "CatalogueEntry",
    "Playbook",
    "canonical_code",
    "entry_for",
    "finding_from_entry",
    "guide_for",
    "match_error_text",
    "rank_of",
    "section_title",
]


class Playbook:
    """Playbook ids the findings may name (the registry lives in ``azbackup_fix.playbooks``)."""

    CLEAR_RESTORE_POINT_LIMIT = "clear-restore-point-limit"
    REINSTALL_BACKUP_EXTENSION = "reinstall-backup-extension"
    RESOLVE_BACKUP_IN_PROGRESS = "resolve-backup-in-progress"
    TRIGGER_BACKUP = "trigger-backup"
    RECOVER_VM_PROVISIONING = "recover-vm-provisioning"
    RESUME_PROTECTION = "resume-protection"
    STOP_PROTECTION_RETAIN_DATA = "stop-protection-retain-data"
    DELETE_ORPHANED_RESTORE_POINTS = "delete-orphaned-restore-points"
    RERUN_FAILED_EXTENSION = "rerun-failed-extension"
    WAIT_FOR_VM_STATE = "wait-for-vm-state"
    GRANT_BACKUP_KEY_VAULT_ACCESS = "grant-backup-key-vault-access"
    ALLOW_STORAGE_OUTBOUND = "allow-storage-outbound"
    FIX_GUEST = "fix-guest"
    REINSTALL_BACKUP_EXTENSION_CLEAN = "reinstall-backup-extension-clean"
    ALL = (
        CLEAR_RESTORE_POINT_LIMIT,
        REINSTALL_BACKUP_EXTENSION,
        RESOLVE_BACKUP_IN_PROGRESS,
        TRIGGER_BACKUP,
        RECOVER_VM_PROVISIONING,
        RESUME_PROTECTION,
        STOP_PROTECTION_RETAIN_DATA,
        DELETE_ORPHANED_RESTORE_POINTS,
        RERUN_FAILED_EXTENSION,
        WAIT_FOR_VM_STATE,
        GRANT_BACKUP_KEY_VAULT_ACCESS,
        ALLOW_STORAGE_OUTBOUND,
        FIX_GUEST,
        REINSTALL_BACKUP_EXTENSION_CLEAN,
    )


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    code: str
    guide: str | None
    guide_section: str | None
    playbooks: tuple[str, ...]
    description: str  # one line: the documented message, or what the cause code means
    documented: bool = True  # False: a cause code derived from state, never an errorTitle
    aliases: tuple[str, ...] = ()  # other errorTitles meaning the same
    messages: tuple[str, ...] = ()  # lower-case English message fragments for the text fallback
    step: str = "job"  # vm-health / agent / extensions / backup-extension / job
    # False: the code is documented only in Microsoft's current article, not in the seeds (older copies);
    # models/guides.py CURRENT_ARTICLE_SECTIONS names the article's source for each such section.
    in_seeds: bool = True

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.code, *self.aliases)


_AGENT_GUIDE = "000"
_S = {  # guide 000 anchors, as the seeds spell them
    "step1": "step-1-check-azure-vm-health",
    "step2": "step-2-check-azure-vm-guest-agent-service-health",
    "step3": "step-3-check-azure-vm-extension-health",
    "step4": "step-4-check-azure-backup-vm-extension-health",
    "agent": "usererrorguestagentstatusunavailable---vm-agent-unable-to-communicate-with-azure-backup",
    "snapshot_status": "guestagentsnapshottaskstatuserror---could-not-communicate-with-the-vm-agent-for-snapshot-status",
    "provisioning": "usererrorvmprovisioningstatefailed---the-vm-is-in-failed-provisioning-state",
    "rp_limit": "usererrorrpcollectionlimitreached---the-restore-point-collection-max-limit-has-reached",
    "keyvault": "usererrorkeyvaultpermissionsnotconfigured---backup-doesnt-have-sufficient-permissions-to-the-key-vault-for-backup-of-encrypted-vms",
    "no_network": "extensionsnapshotfailednonetwork---snapshot-operation-failed-due-to-no-network-connectivity-on-the-virtual-machine",
    "ext_failed": "extensionoperationfailedformanageddisks---vmsnapshot-extension-operation-failed",
    "internal": "backupoperationfailed--backupoperationfailedv2---backup-fails-with-an-internal-error",
    "disk_size": "usererrorunsupporteddisksize---the-configured-disk-sizes-is-currently-not-supported-by-azure-backup",
    "in_progress": "usererrorbackupoperationinprogress---unable-to-initiate-backup-as-another-backup-operation-is-currently-in-progress",
    "crp": "usererrorcrpreportedusererror---backup-failed-due-to-an-error-for-details-see-job-error-message-details",
    "bcm": "usererrorbcmdatasourcenotpresent---backup-failed-this-virtual-machine-is-not-actively-protected-by-azure-backup",
    "rp_lock": "remove-lock-from-the-recovery-point-resource-group",
    "rp_cleanup": "clean-up-restore-point-collection",
    "agent_linux": "the-agent-installed-in-the-vm-is-out-of-date-for-linux-vms",
    "agent_config": "vm-agent-configuration-options-are-not-set-for-linux-vms",
    "app_control": "application-control-solution-is-blocking-iaasbcdrextensionexe",
}
_VMS_GUIDE = "001"  # Troubleshoot backup errors with Azure virtual machines
_C = {  # guide 001's sections that only Microsoft's current article has (models/guides.py)
    "antivirus": "vmrestorepointinternalerror---antivirus-configured-in-the-vm-is-restricting-the-execution-of-backup-extension",
    "stuck_deletion": "extensionstuckindeletionstate---extension-state-is-not-supportive-to-the-backup-operation",
    "snapshot_limit": "extensionfailedsnapshotlimitreachederror---snapshot-operation-failed-as-snapshot-limit-is-exceeded-for-some-of-the-disks-attached",
    "vm_resources": "extensionfailedtimeoutvmnetworkunresponsive---snapshot-operation-failed-due-to-inadequate-vm-resources",
    "vss_service": "extensionfailedvssserviceinbadstate---snapshot-operation-failed-due-to-vss-volume-shadow-copy-service-in-bad-state",
    "policy": "usererrorrequestdisallowedbypolicy---an-invalid-policy-is-configured-on-the-vm-which-is-preventing-snapshot-operation",
    "instant_rp": "usererrorinstantrpnotfound---restore-failed-because-the-snapshot-of-the-vm-was-not-found",
    "trusted_launch": "usererrormigrationfromtrustedlaunchvm-tonontrustedvmnotallowed",
}
_NET_GUIDE = "002"
_N = {  # guide 002's sections on the network path
    "no_internet": "the-vm-has-no-internet-access",
    "storage_tag": "allow-access-to-azure-storage-that-corresponds-to-the-region",
}
_VM_TABLE = "troubleshoot-azure-virtual-machine-backup"  # guide 001's error table
_P = Playbook

CATALOGUE: tuple[CatalogueEntry, ...] = (
    # -- step 1: VM health --------------------------------------------------------------------
    CatalogueEntry(
        "VmNotFoundButProtected", "001", "troubleshoot-azure-virtual-machine-backup",
        (_P.STOP_PROTECTION_RETAIN_DATA,),
        "The VM was deleted but a vault still protects it; stop protection and retain the data.",
        documented=False,
        # Titles the service uses for a deleted VM (background knowledge, not in the seeds).
        aliases=("UserErrorVmNotFound", "UserErrorVmNotFoundV2"),
        messages=("vm no longer exists", "virtual machine doesn't exist", "virtual machine does not exist",
                  "azure virtual machine not found"),
        step="vm-health",
    ),
    CatalogueEntry(
        "UserErrorVmProvisioningStateFailed", _AGENT_GUIDE, _S["provisioning"],
        (_P.REINSTALL_BACKUP_EXTENSION,),
        "The VM is in failed provisioning state.",
        messages=("vm is in failed provisioning state",),
        step="vm-health",
    ),
    CatalogueEntry(
        "VmProvisioningStateTransitioning", _AGENT_GUIDE, _S["step1"], (_P.WAIT_FOR_VM_STATE,),
        "The VM is updating/creating/deleting; backups can fail until it settles (wait, then back up).",
        documented=False, step="vm-health",
    ),
    CatalogueEntry(
        "VmPowerStateTransitioning", _AGENT_GUIDE, _S["step1"], (_P.WAIT_FOR_VM_STATE,),
        "The VM is starting, stopping or deallocating; guide 001: wait for the state to change, then back up.",
        documented=False, step="vm-health",
    ),
    CatalogueEntry(
        "VmNotRunning", _AGENT_GUIDE, _S["step1"], (),
        "The VM is stopped or deallocated: Azure Backup backs it up offline, crash-consistent (not "
        "application-consistent); no agent or extension takes part.",
        documented=False, step="vm-health",
    ),
    # -- step 2: guest agent ------------------------------------------------------------------
    CatalogueEntry(
        "UserErrorGuestAgentStatusUnavailable", _AGENT_GUIDE, _S["agent"], (),
        "VM Agent unable to communicate with Azure Backup.",
        messages=("vm agent unable to communicate with azure backup", "vm agent is unable to communicate",
                  "vm agent is unresponsive"),
        step="agent",
    ),
    CatalogueEntry(
        "VmAgentNotInstalled", "001", "validate-vm-agent-installation", (),
        "The VM agent was never installed (provisionVMAgent false, or no agent reports): no restart or "
        "redeploy brings one; install it in the guest.",
        documented=False, step="agent",
        messages=("vm agent is a prerequisite",),
    ),
    CatalogueEntry(
        "AgentlessCrashConsistentBackup", _AGENT_GUIDE, _S["step2"], (),
        "While the agent cannot be fixed, an Enhanced policy's agentless crash-consistent backup keeps backups "
        "running (switching policy is a protection change: reported, never done automatically).",
        documented=False, step="agent",
    ),
    CatalogueEntry(
        "VmAgentOutOfDate", _AGENT_GUIDE, _S["step2"], (),
        "The VM agent is older than the minimum version backups need.",
        documented=False, step="agent",
    ),
    # -- step 3: every extension --------------------------------------------------------------
    CatalogueEntry(
        "ExtensionProvisioningFailed", _AGENT_GUIDE, _S["step3"], (_P.RERUN_FAILED_EXTENSION,),
        "A VM extension other than the backup extension is in failed state and fails the VM's provisioning; "
        "re-run it with a new forceUpdateTag (allow_extension_changes), removed only when asked.",
        documented=False, step="extensions",
    ),
    # -- step 4: the backup extension ---------------------------------------------------------
    CatalogueEntry(
        "BackupExtensionFailed", "002", "the-backup-extension-fails-to-update-or-load",
        (_P.REINSTALL_BACKUP_EXTENSION,),
        "The VMSnapshot backup extension failed; uninstall it and back up so the service reinstalls it.",
        documented=False,
        messages=("backup extension fails to update or load", "extension fails to update or load",
                  "extension fails to load"),
        step="backup-extension",
    ),
    CatalogueEntry(
        "BackupExtensionKeepsFailing", "002", "the-backup-extension-fails-to-update-or-load",
        (_P.REINSTALL_BACKUP_EXTENSION_CLEAN,),
        "Reinstalling the VMSnapshot extension did not help (Windows): remove it through ARM, delete its plugin "
        "folder and HandlerState keys in the guest, then back up so the service installs it afresh.",
        documented=False, step="backup-extension",
    ),
    CatalogueEntry(
        # Not in any seed: the current guide 001 documents it (uninstall the extension, back up again).
        "ExtensionStuckInDeletionState", _VMS_GUIDE, _C["stuck_deletion"],
        (_P.REINSTALL_BACKUP_EXTENSION,),
        "Extension state is not supportive to the backup operation: uninstall the backup extension and back up "
        "again (the next backup installs it).",
        messages=("extension state is not supportive to the backup operation",
                  "extension state is not supportive to backup operation", "stuck in deletion"),
        step="backup-extension", in_seeds=False,
    ),
    CatalogueEntry(
        "BackupExtensionNotInstalled", _AGENT_GUIDE, _S["step4"], (),
        "The backup extension is not installed yet; the next backup installs it.",
        documented=False, step="backup-extension",
    ),
    # -- job error rows, in guide 000's order -------------------------------------------------
    CatalogueEntry(
        "GuestAgentSnapshotTaskStatusError", _AGENT_GUIDE, _S["snapshot_status"], (),
        "Could not communicate with the VM agent for snapshot status.",
        messages=("could not communicate with the vm agent for snapshot status",
                  "snapshot vm sub task timed out"),
    ),
    CatalogueEntry(
        "UserErrorRpCollectionLimitReached", _AGENT_GUIDE, _S["rp_limit"], (_P.CLEAR_RESTORE_POINT_LIMIT,),
        "The Restore Point collection max limit has reached.",
        messages=("restore point collection max limit",),
    ),
    CatalogueEntry(
        "RestorePointResourceGroupLocked", _AGENT_GUIDE, _S["rp_lock"], (_P.CLEAR_RESTORE_POINT_LIMIT,),
        "A lock on the restore-point resource group stops Azure Backup from cleaning up old restore points.",
        documented=False,
        messages=("does not have permission to delete the old restore points",),
    ),
    CatalogueEntry(
        "VmResourceGroupLocked", _AGENT_GUIDE, _S["rp_limit"], (),
        "A lock on the VM's resource group; it blocks cleanup only where the VM's restore points live there.",
        documented=False,
    ),
    CatalogueEntry(
        "OrphanedRestorePointCollection", _AGENT_GUIDE, _S["rp_cleanup"], (_P.DELETE_ORPHANED_RESTORE_POINTS,),
        "Restore point collections whose source VM no longer exists still hold (and bill) snapshots.",
        documented=False,
    ),
    CatalogueEntry(
        "SubscriptionLocked", _AGENT_GUIDE, _S["rp_lock"], (),
        "A subscription lock is inherited by the restore-point groups and blocks cleanup (never removed here).",
        documented=False,
    ),
    CatalogueEntry(
        "UserErrorKeyvaultPermissionsNotConfigured", _AGENT_GUIDE, _S["keyvault"], (_P.GRANT_BACKUP_KEY_VAULT_ACCESS,),
        "Backup doesn't have sufficient permissions to the key vault for backup of encrypted VMs.",
        messages=("sufficient permissions to the key vault", "permissions to the key vault"),
    ),
    CatalogueEntry(
        "ExtensionSnapshotFailedNoNetwork", _AGENT_GUIDE, _S["no_network"], (),
        "Snapshot operation failed due to no network connectivity on the virtual machine.",
        messages=("no network connectivity",),
    ),
    # -- the network path behind it (checks/network.py; read only for the path's error codes) ---------
    CatalogueEntry(
        "StorageOutboundDenied", _NET_GUIDE, _N["storage_tag"], (_P.ALLOW_STORAGE_OUTBOUND,),
        "An NSG rule on the NIC or subnet denies outbound HTTPS to the region's storage (Storage.<region>).",
        documented=False,
    ),
    CatalogueEntry(
        "StorageOutboundOpenedByFix", _NET_GUIDE, _N["storage_tag"], (_P.TRIGGER_BACKUP,),
        "The path to storage is open through the rule allow-storage-outbound added; a backup verifies it.",
        documented=False,
    ),
    CatalogueEntry(
        "StorageRoutedToAppliance", _NET_GUIDE, _N["no_internet"], (),
        "A route sends the region's storage traffic to a virtual appliance or nowhere (reported, never changed).",
        documented=False,
    ),
    CatalogueEntry(
        "CustomDnsServers", _NET_GUIDE, _N["no_internet"], (),
        "The VM uses custom DNS servers; whether they resolve the storage endpoints is seen only in the guest.",
        documented=False,
    ),
    CatalogueEntry(
        "NetworkPathOpenCheckGuest", _AGENT_GUIDE, _S["step4"], (),
        "The Azure-side path to storage is open and 168.63.129.16 is never filtered by Azure: the cause is in the guest.",
        documented=False,
    ),
    CatalogueEntry(
        "NetworkPathNotVisible", _AGENT_GUIDE, _S["step1"], (),
        "The VM is not running: Azure computes no effective rules or routes for it.",
        documented=False,
    ),
    CatalogueEntry(
        "NetworkPathUnreadable", _NET_GUIDE, _N["no_internet"], (),
        "The network path could not be read (azure-mgmt-network missing, or permission denied).",
        documented=False,
    ),
    CatalogueEntry(
        "ExtensionOperationFailedForManagedDisks", _AGENT_GUIDE, _S["ext_failed"],
        (_P.REINSTALL_BACKUP_EXTENSION,),
        "VMSnapshot extension operation failed.",
        # The older guide (seed 002) spells it ExtentionOperationFailed.
        aliases=("ExtensionOperationFailed", "ExtentionOperationFailed"),
        messages=("vmsnapshot extension operation failed",),
    ),
    CatalogueEntry(
        "BackUpOperationFailed", _AGENT_GUIDE, _S["internal"], (),
        "Backup failed with an internal error; the cause is the agent, the snapshot, the extension or an RG lock.",
        aliases=("BackUpOperationFailedV2",),
        messages=("backup failed with an internal error",),
    ),
    CatalogueEntry(
        "UserErrorUnsupportedDiskSize", _AGENT_GUIDE, _S["disk_size"], (),
        "The configured disk size(s) is currently not supported by Azure Backup (split the disk).",
        messages=("disk size(s) is currently not supported", "disk sizes is currently not supported",
                  "disk size is currently not supported"),
    ),
    CatalogueEntry(
        "UserErrorBackupOperationInProgress", _AGENT_GUIDE, _S["in_progress"], (_P.RESOLVE_BACKUP_IN_PROGRESS,),
        "Unable to initiate backup as another backup operation is currently in progress.",
        messages=("another backup operation is currently in progress",),
    ),
    CatalogueEntry(
        "BackupJobInProgress", _AGENT_GUIDE, _S["in_progress"], (_P.RESOLVE_BACKUP_IN_PROGRESS,),
        "A backup job for this VM is running in its vault.",
        documented=False,
    ),
    CatalogueEntry(
        "BackupJobInProgressElsewhere", _AGENT_GUIDE, _S["in_progress"], (_P.RESOLVE_BACKUP_IN_PROGRESS,),
        "A backup job for this VM is running in another vault (backup was reconfigured).",
        documented=False,
    ),
    CatalogueEntry(
        "UserErrorCrpReportedUserError", _AGENT_GUIDE, _S["crp"], (),
        "Backup failed due to an error. For details, see Job Error Message Details.",
        messages=("for details, see job error message details", "see job error message details"),
    ),
    CatalogueEntry(
        "UserErrorBcmDatasourceNotPresent", _AGENT_GUIDE, _S["bcm"], (_P.RESUME_PROTECTION,),
        "Backup failed: This virtual machine is not (actively) protected by Azure Backup.",
        messages=("not (actively) protected by azure backup", "not actively protected by azure backup"),
    ),
    CatalogueEntry(
        "VmNotProtected", _AGENT_GUIDE, _S["bcm"], (),
        "No Recovery Services vault protects this VM.",
        documented=False,
    ),
    CatalogueEntry(
        # After a Standard-to-Enhanced policy migration: the internal-error causes still apply; the migration
        # itself runs a backup job (Microsoft's migration article), which can collide with ours.
        "EnhancedPolicyMigration", _AGENT_GUIDE, _S["internal"], (),
        "The VM's protection was migrated from Standard to Enhanced policy; the migration runs its own backup "
        "job and cannot be undone.",
        documented=False,
    ),
    # -- guide 001's job rows and backup jobs ---------------------------------------------------
    CatalogueEntry(
        "BackupJobTakingLong", _VMS_GUIDE, "backup-or-restore-takes-time", (),
        "A backup has been running for more than 12 hours (guide 001: backup or restore takes time).",
        documented=False,
    ),
    # -- newer codes: Microsoft's current guide 001 (not in the seeds) ---------------------------
    CatalogueEntry(
        "VMRestorePointInternalError", _VMS_GUIDE, _C["antivirus"], (),
        "Antivirus configured in the VM is restricting the execution of the backup extension (exclude its "
        "folders; guest-side, report only).",
        messages=("antivirus configured in the vm is restricting",),
        in_seeds=False,
    ),
    CatalogueEntry(
        "ExtensionFailedSnapshotLimitReachedError", _VMS_GUIDE, _C["snapshot_limit"], (),
        "Snapshot operation failed as snapshot limit is exceeded for some of the disks attached.",
        messages=("snapshot limit is exceeded for some of the disks",),
        in_seeds=False,
    ),
    CatalogueEntry(
        "ExtensionFailedTimeoutVMNetworkUnresponsive", _VMS_GUIDE, _C["vm_resources"], (),
        "Snapshot operation failed due to inadequate VM resources (network calls delayed during the snapshot).",
        messages=("snapshot operation failed due to inadequate vm resources",),
        in_seeds=False,
    ),
    CatalogueEntry(
        "ExtensionFailedVssServiceInBadState", _VMS_GUIDE, _C["vss_service"], (),
        "Snapshot operation failed due to VSS (Volume Shadow Copy) service in bad state.",
        messages=("vss (volume shadow copy) service in bad state", "volume shadow copy) service in bad state"),
        in_seeds=False,
    ),
    CatalogueEntry(
        "UserErrorRequestDisallowedByPolicy", _VMS_GUIDE, _C["policy"], (),
        "An invalid policy is configured on the VM which is preventing Snapshot operation (a Deny policy stops "
        "the service creating or tagging the restore-point resource group).",
        messages=("invalid policy is configured on the vm",),
        in_seeds=False,
    ),
    CatalogueEntry(
        "UserErrorInstantRpNotFound", _VMS_GUIDE, _C["instant_rp"], (),
        "Restore failed because the snapshot of the VM was not found; restore from a different restore point.",
        messages=("snapshot of the vm was not found",),
        in_seeds=False,
    ),
    CatalogueEntry(
        "UserErrorMigrationFromTrustedLaunchVMToNonTrustedVMNotAllowed", _VMS_GUIDE, _C["trusted_launch"], (),
        "Backup cannot be configured for a VM that migrated from Trusted Launch to non Trusted Launch mode.",
        messages=("migrated from trusted launch mode to non trusted launch mode",),
        in_seeds=False,
    ),
    # -- inside the guest (issue 14): read by Run Command probes, fixed by fix-guest -------------------
    CatalogueEntry(
        "ExtensionFailedVssWriterInBadState", _VMS_GUIDE, _VM_TABLE, (_P.FIX_GUEST,),
        "Snapshot operation failed because VSS writers were in a bad state (restart their services).",
        messages=("vss writers were in a bad state", "vss writer is in a bad state"),
    ),
    CatalogueEntry(
        "ExtensionSnapshotFailedCOM", _VMS_GUIDE, _VM_TABLE, (_P.FIX_GUEST,),
        "Snapshot or extension installation failed due to a COM+ error (start COM+ System Application; "
        "MSDTC logs on as Network Service).",
        aliases=("ExtensionInstallationFailedCOM", "ExtensionInstallationFailedMDTC"),
        messages=("com+ error", "com+ was unable to talk to the microsoft distributed transaction coordinator"),
    ),
    CatalogueEntry(
        "ExtensionFailedSecureNetworkChannel", _VMS_GUIDE, _VM_TABLE, (_P.FIX_GUEST,),
        "Snapshot operation failed: no secure network channel (set SchUseStrongCrypto for each .NET Framework).",
        messages=("secure network communication channel",),
    ),
    CatalogueEntry(
        "ExtensionVCRedistInstallationFailure", _VMS_GUIDE, _VM_TABLE, (_P.FIX_GUEST,),
        "Snapshot failed: the VC++ 2012 redistributable could not install (msiserver must not be disabled).",
        messages=("visual c++ redistributable",),
    ),
    CatalogueEntry(
        "ExtensionConfigParsingFailure", _VMS_GUIDE, _VM_TABLE, (_P.FIX_GUEST,),
        "Snapshot failed parsing its configuration: the MachineKeys folder's permissions were changed "
        "(reset them to the default).",
        messages=("failure in parsing the config", "configuration parse failure"),
    ),
    CatalogueEntry(
        "SqlServerVssCopyBackupNotSet", _VMS_GUIDE, "troubleshoot-vm-snapshot-issues", (_P.FIX_GUEST,),
        "SQL Server runs and VSS full backups delay the snapshot: set USEVSSCOPYBACKUP=TRUE (BcdrAgent).",
        documented=False,
    ),
    CatalogueEntry(
        "ExtensionSnapshotFailedBitLocker", _VMS_GUIDE, _VM_TABLE, (),
        "Snapshot failed with a VSS error: a drive is locked by BitLocker Drive Encryption (unlock it).",
        messages=("locked by bitlocker drive encryption",),
    ),
    CatalogueEntry(
        "ApplicationControlBlockingBackupExtension", _AGENT_GUIDE, _S["app_control"], (),
        "AppLocker (or another application control solution) blocks IaaSBcdrExtension.exe: allow it.",
        documented=False,
    ),
    CatalogueEntry(
        "GuestRebootPending", _VMS_GUIDE, _VM_TABLE, (),
        "A restart of the guest is pending (servicing, Windows Update or file renames): restart the VM.",
        documented=False,
    ),
    CatalogueEntry(
        "AntivirusBlockingBackupExtension", _AGENT_GUIDE, _S["step4"], (_P.FIX_GUEST,),
        "The antivirus stops IaaSBcdrExtension.exe: exclude the VMSnapshot plugin folders.",
        documented=False,
    ),
    CatalogueEntry(
        "AgentConfigurationNotSet", _AGENT_GUIDE, _S["agent_config"], (_P.FIX_GUEST,),
        "waagent.conf does not set Extensions.Enable=y and Provisioning.Agent=auto.",
        documented=False,
    ),
    CatalogueEntry(
        "GuestAgentOutOfDate", _AGENT_GUIDE, _S["agent_linux"], (_P.FIX_GUEST,),
        "The Linux agent in the guest is out of date: update it from the distribution's repository.",
        documented=False,
    ),
    CatalogueEntry(
        "WireServerUnreachable", _AGENT_GUIDE, _S["step4"], (),
        "The guest cannot reach 168.63.129.16 on port 80 or 32526 (guest firewall or proxy).",
        documented=False,
    ),
    # -- Linux guest probes and storage reachability (issue 14; report only) ------------------------
    CatalogueEntry(
        "GuestDhcpDisabled", _AGENT_GUIDE, _S["step4"], (),
        "The guest's network configuration turns DHCP off: the next boot leaves the agent without its fabric "
        "address (DHCP must stay on in the guest; set a static IP in Azure instead).",
        documented=False,
    ),
    CatalogueEntry(
        "ProxyNotBypassingWireServer", _AGENT_GUIDE, _S["step4"], (),
        "A proxy in the guest does not let 168.63.129.16 bypass it (no_proxy); the extensions fail.",
        documented=False,
    ),
    CatalogueEntry(
        "SELinuxDeniesAgent", _VMS_GUIDE, _VM_TABLE, (),
        "SELinux enforces and denies waagent (AVC denials): exclude /var/lib/waagent from the security policy.",
        documented=False,
    ),
    CatalogueEntry(
        # Guide 001's row "Backup failed to freeze one or more mount points"; the errorTitle is our guess.
        "UserErrorFsFreezeFailed", _VMS_GUIDE, _VM_TABLE, (),
        "Backup failed to freeze one or more mount points of the VM to take a file-system consistent snapshot "
        "(a file system not clean, or mounted twice: unmount, fsck, remount).",
        messages=("failed to freeze one or more mount points",),
    ),
    CatalogueEntry(
        "GuestVarLowOnSpace", _AGENT_GUIDE, _S["step4"], (),
        "Little free space under /var: the snapshot extension cannot unpack or write its status.",
        documented=False,
    ),
    CatalogueEntry(
        "StorageUnreachableFromGuest", _AGENT_GUIDE, _S["step4"], (),
        "The guest cannot open TCP to the storage endpoint on 443 (guide 000: ports 80, 443 and 32526).",
        documented=False,
    ),
    CatalogueEntry(
        "StorageReachabilityNotChecked", _AGENT_GUIDE, _S["step4"], (),
        "No storage endpoint to test on 443: the VM has no boot-diagnostics storage account and none was given.",
        documented=False,
    ),
    CatalogueEntry(
        "GuestChannelUnavailable", _AGENT_GUIDE, _S["agent"], (),
        "Run Command cannot reach the guest now; only Azure-side levers remain.",
        documented=False,
    ),
    CatalogueEntry(
        "GuestProbeFailed", _AGENT_GUIDE, _S["step4"], (),
        "The guest probe failed or its output was cut: the guest's state is unknown, not healthy.",
        documented=False,
    ),
    CatalogueEntry(
        "GuestProbeSuggested", _AGENT_GUIDE, _S["step4"], (),
        "The job's error points inside the guest and the agent is Ready: probe it "
        "(azbackup-fix diagnose --vm ID --probe-guest).",
        documented=False,
    ),
)

_BY_CODE: dict[str, tuple[int, CatalogueEntry, str]] = {
    code.casefold(): (i, entry, code) for i, entry in enumerate(CATALOGUE) for code in entry.codes
}


def entry_for(code: str | None) -> CatalogueEntry | None:
    """The entry for a code or alias, case-insensitively (``errorTitle`` casing varies)."""
    if not code:
        return None
    hit = _BY_CODE.get(code.strip().casefold())
    return hit[1] if hit else None


def canonical_code(code: str) -> str:
    """The catalogue's spelling of ``code`` (or ``code`` itself when unknown)."""
    hit = _BY_CODE.get(code.strip().casefold())
    return hit[2] if hit else code.strip()


def rank_of(code: str) -> int:
    """Position in the guides' order; unknown codes sort after every known one."""
    hit = _BY_CODE.get(code.casefold())
    return hit[0] if hit else len(CATALOGUE)


def _normalise_text(text: str) -> str:
    return " ".join(text.replace("’", "'").casefold().split())


def match_error_text(text: str | None) -> CatalogueEntry | None:
    """Text fallback: the first documented entry whose message fragment occurs in ``text``."""
    if not text:
        return None
    folded = _normalise_text(text)
    for entry in CATALOGUE:
        if any(fragment in folded for fragment in entry.messages):
            return entry
    return None


def finding_from_entry(
    code: str,
    *,
    severity: Severity,
    title: str,
    evidence: Iterable[Evidence] = (),
    playbooks: Iterable[str] | None = None,
    guest_steps: Iterable[str] = (),
) -> Finding:
    """A finding whose guide, section and default playbooks come from the catalogue."""
    entry = entry_for(code)
    return Finding(
        code=canonical_code(code),
        severity=severity,
        title=title,
        evidence=tuple(evidence),
        guide=entry.guide if entry else None,
        guide_section=entry.guide_section if entry else None,
        playbooks=tuple(playbooks) if playbooks is not None else (entry.playbooks if entry else ()),
        guest_steps=tuple(guest_steps),
    )
