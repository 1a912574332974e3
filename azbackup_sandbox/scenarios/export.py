"""The live estate as an estate document (docs/estate-files.md): what `load` reads, `export` writes.

Loading an exported document gives the same `/_sandbox/state` snapshot. Not carried: in-flight work
(jobs still advancing on the clock, operations being polled), the request log, faults and RBAC."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..providers.backup.models import NEVER_BACKED_UP, BackupJob, BackupPolicy, ProtectedItem, Vault
from ..providers.compute.models import Extension, RestorePointCollection, VirtualMachine
from .network import export_network, export_vm_network

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

__all__ = ["export_estate", "format_time"]


def format_time(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc) if dt.tzinfo else dt
    return dt.strftime("%Y-%m-%dT%H:%M:%S" + (".%f" if dt.microsecond else "") + "Z")


def _opt_time(dt: datetime | None) -> str | None:
    return format_time(dt) if dt is not None else None


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None and v != {} and v != []}


def _split_vm_id(vm_id: str) -> tuple[str, str]:
    parts = vm_id.strip("/").split("/")
    return parts[3], parts[-1]  # resource group, name


def export_estate(sandbox: Sandbox, *, name: str | None = None, description: str = "") -> dict[str, Any]:
    with sandbox.lock:
        sandbox.tick()
        doc: dict[str, Any] = {}
        label = name if name is not None else sandbox.scenario_name
        if label:
            doc["name"] = label
        if description:
            doc["description"] = description
        doc["now"] = format_time(sandbox.clock.now())
        subs = sorted(sandbox.resources.subscriptions.values(), key=lambda s: s.subscription_id.lower())
        doc["subscriptions"] = [_subscription(sandbox, s.subscription_id) for s in subs]
        return doc


def _subscription(sandbox: Sandbox, sid: str) -> dict[str, Any]:
    sub = sandbox.resources.require_subscription(sid)
    body: dict[str, Any] = {"id": sub.subscription_id, "displayName": sub.display_name, "tenantId": sub.tenant_id}
    if sub.state != "Enabled":
        body["state"] = sub.state
    body["resourceGroups"] = [
        _drop_none({"name": g.name, "location": g.location, "tags": dict(g.tags), "managedBy": g.managed_by})
        for g in sandbox.resources.groups_of(sid)
    ]
    body["keyVaults"] = [_key_vault(kv) for kv in sandbox.keyvault.list(sid)]
    vms = [_with_network(sandbox, vm, _vm(vm)) for vm in sandbox.compute.list_vms(sid)]
    present = {vm.id.lower() for vm in sandbox.compute.list_vms(sid)}
    vaults = sandbox.backup.list_vaults(sid)
    collections = sandbox.compute.list_collections(sid)
    gone: dict[str, dict[str, Any]] = {}
    for vm_id, guid in ([(i.vm_id, i.virtual_machine_guid) for v in vaults for i in sandbox.backup.items_of(v)]
                        + [(c.source_id, None) for c in collections]):
        if vm_id.lower() in present or vm_id.lower() in gone:
            continue
        group, vm_name = _split_vm_id(vm_id)
        gone[vm_id.lower()] = _drop_none({"name": vm_name, "resourceGroup": group, "vmId": guid or None,
                                          "deleted": True})
    body["vms"] = vms + list(gone.values())
    body["vaults"] = [_vault(sandbox, v) for v in vaults]
    body["restorePointCollections"] = [_collection(c) for c in collections]
    prefix = f"/subscriptions/{sid}".lower()
    locks = sorted((lk for lk in sandbox.locks.locks.values() if lk.scope.lower() == prefix
                    or lk.scope.lower().startswith(prefix + "/")), key=lambda lk: lk.id.lower())
    body["locks"] = [
        _drop_none({"name": lk.name, "scope": lk.scope[len(prefix):].strip("/") or None, "level": lk.level,
                    "notes": lk.notes, "owners": [dict(o) for o in lk.owners]})
        for lk in locks
    ]
    body["policyAssignments"] = [
        _drop_none({"name": a.name, "displayName": a.display_name, "scope": a.scope or None, "effect": a.effect,
                    "definition": {"name": a.definition_name, "displayName": a.definition_display_name},
                    "requiredTag": a.tag, "tagValue": a.tag_value or None})
        for a in sandbox.policy.for_subscription(sid)
    ]
    assignments = sorted((a for a in sandbox.authorization.assignments.values()
                          if a.scope.lower() == prefix or a.scope.lower().startswith(prefix + "/")),
                         key=lambda a: a.id.lower())
    body["roleAssignments"] = [
        _drop_none({"name": a.name, "scope": a.scope[len(prefix):].strip("/") or None, "role": a.role_guid,
                    "principalId": a.principal_id}) for a in assignments
    ]
    body.update(export_network(sandbox, sid))
    return {k: v for k, v in body.items() if v != [] or k == "networkWatchers"}


def _with_network(sandbox: Sandbox, vm: VirtualMachine, body: dict[str, Any]) -> dict[str, Any]:
    network = export_vm_network(sandbox, vm)
    return {**body, "network": network} if network is not None else body


def _key_vault(vault: Any) -> dict[str, Any]:
    return _drop_none({
        "name": vault.name, "resourceGroup": vault.resource_group, "location": vault.location,
        "tenantId": vault.tenant_id, "enableRbacAuthorization": vault.rbac or None,
        "enabledForDiskEncryption": None if vault.enabled_for_disk_encryption else False,
        "tags": dict(vault.tags),
        "accessPolicies": [{"objectId": p.object_id, "tenantId": p.tenant_id,
                            "permissions": {k: list(v) for k, v in p.permissions.items()}} for p in vault.policies],
    })


def _vm(vm: VirtualMachine) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": vm.name, "resourceGroup": vm.resource_group, "location": vm.location, "vmId": vm.vm_id,
        "osType": vm.os_type, "vmSize": vm.vm_size, "computerName": vm.computer_name, "osName": vm.os_name,
        "osVersion": vm.os_version, "timeCreated": _opt_time(vm.time_created), "tags": dict(vm.tags),
        "zones": list(vm.zones), "powerState": vm.power_state, "provisioningState": vm.provisioning_state,
    }
    if vm.provisioning_error:
        body["provisioningError"] = _drop_none({"code": vm.provisioning_error, "message": vm.provisioning_message})
    body["vmAgent"] = {"status": vm.agent.status, "vmAgentVersion": vm.agent.version, "message": vm.agent.message,
                       "revivedByRestart": vm.agent.revived_by_restart}
    if vm.agent.revived_by_redeploy:
        body["vmAgent"]["revivedByRedeploy"] = True
    if not vm.provision_vm_agent:
        body["provisionVMAgent"] = False
    os_disk: dict[str, Any] = {"diskSizeGB": vm.os_disk_size_gb}
    if vm.encrypted or vm.key_vault_url:
        os_disk["encryptionSettings"] = _drop_none({
            "enabled": vm.encrypted, "keyVaultUrl": vm.key_vault_url,
            "keyVault": vm.key_vault_id.rstrip("/").rsplit("/", 1)[-1] if vm.key_vault_id else None,
            "keyEncryptionKey": vm.key_encryption_key or None, "singlePass": vm.single_pass or None})
    body["osDisk"] = os_disk
    body["dataDisks"] = [{"lun": d.lun, "name": d.name, "diskSizeGB": d.size_gb} for d in vm.data_disks]
    body["extensions"] = [_extension(e) for e in vm.extensions.values()]
    if vm.guest is not None:
        body["guest"] = vm.guest.to_estate()
    if vm.boot_diagnostics_storage_uri:
        body["bootDiagnosticsStorageUri"] = vm.boot_diagnostics_storage_uri
    return {k: v for k, v in body.items() if v is not None and v != {} and v != []}


def _extension(ext: Extension) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": ext.name, "publisher": ext.publisher, "type": ext.type, "typeHandlerVersion": ext.type_handler_version,
        "provisioningState": ext.provisioning_state, "statusCode": ext.status_code, "statusLevel": ext.status_level,
        "statusMessage": ext.status_message,
    }
    if not ext.auto_upgrade_minor_version:
        body["autoUpgradeMinorVersion"] = False
    if ext.settings:
        body["settings"] = dict(ext.settings)
    if ext.force_update_tag is not None:
        body["forceUpdateTag"] = ext.force_update_tag
    if ext.cause_persists:
        body["causePersists"] = True
    return body


def _vault(sandbox: Sandbox, vault: Vault) -> dict[str, Any]:
    return _drop_none({
        "name": vault.name, "resourceGroup": vault.resource_group, "location": vault.location,
        "tags": dict(vault.tags), "policies": [_policy(p) for p in sandbox.backup.policies_of(vault)],
        "protectedItems": [_item(sandbox, i) for i in sandbox.backup.items_of(vault)],
    })


def _policy(policy: BackupPolicy) -> dict[str, Any]:
    body: dict[str, Any] = {"name": policy.name, "policyType": policy.policy_type,
                            "instantRpRetentionRangeInDays": policy.instant_rp_retention_days}
    if policy.rg_prefix:
        body["instantRpDetails"] = _drop_none({"azureBackupRGNamePrefix": policy.rg_prefix,
                                               "azureBackupRGNameSuffix": policy.rg_suffix})
    body["dailyRetentionDays"] = policy.daily_retention_days
    body["scheduleRunTime"] = policy.schedule_time
    return body


def _item(sandbox: Sandbox, item: ProtectedItem) -> dict[str, Any]:
    jobs = [j for j in sandbox.backup.jobs.values() if j.item is item]
    return _drop_none({
        "vm": {"name": item.vm_name, "resourceGroup": item.vm_resource_group},
        "policy": item.policy.name if item.policy else None,
        "protectionState": item.protection_state, "protectionStatus": item.protection_status,
        "healthStatus": item.health_status, "lastBackupStatus": item.last_backup_status,
        "lastBackupTime": None if item.last_backup_time == NEVER_BACKED_UP else format_time(item.last_backup_time),
        "lastRecoveryPoint": _opt_time(item.last_recovery_point), "protectedItemDataId": item.data_id,
        "virtualMachineGuid": item.virtual_machine_guid or None,
        "keyVaultAccess": None if item.key_vault_access else False,
        "jobs": [_job(sandbox, j) for j in jobs],
    })


def _seconds_left(sandbox: Sandbox, when: datetime | None) -> int | None:
    """Whole seconds until ``when`` (a transitory state's end, a seeded job's completion), as the estate
    keys count them from loading; ``None`` once it has passed."""
    if when is None:
        return None
    left = (when - sandbox.clock.now()).total_seconds()
    return int(left) + (left % 1 > 0) if left > 0 else None


def _job(sandbox: Sandbox, job: BackupJob) -> dict[str, Any]:
    return _drop_none({
        "jobId": job.job_id, "operation": job.operation, "status": job.status, "startTime": _opt_time(job.start),
        "endTime": _opt_time(job.end), "activityId": job.activity_id or None,
        "tasks": [_drop_none({"taskId": t.task_id, "status": t.status, "startTime": _opt_time(t.start),
                              "endTime": _opt_time(t.end)}) for t in job.tasks],
        "errorDetails": [{"errorCode": e.error_code, "errorTitle": e.error_title, "errorString": e.error_string,
                          "recommendations": list(e.recommendations)} for e in job.errors],
        "expiryTime": _opt_time(job.expiry), "isUserTriggered": job.on_demand or None,
        "cancellable": job.cancellable if job.cancellable != (job.status == "InProgress") else None,
        "stuck": job.stuck or None, "dynamicErrorMessage": job.dynamic_error_message,
        "cancelRefusedForSeconds": _seconds_left(sandbox, job.cancel_refused_until),
        "completesAfterSeconds": _seconds_left(sandbox, job.completes_at) if job.running else None,
    })


def _collection(rpc: RestorePointCollection) -> dict[str, Any]:
    group, vm_name = _split_vm_id(rpc.source_id)
    return _drop_none({
        "name": rpc.name, "resourceGroup": rpc.resource_group, "location": rpc.location,
        "source": {"name": vm_name, "resourceGroup": group}, "collectionId": rpc.collection_id,
        "tags": dict(rpc.tags),
        "restorePoints": [_drop_none({"name": p.name, "timeCreated": format_time(p.time_created),
                                      "consistencyMode": None if p.consistency_mode == "CrashConsistent"
                                      else p.consistency_mode}) for p in rpc.points],
    })
