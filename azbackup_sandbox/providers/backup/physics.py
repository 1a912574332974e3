"""The backup job engine: what a triggered IaaS VM backup does on the virtual clock.

A trigger creates a job (the API answers 202 whatever the VM's state), unless the item has had its
nine on-demand backups this UTC day (`on_demand_limit_reached`). The job then either fails with the
errorTitle the troubleshooting guides document for the first rule in `RULES` that the estate breaks,
or succeeds:

    t0                        job InProgress, "Take Snapshot" InProgress, actionsInfo ["Cancellable"];
                              the backup extension is installed (or refreshed) on a running VM
    t0 + snapshot             collection created if missing, restore point `AzureBackup_<yyyyMMdd>_<HHmmss>`
                              added, expired points pruned unless locked; "Transfer data to vault" starts
                              (no longer cancellable)
    t0 + snapshot + transfer  job Completed, protected item updated

A stopped or deallocated VM is backed up offline, as the support matrix documents: no agent or
extension takes part (none is installed) and the restore point is crash-consistent, where a running
VM's is application-consistent (Windows, VSS) or file-system-consistent (Linux) [D].

A failing job stays InProgress for `config.backup_fail_seconds` (1 s for UserErrorBackupOperationInProgress,
as recorded) and then turns Failed with one `errorDetails` entry. Service-side writes that a lock blocks
never raise through the API: they only shape the job's result.

errorCode integers: 400249 (UserErrorBackupOperationInProgress) is real [R]; the others are unknown to us
and chosen as plausible, distinct 4xxxxx values -- clients must match on errorTitle (DESIGN §3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ...core.operations import Operation
from ..compute.models import (
    BACKUP_PUBLISHER,
    Extension,
    RestorePoint,
    RestorePointCollection,
    VirtualMachine,
    backup_extension_type,
)
from . import errors
from .models import BackupJob, JobErrorDetail, JobTask, ProtectedItem

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = [
    "SNAPSHOT_TASK",
    "TRANSFER_TASK",
    "RP_LIMIT",
    "MAX_DISK_GB",
    "MAX_ENCRYPTED_DISK_GB",
    "IN_PROGRESS_FAIL_SECONDS",
    "Failure",
    "RULES",
    "trigger_backup",
    "cancel_job",
    "finish_seeded_job",
    "record_job",
    "first_failure",
    "backup_extension",
    "restore_point_name",
    "vm_restore_points",
    "prune_expired",
    "OFFLINE_POWER_STATES",
    "backs_up_offline",
    "restore_point_consistency",
]

SNAPSHOT_TASK = "Take Snapshot"
TRANSFER_TASK = "Transfer data to vault"
RP_LIMIT = 18  # instant restore points per VM, across collections and resource groups [D]
MAX_DISK_GB = 32 * 1024  # "disk size larger than 32 TB" [D]
MAX_ENCRYPTED_DISK_GB = 4 * 1024  # "encrypted disks larger than 4 TB" [D]
IN_PROGRESS_FAIL_SECONDS = 1.0  # the second job fails "within ~1 s" [R]
_HANDLER_VERSION = {"VMSnapshot": "1.9", "VMSnapshotLinux": "1.0"}  # ARM_SEMANTICS §2
_SECRET = "sandbox-secret"  # marks fake credentials; protectedSettings are never serialised
_DOTNET_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
# Power states in which the service backs the VM up offline; the transitional ones (starting,
# stopping, deallocating) still interfere with a backup, as the guides' first step says.
OFFLINE_POWER_STATES = frozenset({"stopped", "deallocated"})


def backs_up_offline(vm: VirtualMachine) -> bool:
    return vm.power_state.lower() in OFFLINE_POWER_STATES


def restore_point_consistency(vm: VirtualMachine) -> str:
    """Compute's `consistencyMode` of the point a backup of this VM adds (CrashConsistent when offline)."""
    return "CrashConsistent" if backs_up_offline(vm) else vm.guest_consistency


@dataclass(frozen=True)
class Failure:
    """One job error as the service reports it in `errorDetails` (plus the nested CRP message)."""

    title: str
    code: int
    message: str
    recommendations: tuple[str, ...] = ()
    nested: str | None = None  # extendedInfo.dynamicErrorMessage (UserErrorCrpReportedUserError)
    fail_after: float | None = None  # seconds until the job fails; None = config.backup_fail_seconds
    counts_as_attempt: bool = True  # updates the item's lastBackupStatus/health when the job fails

    def detail(self) -> JobErrorDetail:
        return JobErrorDetail(self.code, self.title, self.message, list(self.recommendations))


