"""One failure kind per row of the troubleshooting catalogue, applied to a protected VM of an estate
document (docs/estate-files.md) before it is built.

The generated fleet shares these, and the job history is not invented: every protected item carries
`runBackups: 1`, so tonight's backups really run through the sandbox's job engine and each failed job
carries the errorTitle the physics yields for that state."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .export import format_time

__all__ = ["Placement", "FAILURE_KINDS", "KIND_DESCRIPTIONS", "apply_kind", "history", "restore_point_group"]

RP_LIMIT = 18
LOCK_NOTES = "Protect production resources from accidental deletion. Owner: platform team."

Document = dict[str, Any]


@dataclass
class Placement:
    """Where one VM sits in the document: what the kind functions may change."""

    subscription: Document  # its `restorePointCollections` and `locks` lists are appended to
    vault: Document
    vm: Document
    item: Document
    now: datetime
    rng: random.Random
    locks: dict[tuple[str, str], Document]  # the subscription's locks by (scope, name), deduplicated

    def policy(self) -> Document:
        return next(p for p in self.vault["policies"] if p["name"] == self.item["policy"])

    def restore_points(self, count: int) -> Document:
        """The collection Azure Backup keeps for the VM, with `count` daily points ending yesterday."""
        base = self.now.replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=1)
        points = []
        for index in reversed(range(count)):
            when = base - timedelta(days=index) + timedelta(seconds=self.rng.randrange(0, 1800))
            points.append({"timeCreated": format_time(when)})
        rpc = {"name": f"AzureBackup_{self.vm['name']}_{self.rng.getrandbits(64)}",
               "resourceGroup": restore_point_group(self.policy(), self.vm["location"]),
               "source": {"name": self.vm["name"], "resourceGroup": self.vm["resourceGroup"]},
               "restorePoints": points}
        self.subscription.setdefault("restorePointCollections", []).append(rpc)
        return rpc

    def lock(self, group: str, name: str) -> None:
        scope = f"resourceGroups/{group}"
        self.locks.setdefault((scope.lower(), name.lower()), {"name": name, "scope": scope, "level": "CanNotDelete",
                                                              "notes": LOCK_NOTES})


def restore_point_group(policy: Document, location: str) -> str:
    details = policy.get("instantRpDetails") or {}
    if details.get("azureBackupRGNamePrefix"):
        return f"{details['azureBackupRGNamePrefix']}1{details.get('azureBackupRGNameSuffix') or ''}"
    return f"AzureBackupRG_{location}_1"


def _backup_extension(vm: Document) -> Document:
    return next(e for e in vm["extensions"] if e["publisher"] == "Microsoft.Azure.RecoveryServices")


def _healthy(p: Placement) -> None:
    p.restore_points(2)


def _rp_limit_locked(p: Placement) -> None:
    rpc = p.restore_points(RP_LIMIT)
    p.lock(rpc["resourceGroup"], "rg-no-delete")


def _rp_limit_custom_rg(p: Placement) -> None:
    name = "EnhancedPolicy-CustomRG"
    if not any(pol["name"] == name for pol in p.vault["policies"]):
        p.vault["policies"].append({"name": name, "instantRpRetentionRangeInDays": 5, "instantRpDetails": {
            "azureBackupRGNamePrefix": "rg-vmbackup-rp-", "azureBackupRGNameSuffix": "-eus"}})
    p.item["policy"] = name
    rpc = p.restore_points(RP_LIMIT)
    p.lock(rpc["resourceGroup"], "keep-backup-rg")


def _failed_backup_extension(p: Placement) -> None:
    p.restore_points(2)
    _backup_extension(p.vm).update({
        "provisioningState": "Failed", "statusCode": "ProvisioningState/failed/-2147024891", "statusLevel": "Error",
        "statusMessage": "Enable failed: the VMSnapshot extension could not be loaded (handler exited with code "
                         "-2147024891). Snapshot operation failed.",
    })


def _agent_not_ready(p: Placement) -> None:
    p.restore_points(2)
    p.vm["vmAgent"] = {"status": "Not Ready", "vmAgentVersion": "Unknown", "message": "VM Agent is unresponsive.",
                       "revivedByRestart": True}


def _deallocated(p: Placement) -> None:
    p.restore_points(2)
    p.vm["powerState"] = "deallocated"
    p.vm["vmAgent"] = {"status": "", "vmAgentVersion": p.vm["vmAgent"]["vmAgentVersion"], "message": ""}


def _failed_extension(p: Placement) -> None:
    """Another extension (not the backup one) Failed: the VM's provisioning fails with it."""
    p.restore_points(2)
    monitor = next(e for e in p.vm["extensions"] if e["publisher"] != "Microsoft.Azure.RecoveryServices")
    monitor.update({"provisioningState": "Failed", "statusCode": "ProvisioningState/failed/1", "statusLevel": "Error",
                    "statusMessage": "Enable failed: the extension handler exited with code 1."})