@dataclass
class _Context:
    """What the rules look at: the estate as the job sees it when it starts."""

    sandbox: Sandbox
    item: ProtectedItem
    vm: VirtualMachine | None
    now: datetime
    job: BackupJob
    pruned: list[str] = field(default_factory=list)

    @property
    def offline(self) -> bool:
        """No agent, no extension: the service snapshots the disks of a stopped VM directly."""
        return self.vm is not None and backs_up_offline(self.vm)


def _now(sandbox: Sandbox) -> datetime:
    return sandbox.clock.now()


# ---- the rules, in the order the service evaluates them ----------------------------------------
def rule_protection_stopped(ctx: _Context) -> Failure | None:
    """Stopped or paused protection: the datasource is not actively protected."""
    if ctx.item.protection_state in ("ProtectionStopped", "ProtectionPaused"):
        return Failure(
            "UserErrorBcmDatasourceNotPresent", 400227,  # code guessed
            "Backup failed: This virtual machine is not (actively) protected by Azure Backup.",
            ("Make sure the virtual machine is actively protected (not in a paused or stopped state) "
             "by Azure Backup, then retry the operation.",),
            counts_as_attempt=False,
        )
    return None


def rule_vm_not_found(ctx: _Context) -> Failure | None:
    """The protected VM was deleted. The guides give only the message ("the virtual machine no longer
    exists"); the title UserErrorVmNotFoundV2 is the service's name for it (not verified, code guessed)."""
    if ctx.vm is None:
        return Failure(
            "UserErrorVmNotFoundV2", 400010,
            "Backup cannot perform the operation as the Virtual Machine no longer exists.",
            ("Recreate the virtual machine with the same name and resource group, or stop protecting it "
             "(retaining or deleting the backup data) to stop the scheduled backups.",),
        )
    return None


def rule_backup_in_progress(ctx: _Context) -> Failure | None:
    """Another job for the same VM is running, in this vault or any other (the VM may have been
    protected by another vault before)."""
    for other in ctx.sandbox.backup.jobs_for_vm(ctx.item.vm_id):
        if other is not ctx.job and other.running:
            return Failure(
                "UserErrorBackupOperationInProgress", 400249,  # real [R]
                "Unable to initiate backup as another backup operation is currently in progress.",
                ("Wait until the previous backup operation completes, or cancel it, and then retry the "
                 "operation. If backup was reconfigured in another vault, check that no backup jobs are "
                 "running in the old vault.",),
                fail_after=IN_PROGRESS_FAIL_SECONDS,
                counts_as_attempt=False,
            )
    return None


def rule_vm_transitioning(ctx: _Context) -> Failure | None:
    """A VM starting, stopping or deallocating. The guides' first step ("Stopped/Deallocated/Updating
    interferes with backup") sits under UserErrorGuestAgentStatusUnavailable, whose first check is "VM
    status is Running and agent status is Ready". Stopped and deallocated VMs are not caught here: the
    service backs them up offline (support matrix), so only the transitional states fail."""
    assert ctx.vm is not None
    if not ctx.vm.running and not ctx.offline:
        return _agent_unavailable()
    return None


def rule_agent_not_ready(ctx: _Context) -> Failure | None:
    """An agent installed but not Ready; or none at all (`provisionVMAgent: false`), which guide 001's
    table words as "VM Agent is a prerequisite for the Azure Recovery Services extension" (the title
    stays UserErrorGuestAgentStatusUnavailable: the guides name no other for it; our choice)."""
    assert ctx.vm is not None
    if ctx.offline or ctx.vm.agent.ready:
        return None
    if not ctx.vm.provision_vm_agent and not ctx.vm.agent.status:
        return Failure(
            "UserErrorGuestAgentStatusUnavailable", 400162,  # code guessed
            "Backup failed to install the Azure Recovery Services extension on the selected item. VM Agent is a "
            "prerequisite for the Azure Recovery Services extension.",
            ("Install the Azure Virtual Machine Agent and restart the registration operation.",),
        )
    return _agent_unavailable()