def _agent_not_installed(p: Placement) -> None:
    """Created without the VM agent: nothing reports, and no backup extension was ever installed."""
    p.vm["provisionVMAgent"] = False
    p.vm["vmAgent"] = {"status": None}
    p.vm["extensions"] = [e for e in p.vm["extensions"] if e["publisher"] != "Microsoft.Azure.RecoveryServices"]


def _network_nsg_deny(p: Placement) -> None:
    """The VM's NIC NSG denies outbound Internet: its snapshots cannot reach the region's storage."""
    p.restore_points(2)
    name = f"{p.vm['name']}-nsg"
    p.subscription.setdefault("networkSecurityGroups", []).append({
        "name": name, "resourceGroup": p.vm["resourceGroup"], "location": p.vm["location"],
        "securityRules": [{"name": "DenyInternetOutbound", "priority": 200, "direction": "Outbound",
                           "access": "Deny", "protocol": "*", "sourceAddressPrefix": "*", "sourcePortRange": "*",
                           "destinationAddressPrefix": "Internet", "destinationPortRange": "*"}]})
    p.vm["network"] = {"networkSecurityGroup": name}


def _in_progress(p: Placement) -> None:
    p.restore_points(2)
    started = format_time(p.now - timedelta(hours=26))
    p.item.setdefault("jobs", []).append({
        "operation": "Backup", "status": "InProgress", "startTime": started, "stuck": True,
        "tasks": [{"taskId": "Take Snapshot", "status": "InProgress", "startTime": started},
                  {"taskId": "Transfer data to vault"}],
    })


def _protection_stopped(p: Placement) -> None:
    p.restore_points(2)
    p.item.update({"protectionState": "ProtectionStopped", "protectionStatus": "Unhealthy",
                   "healthStatus": "ActionRequired"})


def _disk_too_large(p: Placement) -> None:
    p.restore_points(2)
    p.vm["dataDisks"][0]["diskSizeGB"] = 33_792  # > 32 TB (32,767 GiB is the supported maximum)


def _vm_deleted(p: Placement) -> None:
    p.restore_points(2)
    p.vm["deleted"] = True


# The guest causes of the shipped guest-* estates, as a fleet's VMs carry them (the `guest:` key): each makes
# the nightly backup fail with its documented code, while the agent stays Ready (Run Command can probe it).
GUEST_CAUSES: dict[str, dict[str, Any]] = {
    "defender-blocking": {"defender": {"realTimeProtection": True, "exclusions": []}},
    "strong-crypto-missing": {"registry": {
        "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto": None,
        "HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto": None}},
    "complus-stopped": {"services": {"COMSysApp": {"state": "stopped"}, "MSDTC": {"account": "LocalSystem"}}},
    "vss-writer-failed": {"services": {"SQLWriter": {"state": "running"}},
                          "vssWriters": [{"name": "System Writer", "service": "CryptSvc"},
                                         {"name": "SqlServerWriter", "service": "SQLWriter", "state": "Failed",
                                          "lastError": "Non-retryable error"}]},
}
LINUX_GUEST_CAUSES: dict[str, dict[str, Any]] = {"agent-outdated": {"agentVersion": "2.2.9"}}