def rule_storage_unreachable(ctx: _Context) -> Failure | None:
    """A running VM whose effective NSG rules or routes (or custom DNS) stop outbound HTTPS to its
    region's storage: the snapshot extension cannot reach it (guide 002, "the VM has no internet
    access"). An offline backup needs no guest network, so a stopped VM is not caught here."""
    assert ctx.vm is not None
    if ctx.offline or not ctx.vm.running:
        return None
    block = ctx.sandbox.network.storage_path_block(ctx.vm)
    if block is None:
        return None
    return Failure(
        "ExtensionSnapshotFailedNoNetwork", 400275,  # code guessed
        "Snapshot operation failed due to no network connectivity on the virtual machine.",
        ("Ensure that the VM has network access: allow outbound access to Azure Storage of the VM's region "
         "(NSG service tag Storage.<region>) ahead of any rule that blocks Internet access, or set up an HTTP "
         "proxy.",),
    )


def _agent_unavailable() -> Failure:
    return Failure(
        "UserErrorGuestAgentStatusUnavailable", 400162,  # code guessed
        "VM Agent unable to communicate with Azure Backup.",
        ("Make sure the VM is running and the VM agent status is Ready: restart the guest agent if it is "
         "stopped or in an inconsistent state, and make sure it is up to date.",
         "Make sure all extensions on the VM are in the provisioning state Succeeded.",),
    )


def _provisioning_failed() -> Failure:
    return Failure(
        "UserErrorVmProvisioningStateFailed", 400003,  # code guessed
        "The VM is in failed provisioning state.",
        ("Check that all extensions on the VM are in the provisioning state Succeeded; remove or fix a "
         "failed extension (for a failed VMSnapshot extension: uninstall it and retry the backup, the "
         "service reinstalls it).",
         "If the VM is in the Updating state, wait until it is healthy and retry the backup.",),
    )


def rule_backup_extension_failed(ctx: _Context) -> Failure | None:
    """A Failed VMSnapshot/VMSnapshotLinux (found by publisher and type, not by name). When it has
    failed the VM's provisioning too, the service reports the VM state; otherwise the extension."""
    assert ctx.vm is not None
    ext = ctx.vm.backup_extension()
    if ext is None or not ext.failed or ctx.offline:  # offline, the extension takes no part
        return None
    if ctx.vm.provisioning_state.lower() == "failed":
        return _provisioning_failed()
    return Failure(
        "ExtensionOperationFailedForManagedDisks", 400176,  # code guessed
        "VMSnapshot extension operation failed.",
        ("Retry the backup operation. If the issue persists, make sure the VM agent is installed, "
         "responsive and up to date, and that the snapshot status can be retrieved.",),
    )


def rule_backup_plugin_stale(ctx: _Context) -> Failure | None:
    """The service installs the missing VMSnapshot extension; corrupt leftovers of an earlier one in the
    Windows guest (its plugin folder, its HandlerState keys) make the install fail, and the extension
    stays Failed until they are deleted (the full reinstall)."""
    assert ctx.vm is not None
    guest = ctx.vm.guest
    if ctx.offline or guest is None or guest.linux or ctx.vm.backup_extension() is not None:
        return None
    if not (guest.plugin_stale and guest.plugin_leftovers()):
        return None
    ext = backup_extension(ctx.sandbox, ctx.vm, ctx.job.activity_id)
    ext.provisioning_state, ext.status_code, ext.status_level = "Failed", "ProvisioningState/failed/1", "Error"
    ext.status_message = "Enable failed: the plugin's existing state could not be loaded."
    ext.cause_persists = True
    ctx.sandbox.compute.install_extension(ctx.vm, ext)
    return Failure(
        "ExtensionOperationFailedForManagedDisks", 400176,
        "VMSnapshot extension operation failed.",
        ("Uninstall the extension to force the VMSnapshot extension to reload; the next backup reinstalls it.",),
    )


def rule_vm_provisioning_failed(ctx: _Context) -> Failure | None:
    assert ctx.vm is not None
    if ctx.vm.provisioning_state.lower() == "failed":
        return _provisioning_failed()
    return None


def rule_extension_write_locked(ctx: _Context) -> Failure | None:
    """A ReadOnly lock on the VM, its resource group or the subscription blocks the service's PUT of the
    VMSnapshot extension, as it blocks every write. The guides name no errorTitle for this case; the
    extension PUT is a Compute (CRP) call, and the service reports a CRP refusal as
    UserErrorCrpReportedUserError with Compute's ScopeLocked error nested (as for the restore point
    write below) -- our choice, rather than UserErrorVmProvisioningStateFailed (the VM is not Failed) or
    ExtensionOperationFailedForManagedDisks (the extension never ran). Offline backups install nothing."""
    assert ctx.vm is not None
    if ctx.offline:
        return None
    ext_id = f"{ctx.vm.id}/extensions/{backup_extension_type(ctx.vm.os_type)}"
    return _locked_failure(ext_id, ctx.sandbox.locks.blocking(ext_id, "write"))


def rule_guest_state(ctx: _Context) -> Failure | None:
    """Inside the guest (the VM's guest model): a failed VSS writer, COM+ stopped, the antivirus stopping
    IaaSBcdrExtension.exe, SchUseStrongCrypto missing, Extensions.Enable=n, an outdated Linux agent
    (guides 000 step 4 and 001's table). Offline backups do not enter the guest."""
    assert ctx.vm is not None
    guest = ctx.vm.guest
    if guest is None or ctx.offline:
        return None
    found = guest.backup_failure()
    if found is None:
        return None
    title, code, message = found
    if "antivirus" in message:
        guest.record_blocked_extension()
    return Failure(title, code, message, ("Fix the cause inside the guest (the guide's steps for this error), "
                                          "then retry the backup.",))


def rule_restore_point_limit(ctx: _Context) -> Failure | None:
    """The service first deletes points older than the policy's instant RP retention; a lock on the
    collection, its RG or the subscription stops that cleanup. 18 or more points left: no new point."""
    assert ctx.vm is not None
    ctx.pruned += prune_expired(ctx.sandbox, ctx.item, ctx.vm)
    if len(vm_restore_points(ctx.sandbox, ctx.vm)) >= RP_LIMIT:
        return Failure(
            "UserErrorRpCollectionLimitReached", 400319,  # code guessed
            "The Restore Point collection max limit has reached.",
            ("Remove the lock on the restore point resource group (AzureBackupRG_<Geo>_<number> or the "
             "policy's custom resource group) and retry the backup to trigger the clean-up.",
             "Trigger at most one backup per day: only 18 instant restore points can exist per VM.",),
        )
    return None


def rule_restore_point_write_locked(ctx: _Context) -> Failure | None:
    """A ReadOnly lock stops the service creating the collection or the restore point: Compute's
    ScopeLocked error comes back nested in UserErrorCrpReportedUserError."""
    assert ctx.vm is not None
    return _write_blocked(ctx.sandbox, ctx.item, ctx.vm)


def _write_blocked(sandbox: Sandbox, item: ProtectedItem, vm: VirtualMachine) -> Failure | None:
    target = _target_collection(sandbox, item, vm)
    target_id = target.id if target is not None else _collection_id(sandbox, item, vm, "<new>")
    return _locked_failure(target_id, sandbox.locks.blocking(target_id, "write"))


def _locked_failure(target_id: str, locks: list[Any]) -> Failure | None:
    """Compute's ScopeLocked refusal of a service-side write, as the job reports it."""
    if not locks:
        return None
    scopes = ",".join(sorted({lock.message_scope for lock in locks}))
    nested = (f"The scope '{target_id}' cannot perform write operation because following scope(s) are "
              f"locked: '{scopes}'. Please remove the lock and try again.")
    return Failure(
        "UserErrorCrpReportedUserError", 400286,  # code guessed
        f"Backup failed due to an error. For details, see Job Error Message Details. "
        f"Error code: ScopeLocked. Error message: {nested}",
        ("Review the underlying error message in the job's error details and take the action it "
         "recommends, then retry the backup.",),
        nested=nested,
    )


def rule_restore_point_group_denied(ctx: _Context) -> Failure | None:
    """The service must create the policy's restore-point group and a Deny assignment (tags) refuses it:
    guide 001's UserErrorRequestDisallowedByPolicy [D]. The job names no assignment (the documented
    message is all it says); Policy Insights does. The code integer is guessed."""
    assert ctx.vm is not None
    if _target_collection(ctx.sandbox, ctx.item, ctx.vm) is not None:
        return None
    group = _rp_group(ctx.item, ctx.vm)
    if ctx.sandbox.resources.find_group(ctx.vm.subscription_id, group) is not None:
        return None  # created before (by the service or by hand, with the naming schema): nothing to ask ARM
    _, denied = ctx.sandbox.policy.group_write(ctx.vm.subscription_id, group, {})
    if not denied:
        return None
    return Failure(
        "UserErrorRequestDisallowedByPolicy", 400451,
        "An invalid policy is configured on the VM which is preventing Snapshot operation.",
        ("If an Azure Policy governs tags in your environment, change its effect from Deny to Modify, or create "
         "the restore-point resource group manually with the naming schema Azure Backup requires.",),
    )