def _guest_cause(p: Placement) -> None:
    """A cause inside the guest (one of the guest-* estates' for the VM's OS family), drawn at random."""
    p.restore_points(2)
    causes = LINUX_GUEST_CAUSES if p.vm["osType"] == "Linux" else GUEST_CAUSES
    name = p.rng.choice(sorted(causes))
    p.vm["guest"] = copy.deepcopy(causes[name])
    p.vm["tags"] = {**p.vm.get("tags", {}), "guest-cause": name}
    if "agentVersion" in causes[name]:  # what the agent reports to Azure is the guest's own version
        p.vm["vmAgent"] = {**p.vm["vmAgent"], "vmAgentVersion": causes[name]["agentVersion"]}


FAILURE_KINDS: dict[str, Callable[[Placement], None]] = {
    "healthy": _healthy,
    "rp-limit-locked": _rp_limit_locked,
    "rp-limit-custom-rg": _rp_limit_custom_rg,
    "failed-vmsnapshot": _failed_backup_extension,
    "agent-not-ready": _agent_not_ready,
    "agent-not-installed": _agent_not_installed,
    "failed-extension": _failed_extension,
    "vm-deallocated": _deallocated,
    "backup-in-progress": _in_progress,
    "protection-stopped": _protection_stopped,
    "disk-too-large": _disk_too_large,
    "vm-deleted": _vm_deleted,
    "network-nsg-deny": _network_nsg_deny,
    "guest-cause": _guest_cause,
}

KIND_DESCRIPTIONS: dict[str, str] = {
    "healthy": "protected, agent ready, backups succeed",
    "rp-limit-locked": "18 restore points, CanNotDelete lock on AzureBackupRG_<geo>_1 (UserErrorRpCollectionLimitReached)",
    "rp-limit-custom-rg": "policy names its own restore-point RG (prefix/suffix), locked, at the limit",
    "failed-vmsnapshot": "backup extension Failed, VM provisioning Failed (UserErrorVmProvisioningStateFailed)",
    "agent-not-ready": "VM agent Not Ready, version Unknown (UserErrorGuestAgentStatusUnavailable)",
    "agent-not-installed": "VM created without the agent (provisionVMAgent false; UserErrorGuestAgentStatusUnavailable)",
    "failed-extension": "another extension Failed, VM provisioning Failed (UserErrorVmProvisioningStateFailed)",
    "vm-deallocated": "VM deallocated, no agent status",
    "backup-in-progress": "a backup job stuck InProgress for 26 h (UserErrorBackupOperationInProgress)",
    "protection-stopped": "protection stopped, data retained (UserErrorBcmDatasourceNotPresent)",
    "disk-too-large": "a data disk over 32 TB (UserErrorUnsupportedDiskSize)",
    "vm-deleted": "VM deleted, still protected in the vault",
    "network-nsg-deny": "the NIC's NSG denies outbound Internet (ExtensionSnapshotFailedNoNetwork)",
    "guest-cause": "a cause inside the guest, agent Ready (Windows: Defender, strong crypto, COM+ or a VSS writer; "
                   "Linux: an outdated agent), as the guest-* estates",
}


def apply_kind(kind: str, placement: Placement) -> None:
    try:
        FAILURE_KINDS[kind](placement)
    except KeyError:
        raise ValueError(f"unknown failure kind '{kind}'; known: {', '.join(FAILURE_KINDS)}") from None


def history(item: Document, now: datetime, rng: random.Random, *, days: int, snapshot_seconds: float,
            transfer_seconds: float) -> None:
    """Completed nightly jobs of the previous days, as a real vault lists them."""
    jobs = item.setdefault("jobs", [])
    for day in range(days, 0, -1):
        start = now.replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=day)
        start += timedelta(seconds=rng.randrange(0, 1800))
        snap_end = start + timedelta(seconds=snapshot_seconds)
        end = snap_end + timedelta(seconds=transfer_seconds)
        jobs.append({
            "operation": "Backup", "status": "Completed", "startTime": format_time(start), "endTime": format_time(end),
            "tasks": [{"taskId": "Take Snapshot", "status": "Completed", "startTime": format_time(start),
                       "endTime": format_time(snap_end)},
                      {"taskId": "Transfer data to vault", "status": "Completed", "startTime": format_time(snap_end),
                       "endTime": format_time(end)}],
        })
        item["lastBackupTime"], item["lastRecoveryPoint"] = format_time(end), format_time(snap_end)