def rule_unsupported_disk_size(ctx: _Context) -> Failure | None:
    assert ctx.vm is not None
    vm = ctx.vm
    sizes = [vm.os_disk_size_gb] + [d.size_gb for d in vm.data_disks]
    limit = MAX_ENCRYPTED_DISK_GB if vm.encrypted else MAX_DISK_GB
    if max(sizes) > limit:
        return Failure(
            "UserErrorUnsupportedDiskSize", 400138,  # code guessed
            "The configured disk size(s) is currently not supported by Azure Backup.",
            ("Disks larger than 32 TB (4 TB for encrypted disks) cannot be backed up; split the data "
             "across disks within the supported size.",),
        )
    return None


# What Azure Backup reads from the Key Vault of an encrypted VM: the BEK secrets, and the KEK keys when
# a KEK wraps them (a BEK-only VM needs secrets only) [D].
KEY_VAULT_NEEDS = {"secret": (("secrets", "get"), ("secrets", "list"), ("secrets", "backup")),
                   "key": (("keys", "get"), ("keys", "list"), ("keys", "backup"))}


def key_vault_needs(sandbox: Sandbox, vm: VirtualMachine) -> dict[str, list[tuple[str, str]]]:
    """Per Key Vault id, the permissions a backup of `vm` needs: from the ADE settings on its disk
    resources (single- and dual-pass) and in its VM model (dual-pass)."""
    from ..compute.models import encryption_settings

    refs: list[tuple[str, str]] = []
    for disk in sandbox.disks.for_vm(vm):
        refs += [(k.kind, k.vault_id) for k in disk.encryption_keys()]
    if vm.encrypted and not vm.single_pass:
        settings = encryption_settings(vm)
        refs.append(("secret", settings["diskEncryptionKey"]["sourceVault"]["id"]))
        if "keyEncryptionKey" in settings:
            refs.append(("key", settings["keyEncryptionKey"]["sourceVault"]["id"]))
    needs: dict[str, list[tuple[str, str]]] = {}
    for kind, vault_id in refs:
        wanted = needs.setdefault(vault_id.lower(), [])
        wanted += [n for n in KEY_VAULT_NEEDS[kind] if n not in wanted]
    return needs


def rule_key_vault_permissions(ctx: _Context) -> Failure | None:
    """An encrypted VM whose Key Vault does not let the Backup Management Service principal read (get,
    list, backup) the secrets, and keys with a KEK: access policies, or role assignments for an RBAC
    vault. A vault that cannot be found is a failure too. `keyVaultAccess: false` on the item is the
    older, state-free way to say the same."""
    from ..graph.models import backup_service_object_id

    assert ctx.vm is not None
    failure = Failure(
        "UserErrorKeyvaultPermissionsNotConfigured", 400074,  # code guessed
        "Backup doesn't have sufficient permissions to the key vault for backup of encrypted VMs.",
        ("Grant the Backup Management Service access to the key vault (portal or PowerShell), then "
         "retry the operation.",),
    )
    if ctx.vm.encrypted and ctx.vm.key_vault_url and not ctx.item.key_vault_access:
        return failure
    sb = ctx.sandbox
    tenant = sb.resources.require_subscription(ctx.vm.subscription_id).tenant_id
    principal = backup_service_object_id(tenant)
    for vault_id, needed in key_vault_needs(sb, ctx.vm).items():
        vault = sb.keyvault.by_id(vault_id)
        if vault is None or sb.keyvault.missing(vault, principal, needed):
            return failure
    return None


Rule = Callable[[_Context], "Failure | None"]
RULES: tuple[Rule, ...] = (
    rule_protection_stopped,
    rule_vm_not_found,
    rule_backup_in_progress,
    rule_vm_transitioning,
    rule_agent_not_ready,
    rule_storage_unreachable,
    rule_backup_plugin_stale,
    rule_backup_extension_failed,
    rule_vm_provisioning_failed,
    rule_extension_write_locked,
    rule_guest_state,
    rule_restore_point_limit,
    rule_restore_point_write_locked,
    rule_restore_point_group_denied,
    rule_unsupported_disk_size,
    rule_key_vault_permissions,
)


def first_failure(ctx: _Context) -> Failure | None:
    for rule in RULES:
        failure = rule(ctx)
        if failure is not None:
            return failure
    return None


# ---- restore points ------------------------------------------------------------------------------
def restore_point_name(when: datetime) -> str:
    return "AzureBackup_" + when.astimezone(timezone.utc).strftime("%Y%m%d_%H%M%S")


def _is_service_collection(rpc: RestorePointCollection) -> bool:
    return rpc.name.lower().startswith("azurebackup_")


def vm_restore_points(sandbox: Sandbox, vm: VirtualMachine) -> list[RestorePoint]:
    """Every restore point of the VM, across collections and resource groups (the limit counts them all)."""
    return [p for c in sandbox.compute.collections_for_vm(vm.id) for p in c.points]


def prune_expired(sandbox: Sandbox, item: ProtectedItem, vm: VirtualMachine, now: datetime | None = None) -> list[str]:
    """Delete the service's own points older than the instant RP retention, except where a lock
    (CanNotDelete or ReadOnly on the collection, its RG or the subscription) forbids it."""
    days = item.policy.instant_rp_retention_days if item.policy else 2
    cutoff = (now or _now(sandbox)) - timedelta(days=days)
    removed: list[str] = []
    for rpc in sandbox.compute.collections_for_vm(vm.id):
        if not _is_service_collection(rpc) or sandbox.locks.blocking(rpc.id, "delete"):
            continue
        keep = [p for p in rpc.points if not (p.name.startswith("AzureBackup_") and p.time_created < cutoff)]
        removed += [f"{rpc.id}/restorePoints/{p.name}" for p in rpc.points if p not in keep]
        rpc.points[:] = keep
    return removed


def _rp_group_pattern(item: ProtectedItem, vm: VirtualMachine) -> re.Pattern[str]:
    policy = item.policy
    if policy is not None and policy.rg_prefix:
        return re.compile(f"^{re.escape(policy.rg_prefix)}\\d+{re.escape(policy.rg_suffix or '')}$", re.I)
    return re.compile(f"^AzureBackupRG_{re.escape(vm.location)}_\\d+$", re.I)


def _target_collection(sandbox: Sandbox, item: ProtectedItem, vm: VirtualMachine) -> RestorePointCollection | None:
    """The VM's service collection in the policy's restore-point RG, if there is one."""
    pattern = _rp_group_pattern(item, vm)
    found = [c for c in sandbox.compute.collections_for_vm(vm.id)
             if _is_service_collection(c) and pattern.match(c.resource_group)]
    return sorted(found, key=lambda c: (c.resource_group.lower(), c.name.lower()))[0] if found else None


def _rp_group(item: ProtectedItem, vm: VirtualMachine) -> str:
    if item.policy is not None:
        return item.policy.restore_point_group(vm.location, 1)
    return f"AzureBackupRG_{vm.location}_1"


def _collection_id(sandbox: Sandbox, item: ProtectedItem, vm: VirtualMachine, name: str) -> str:
    return (f"/subscriptions/{vm.subscription_id}/resourceGroups/{_rp_group(item, vm)}"
            f"/providers/Microsoft.Compute/restorePointCollections/{name}")


def _ensure_collection(sandbox: Sandbox, item: ProtectedItem, vm: VirtualMachine) -> RestorePointCollection:
    existing = _target_collection(sandbox, item, vm)
    if existing is not None:
        return existing
    group = _rp_group(item, vm)
    if sandbox.resources.find_group(vm.subscription_id, group) is None:
        # The service creates the RG through ARM, so Azure Policy's Modify assignments tag it.
        tags, _ = sandbox.policy.group_write(vm.subscription_id, group, {})
        sandbox.resources.add_group(vm.subscription_id, group, vm.location, **tags)
    name = f"AzureBackup_{vm.name}_{sandbox.rng.getrandbits(64)}"
    return sandbox.compute.add_collection(RestorePointCollection(
        vm.subscription_id, group, name, vm.location, vm.id, sandbox.new_guid()))


# ---- the backup extension ------------------------------------------------------------------------
def backup_extension(sandbox: Sandbox, vm: VirtualMachine, task_id: str) -> Extension:
    """The extension the service pushes for one backup: VMSnapshot (Windows) or VMSnapshotLinux."""
    ext_type = backup_extension_type(vm.os_type)
    now = _now(sandbox)
    ticks = int((now - _DOTNET_EPOCH).total_seconds()) * 10_000_000 + now.microsecond * 10
    blob = f"https://sandboxbackup.blob.core.windows.net/{task_id}"
    return Extension(
        name=ext_type,
        publisher=BACKUP_PUBLISHER,
        type=ext_type,
        type_handler_version=_HANDLER_VERSION[ext_type],
        settings={
            "locale": "en-us",
            "taskId": task_id,
            "commandToExecute": "snapshot",
            "commandStartTimeUTCTicks": str(ticks),
            "vmType": "microsoft.compute/virtualmachines",
        },
        protected_settings={
            "objectStr": _SECRET,
            "logsBlobUri": f"{blob}/logs?sv=2014-02-14&sig={_SECRET}",
            "statusBlobUri": f"{blob}/status?sv=2014-02-14&sig={_SECRET}",
        },
        status_message="Plugin enabled",
    )


def _install_or_refresh_extension(sandbox: Sandbox, vm: VirtualMachine, task_id: str) -> None:
    fresh = backup_extension(sandbox, vm, task_id)
    current = vm.backup_extension()
    if current is None:
        if vm.guest is not None:
            vm.guest.plugin_installed()  # its folder and HandlerState key
        sandbox.compute.install_extension(vm, fresh)
    else:  # each backup re-enables it with a new task id and fresh SAS URIs
        current.settings, current.protected_settings = fresh.settings, fresh.protected_settings


# ---- the job ---------------------------------------------------------------------------------------
def record_job(sandbox: Sandbox, item: ProtectedItem, operation: str) -> BackupJob:
    """A job that is already Completed (ConfigureBackup / DisableBackup from a protected-item PUT)."""
    now = _now(sandbox)
    job = BackupJob(item.vault, sandbox.new_guid(), item, item.vm_name, operation=operation,
                    status="Completed", start=now, end=now, activity_id=sandbox.new_guid(),
                    cancellable=False)
    return sandbox.backup.add_job(job)


def trigger_backup(
    sandbox: Sandbox, item: ProtectedItem, expiry: datetime | None = None
) -> tuple[BackupJob, Operation]:
    """Start an on-demand backup of `item`. The returned operation is done at once: its
    properties name the job, as the real operationsStatus does ("usually immediately").
    Raises the on-demand limit's ArmError (nothing created) after `config.on_demand_backups_per_day`
    on-demand jobs of this item in the current UTC day of the virtual clock."""
    now = _now(sandbox)
    limit = sandbox.config.on_demand_backups_per_day
    if sandbox.backup.on_demand_jobs_on(item, now.astimezone(timezone.utc).date()) >= limit:
        raise errors.on_demand_limit_reached(item.name, limit)
    if expiry is None:
        days = item.policy.daily_retention_days if item.policy else 30
        expiry = now + timedelta(days=days)
    job = BackupJob(
        item.vault, sandbox.new_guid(), item, item.vm_name, operation="Backup", status="InProgress",
        start=now, tasks=[JobTask(SNAPSHOT_TASK, "InProgress", now), JobTask(TRANSFER_TASK)],
        activity_id=sandbox.new_guid(), expiry=expiry, on_demand=True, cancellable=True,
    )
    ctx = _Context(sandbox, item, sandbox.compute.vm_by_id(item.vm_id), now, job)
    failure = first_failure(ctx)
    sandbox.backup.add_job(job)
    if failure is not None:
        delay = failure.fail_after if failure.fail_after is not None else sandbox.config.backup_fail_seconds
        due = now + timedelta(seconds=delay)
        sandbox.scheduler.at(due, _fail, sandbox, job, failure, due)
    else:
        assert ctx.vm is not None
        job.consistency = restore_point_consistency(ctx.vm)
        if not ctx.offline:
            _install_or_refresh_extension(sandbox, ctx.vm, job.activity_id)
        due = now + timedelta(seconds=sandbox.config.backup_snapshot_seconds)
        sandbox.scheduler.at(due, _snapshot_done, sandbox, job, due)
    operation = sandbox.operations.begin(
        0, lambda op: {"objectType": "OperationStatusJobExtendedInfo", "jobId": job.job_id},
        kind="backup", vault=item.vault.id.lower(), item=item.id.lower(), job_id=job.job_id,
    )
    return job, operation


# Phase callbacks get their due time: one `advance` may run several phases, and each must be
# stamped (and schedule the next) from when it was due, not from the advanced clock.
def _fail(sandbox: Sandbox, job: BackupJob, failure: Failure, now: datetime) -> None:
    if job.status != "InProgress":  # cancelled meanwhile
        return
    job.status, job.end, job.cancellable = "Failed", now, False
    job.errors = [failure.detail()]
    job.dynamic_error_message = failure.nested
    for task in job.tasks:
        if task.status == "InProgress":
            task.status, task.end = "Failed", now
    item = job.item
    if item is not None and failure.counts_as_attempt:
        item.last_backup_status = "Failed"
        item.health_status, item.protection_status = "ActionRequired", "Unhealthy"


def _snapshot_done(sandbox: Sandbox, job: BackupJob, now: datetime) -> None:
    if job.status != "InProgress":
        return
    item = job.item
    assert item is not None
    vm = sandbox.compute.vm_by_id(item.vm_id)
    # The estate may have changed during the snapshot (VM deleted, lock added): re-check the writes.
    if vm is None:
        failure = rule_vm_not_found(_Context(sandbox, item, None, now, job))
    else:
        failure = _write_blocked(sandbox, item, vm)
    if failure is not None:
        _fail(sandbox, job, failure, now)
        return
    assert vm is not None
    rpc = _ensure_collection(sandbox, item, vm)
    rpc.points.append(RestorePoint(restore_point_name(now), now, job.consistency or restore_point_consistency(vm)))
    prune_expired(sandbox, item, vm, now)
    item.last_recovery_point = now
    snapshot, transfer = job.tasks
    snapshot.status, snapshot.end = "Completed", now
    transfer.status, transfer.start = "InProgress", now
    job.cancellable = False  # only the snapshot phase can be cancelled
    due = now + timedelta(seconds=sandbox.config.backup_transfer_seconds)
    sandbox.scheduler.at(due, _transfer_done, sandbox, job, due)


def _transfer_done(sandbox: Sandbox, job: BackupJob, now: datetime) -> None:
    if job.status != "InProgress":
        return
    job.status, job.end = "Completed", now
    job.tasks[1].status, job.tasks[1].end = "Completed", now
    item = job.item
    if item is not None:
        item.last_backup_status = "Completed"
        item.last_backup_time = job.start or now
        item.protection_state = "Protected"
        item.health_status, item.protection_status = "Passed", "Healthy"


def finish_seeded_job(sandbox: Sandbox, job: BackupJob, now: datetime) -> None:
    """An estate's InProgress job that `completesAfterSeconds`: its open tasks and the job complete then,
    as a backup that was merely slow does (unless it was cancelled first)."""
    if job.status != "InProgress":
        return
    for task in job.tasks:
        if task.status in ("NotStarted", "InProgress"):
            task.start = task.start or now
            task.status, task.end = "Completed", now
    job.status, job.end, job.cancellable = "Completed", now, False
    item = job.item
    if item is not None:
        item.last_backup_status, item.last_backup_time = "Completed", job.start or now
        item.health_status, item.protection_status = "Passed", "Healthy"


def cancel_job(sandbox: Sandbox, job: BackupJob) -> Operation:
    """Cancel while cancellable (snapshot phase): Cancelling now, Cancelled after `cancel_seconds`.
    The operation completes with the job, so polling its Azure-AsyncOperation waits for Cancelled."""
    if job.cancel_refused_until is not None and _now(sandbox) < job.cancel_refused_until:
        raise errors.job_not_in_progress(job.job_id)
    if job.status != "InProgress" or not job.cancellable:
        raise errors.job_not_cancellable(job.job_id, job.status)
    job.status, job.cancellable = "Cancelling", False
    seconds = sandbox.config.cancel_seconds

    due = _now(sandbox) + timedelta(seconds=seconds)

    def done() -> None:
        now = due
        job.status, job.end = "Cancelled", now
        for task in job.tasks:
            if task.status == "InProgress":
                task.status, task.end = "Cancelled", now

    # Scheduled apart from the operation, so an injected LRO fault on the cancel cannot strand the job.
    sandbox.scheduler.at(due, done)
    return sandbox.operations.begin(seconds, kind="cancel", vault=job.vault.id.lower(), job_id=job.job_id)
