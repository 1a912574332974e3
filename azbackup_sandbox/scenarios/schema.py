"""The estate document schema: a YAML/JSON mapping checked field by field into an `EstateSpec`.

Everything is validated, references included (a protected item's VM and policy, a collection's source
VM, a lock's scope), before anything touches a sandbox. docs/estate-files.md describes every field."""

from __future__ import annotations

import re
import uuid
from typing import Any

from .guest import parse_guest
from .network import NETWORK_KEYS, parse_network_spec, parse_vm_network
from .reader import MISSING, EstateError, Fields, as_list, describe, join_path, parse_when
from .spec import (
    AccessPolicySpec,
    AgentSpec,
    CollectionSpec,
    DataDiskSpec,
    EstateSpec,
    ExtensionSpec,
    GroupSpec,
    ItemSpec,
    JobErrorSpec,
    JobSpec,
    KeyVaultSpec,
    LockSpec,
    PointSpec,
    PolicyAssignmentSpec,
    PolicySpec,
    RoleAssignmentSpec,
    SubscriptionSpec,
    TaskSpec,
    VaultSpec,
    VmSpec,
)

__all__ = ["KEYS", "parse_estate", "subscription_guid", "POWER_STATES", "DEFAULT_TENANT", "DEFAULT_LOCATION"]

DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEFAULT_LOCATION = "eastus"
WINDOWS_AGENT = "2.7.41491.1102"
LINUX_AGENT = "2.11.1.12"

POWER_STATES = ("running", "stopped", "deallocated")
# A VM caught mid-operation: it settles (running, stopped, deallocated) `transitionSeconds` after `now`.
TRANSITIONAL_POWER_STATES = ("starting", "stopping", "deallocating")
OS_TYPES = ("Windows", "Linux")
VM_PROVISIONING = ("Succeeded", "Failed", "Updating")
EXTENSION_PROVISIONING = ("Succeeded", "Failed")
AGENT_STATUSES = ("Ready", "Not Ready", "")
STATUS_LEVELS = ("Info", "Warning", "Error")
SUBSCRIPTION_STATES = ("Enabled", "Disabled", "Warned", "PastDue")
POLICY_TYPES = ("V1", "V2")
PROTECTION_STATES = ("IRPending", "Protected", "ProtectionError", "ProtectionStopped", "ProtectionPaused")
PROTECTION_STATUSES = ("Healthy", "Unhealthy")
HEALTH_STATUSES = ("Passed", "ActionRequired", "ActionSuggested", "Invalid")
LAST_BACKUP_STATUSES = ("Completed", "Failed", "CompletedWithWarnings", "InProgress", "Cancelled")
JOB_OPERATIONS = ("Backup", "ConfigureBackup", "Restore", "DeleteBackupData", "DisableBackup")
JOB_STATUSES = ("InProgress", "Completed", "Failed", "CompletedWithWarnings", "Cancelling", "Cancelled")
TASK_STATUSES = ("NotStarted", "InProgress", "Completed", "Failed", "Cancelled")
LOCK_LEVELS = ("CanNotDelete", "ReadOnly")
CONSISTENCY_MODES = ("CrashConsistent", "ApplicationConsistent", "FileSystemConsistent")

# Every key each mapping of the document may have (docs/estate-files.md names them all).
KEYS: dict[str, tuple[str, ...]] = {
    "document": ("name", "description", "now", "subscriptions"),
    "subscription": ("id", "label", "displayName", "tenantId", "state", "resourceGroups", "vms", "vaults",
                     "restorePointCollections", "locks", "policyAssignments", "keyVaults", "roleAssignments",
                     # the network (scenarios/network.py)
                     "virtualNetworks", "networkSecurityGroups", "routeTables", "networkWatchers"),
    "policyAssignment": ("name", "displayName", "scope", "effect", "definition", "requiredTag", "tagValue"),
    "policyDefinition": ("name", "displayName"),
    "resourceGroup": ("name", "location", "tags", "managedBy"),
    "vm": ("name", "resourceGroup", "location", "vmId", "osType", "vmSize", "computerName", "osName", "osVersion",
           "timeCreated", "tags", "zones", "powerState", "provisioningState", "provisioningError", "vmAgent",
           "provisionVMAgent", "osDisk", "dataDisks", "extensions", "deleted", "transitionSeconds", "network",
           "guest", "bootDiagnosticsStorageUri"),
    "provisioningError": ("code", "message"),
    "vmAgent": ("status", "vmAgentVersion", "message", "revivedByRestart", "revivedByRedeploy"),
    "osDisk": ("diskSizeGB", "encryptionSettings"),
    "encryptionSettings": ("enabled", "keyVaultUrl", "keyVault", "keyEncryptionKey", "singlePass"),
    "dataDisk": ("lun", "name", "diskSizeGB"),
    "extension": ("name", "publisher", "type", "typeHandlerVersion", "provisioningState", "statusCode",
                  "statusLevel", "statusMessage", "autoUpgradeMinorVersion", "settings", "forceUpdateTag",
                  "causePersists"),
    "vmReference": ("name", "resourceGroup"),
    "vault": ("name", "resourceGroup", "location", "tags", "policies", "protectedItems"),
    "policy": ("name", "policyType", "instantRpRetentionRangeInDays", "instantRpDetails", "dailyRetentionDays",
               "scheduleRunTime"),
    "instantRpDetails": ("azureBackupRGNamePrefix", "azureBackupRGNameSuffix"),
    "protectedItem": ("vm", "policy", "protectionState", "protectionStatus", "healthStatus", "lastBackupStatus",
                      "lastBackupTime", "lastRecoveryPoint", "protectedItemDataId", "virtualMachineGuid",
                      "keyVaultAccess", "jobs", "runBackups"),
    "job": ("jobId", "operation", "status", "startTime", "endTime", "activityId", "tasks", "errorDetails",
            "expiryTime", "isUserTriggered", "cancellable", "stuck", "dynamicErrorMessage",
            "cancelRefusedForSeconds", "completesAfterSeconds"),
    "task": ("taskId", "status", "startTime", "endTime"),
    "errorDetail": ("errorCode", "errorTitle", "errorString", "recommendations"),
    "restorePointCollection": ("name", "resourceGroup", "location", "source", "collectionId", "tags",
                               "restorePoints"),
    "restorePoint": ("name", "timeCreated", "consistencyMode"),
    "lock": ("name", "scope", "level", "notes", "owners"),
    "owner": ("applicationId",),
    "keyVault": ("name", "resourceGroup", "location", "tenantId", "enableRbacAuthorization", "accessPolicies",
                 "enabledForDiskEncryption", "tags"),
    "accessPolicy": ("objectId", "principal", "tenantId", "permissions"),
    "permissions": ("keys", "secrets", "certificates", "storage"),
    "roleAssignment": ("name", "scope", "role", "principalId", "principal"),
    **NETWORK_KEYS,
}
# `principal:` names a well-known principal instead of an objectId/principalId.
PRINCIPALS = ("BackupManagementService",)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[A-Za-z0-9_.()-]{1,90}$")
_MAX_RUNS = 50


def subscription_guid(label: str) -> str:
    """A stable, realistic-looking subscription id for a label."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"azbackup-sandbox/{label}"))


def _guid(fields: Fields, key: str) -> str | None:
    value = fields.text(key, None)
    if value is not None and not _GUID.match(value):
        raise EstateError(fields.at(key), f"expected a GUID such as 00000000-0000-0000-0000-000000000000, "
                                          f"got {describe(value)}")
    return value


def _name(fields: Fields, key: str, default: Any = MISSING) -> Any:
    value = fields.text(key, default)
    if isinstance(value, str) and not _NAME.match(value):
        raise EstateError(fields.at(key), "expected a resource name (letters, digits, _ . ( ) -, at most 90), "
                                          f"got {describe(value)}")
    return value


# ---- the document --------------------------------------------------------------------------------
def parse_estate(document: Any) -> EstateSpec:
    top = Fields(document, "", KEYS["document"])
    subscriptions = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(top.items("subscriptions", required=True)):
        path = join_path("subscriptions", index)
        sub = _subscription(raw, path)
        key = sub.subscription_id.lower()
        if key in seen:
            raise EstateError(path, f"duplicate subscription {sub.subscription_id} (also {seen[key]})")
        seen[key] = path
        subscriptions.append(sub)
    if not subscriptions:
        raise EstateError("subscriptions", "expected at least one subscription, got an empty list")
    name = top.text("name", None)
    return EstateSpec(name=name, description=top.text("description", "", allow_empty=True),
                      now=top.time("now", None), subscriptions=tuple(subscriptions))


class _Groups:
    """The subscription's resource groups: declared ones, then those its resources imply."""

    def __init__(self) -> None:
        self.specs: dict[str, GroupSpec] = {}

    def declare(self, spec: GroupSpec, path: str) -> None:
        if spec.name.lower() in self.specs:
            raise EstateError(path, f"duplicate resource group '{spec.name}'")
        self.specs[spec.name.lower()] = spec

    def location(self, name: str) -> str | None:
        spec = self.specs.get(name.lower())
        return spec.location if spec else None

    def imply(self, name: str, location: str) -> None:
        self.specs.setdefault(name.lower(), GroupSpec(name, location))


def _subscription(raw: Any, path: str) -> SubscriptionSpec:
    f = Fields(raw, path, KEYS["subscription"])
    sub_id = _guid(f, "id")
    label = f.text("label", None)
    if (sub_id is None) == (label is None):
        raise EstateError(path, "expected exactly one of id, label")
    subscription_id = sub_id or subscription_guid(label)
    groups = _Groups()
    for index, raw_group in enumerate(f.items("resourceGroups")):
        gpath = join_path(f.at("resourceGroups"), index)
        g = Fields(raw_group, gpath, KEYS["resourceGroup"])
        groups.declare(GroupSpec(_name(g, "name"), g.text("location", DEFAULT_LOCATION), g.tags("tags"),
                                 g.text("managedBy", None)), gpath)
    network = parse_network_spec(f, groups, DEFAULT_LOCATION)
    key_vaults = tuple(_key_vault(raw_kv, join_path(f.at("keyVaults"), i), groups)
                       for i, raw_kv in enumerate(f.items("keyVaults")))
    _unique([("", kv.name) for kv in key_vaults], f.at("keyVaults"), "key vault")  # vault names are global
    vms = tuple(_vm(raw_vm, join_path(f.at("vms"), i), groups, network, key_vaults)
                for i, raw_vm in enumerate(f.items("vms")))
    vm_index = _index_vms(vms, f.at("vms"))
    vaults = tuple(_vault(raw_vault, join_path(f.at("vaults"), i), groups, vm_index)
                   for i, raw_vault in enumerate(f.items("vaults")))
    _unique([(v.resource_group, v.name) for v in vaults], f.at("vaults"), "vault")
    collections = tuple(_collection(raw_rpc, join_path(f.at("restorePointCollections"), i), groups, vm_index)
                        for i, raw_rpc in enumerate(f.items("restorePointCollections")))
    locks = tuple(_lock(raw_lock, join_path(f.at("locks"), i), subscription_id, groups)
                  for i, raw_lock in enumerate(f.items("locks")))
    _unique([(lk.scope, lk.name) for lk in locks], f.at("locks"), "lock")
    policy_assignments = tuple(_policy_assignment(raw_pa, join_path(f.at("policyAssignments"), i), groups)
                        for i, raw_pa in enumerate(f.items("policyAssignments")))
    _unique([(a.scope, a.name) for a in policy_assignments], f.at("policyAssignments"), "policy assignment")
    assignments = tuple(_role_assignment(raw_ra, join_path(f.at("roleAssignments"), i), subscription_id, groups)
                        for i, raw_ra in enumerate(f.items("roleAssignments")))
    return SubscriptionSpec(
        subscription_id=subscription_id,
        display_name=f.text("displayName", label or f"Sandbox subscription {subscription_id[:8]}"),
        tenant_id=_guid(f, "tenantId") or DEFAULT_TENANT,
        state=f.choice("state", SUBSCRIPTION_STATES, "Enabled"),
        groups=tuple(groups.specs.values()), vms=vms, vaults=vaults, collections=collections, locks=locks,
        policy_assignments=policy_assignments, key_vaults=key_vaults, role_assignments=assignments,
        network=network,
    )


def _policy_assignment(raw: Any, path: str, groups: _Groups) -> PolicyAssignmentSpec:
    f = Fields(raw, path, KEYS["policyAssignment"])
    scope = f.text("scope", "", allow_empty=True).strip("/")
    if scope:
        parts = scope.split("/")
        if len(parts) != 2 or parts[0].lower() != "resourcegroups" or groups.location(parts[1]) is None:
            raise EstateError(f.at("scope"), f"expected '' (the subscription) or resourceGroups/NAME of this "
                                             f"subscription, got '{scope}'")
        scope = f"resourceGroups/{parts[1]}"
    d = Fields(f.raw("definition"), f.at("definition"), KEYS["policyDefinition"])
    name = _name(f, "name")
    return PolicyAssignmentSpec(
        name=name, display_name=f.text("displayName", name), definition_name=_name(d, "name"),
        definition_display_name=d.text("displayName", "Require a tag on resource groups"),
        effect=f.choice("effect", ("Deny", "Modify", "Audit")), tag=f.text("requiredTag"),
        tag_value=f.text("tagValue", "", allow_empty=True), scope=scope,
    )


def _unique(keys: list[tuple[str, str]], path: str, what: str) -> None:
    seen: set[tuple[str, str]] = set()
    for index, (scope, name) in enumerate(keys):
        key = (scope.lower(), name.lower())
        if key in seen:
            raise EstateError(join_path(path, index), f"duplicate {what} '{name}' in '{scope or 'subscription'}'")
        seen.add(key)


# ---- virtual machines ----------------------------------------------------------------------------


def _vm(raw: Any, path: str, groups: _Groups, network: Any, key_vaults: tuple[KeyVaultSpec, ...] = ()) -> VmSpec:
    f = Fields(raw, path, KEYS["vm"])
    name = _name(f, "name")
    group = _name(f, "resourceGroup")
    location = f.text("location", None) or groups.location(group) or DEFAULT_LOCATION
    groups.imply(group, location)
    os_type = f.choice("osType", OS_TYPES, "Windows")
    error_code = error_message = None
    if f.has("provisioningError"):
        e = Fields(f.raw("provisioningError"), f.at("provisioningError"), KEYS["provisioningError"])
        error_code, error_message = e.text("code"), e.text("message", None)
    provision_vm_agent = f.flag("provisionVMAgent", True)
    # An agent that was never installed reports nothing unless the file says otherwise.
    agent = _agent(f.raw("vmAgent", {} if provision_vm_agent else {"status": None}), f.at("vmAgent"), os_type)
    os_disk = Fields(f.raw("osDisk", {}), f.at("osDisk"), KEYS["osDisk"])
    encrypted, key_vault_url = False, None
    key_vault, kek, single_pass = None, False, False
    if os_disk.has("encryptionSettings"):
        enc = Fields(os_disk.raw("encryptionSettings"), os_disk.at("encryptionSettings"),
                     KEYS["encryptionSettings"])
        encrypted, key_vault_url = enc.flag("enabled", True), enc.text("keyVaultUrl", None)
        kek, single_pass = enc.flag("keyEncryptionKey", False), enc.flag("singlePass", False)
        vault_name = enc.text("keyVault", None)
        if vault_name is not None:
            found = next((kv for kv in key_vaults if kv.name.lower() == vault_name.lower()), None)
            if found is None:
                known = ", ".join(kv.name for kv in key_vaults) or "none declared"
                raise EstateError(enc.at("keyVault"), f"expected one of this subscription's keyVaults ({known}), "
                                                      f"got '{vault_name}'")
            key_vault = (found.resource_group, found.name)
    disks = tuple(_data_disk(d, join_path(f.at("dataDisks"), i), name) for i, d in enumerate(f.items("dataDisks")))
    if len({d.lun for d in disks}) != len(disks):
        raise EstateError(f.at("dataDisks"), "expected distinct luns")
    extensions = tuple(_extension(e, join_path(f.at("extensions"), i)) for i, e in enumerate(f.items("extensions")))
    _unique([("", e.name) for e in extensions], f.at("extensions"), "extension")
    zones = f.items("zones")
    for index, zone in enumerate(zones):
        if zone not in ("1", "2", "3", 1, 2, 3) or isinstance(zone, bool):
            raise EstateError(join_path(f.at("zones"), index), f"expected one of 1, 2, 3, got {describe(zone)}")
    provisioning = f.choice("provisioningState", VM_PROVISIONING, "Succeeded")
    if provisioning == "Failed" and error_code is None and not any(e.provisioning_state == "Failed"
                                                                   for e in extensions):
        raise EstateError(f.at("provisioningState"),
                          "expected provisioningError (or a Failed extension) with Failed, got none")
    power_state = f.choice("powerState", POWER_STATES + TRANSITIONAL_POWER_STATES, "running")
    transition = f.integer("transitionSeconds", 120, minimum=1, maximum=24 * 3600)
    if f.has("transitionSeconds") and power_state not in TRANSITIONAL_POWER_STATES:
        raise EstateError(f.at("transitionSeconds"), f"expected only with powerState one of "
                                                     f"{', '.join(TRANSITIONAL_POWER_STATES)}, got {power_state}")
    return VmSpec(
        name=name, resource_group=group, location=location, os_type=os_type, vm_id=_guid(f, "vmId"),
        vm_size=f.text("vmSize", "Standard_D2s_v3"),
        os_disk_size_gb=os_disk.integer("diskSizeGB", 127 if os_type == "Windows" else 30, minimum=1),
        data_disks=disks, encrypted=encrypted, key_vault_url=key_vault_url,
        provisioning_state=provisioning, provisioning_error=error_code, provisioning_message=error_message,
        power_state=power_state, agent=agent, transition_seconds=transition,
        provision_vm_agent=provision_vm_agent, extensions=extensions,
        time_created=f.time("timeCreated", None), computer_name=f.text("computerName", ""),
        os_name=f.text("osName", "", allow_empty=True), os_version=f.text("osVersion", "", allow_empty=True),
        tags=f.tags("tags"), zones=tuple(str(z) for z in zones), deleted=f.flag("deleted", False),
        key_vault=key_vault, key_encryption_key=kek, single_pass=single_pass,
        network=parse_vm_network(f.raw("network", None), f.at("network"), network),
        guest=parse_guest(f.raw("guest"), f.at("guest"), os_type) if f.has("guest") else None,
        boot_diagnostics_storage_uri=_storage_uri(f),
    )


def _storage_uri(f: Fields) -> str | None:
    """bootDiagnostics.storageUri of a custom storage account (none: managed boot diagnostics)."""
    uri = f.text("bootDiagnosticsStorageUri", None)
    if uri is not None and not re.match(r"^https://[a-z0-9]{3,24}\.blob\.[a-z0-9.]+/?$", uri):
        raise EstateError(f.at("bootDiagnosticsStorageUri"),
                          f"expected https://ACCOUNT.blob.core.windows.net/, got '{uri}'")
    return uri


def _agent(raw: Any, path: str, os_type: str) -> AgentSpec:
    a = Fields(raw, path, KEYS["vmAgent"])
    status = a.choice("status", AGENT_STATUSES, "Ready") if a.raw("status", "Ready") is not None else ""
    default_message = AgentSpec().message if status == "Ready" else ""
    return AgentSpec(status=status,
                     version=a.text("vmAgentVersion", WINDOWS_AGENT if os_type == "Windows" else LINUX_AGENT),
                     message=a.text("message", default_message, allow_empty=True),
                     revived_by_restart=a.flag("revivedByRestart", True),
                     revived_by_redeploy=a.flag("revivedByRedeploy", False))


def _data_disk(raw: Any, path: str, vm_name: str) -> DataDiskSpec:
    d = Fields(raw, path, KEYS["dataDisk"])
    lun = d.integer("lun", minimum=0, maximum=63)
    return DataDiskSpec(lun, d.text("name", f"{vm_name}_DataDisk_{lun}"), d.integer("diskSizeGB", minimum=1))


def _extension(raw: Any, path: str) -> ExtensionSpec:
    e = Fields(raw, path, KEYS["extension"])
    return ExtensionSpec(
        name=_name(e, "name"), publisher=e.text("publisher"), type=e.text("type"),
        type_handler_version=e.text("typeHandlerVersion"),
        provisioning_state=e.choice("provisioningState", EXTENSION_PROVISIONING, "Succeeded"),
        status_code=e.text("statusCode", None), status_level=e.choice("statusLevel", STATUS_LEVELS, None),
        status_message=e.text("statusMessage", "", allow_empty=True),
        auto_upgrade_minor_version=e.flag("autoUpgradeMinorVersion", True), settings=e.mapping("settings"),
        force_update_tag=e.text("forceUpdateTag", None), cause_persists=e.flag("causePersists", False),
    )


def _index_vms(vms: tuple[VmSpec, ...], path: str) -> dict[str, list[VmSpec]]:
    index: dict[str, list[VmSpec]] = {}
    for position, vm in enumerate(vms):
        same = index.setdefault(vm.name.lower(), [])
        if any(o.resource_group.lower() == vm.resource_group.lower() for o in same):
            raise EstateError(join_path(path, position), f"duplicate VM '{vm.name}' in '{vm.resource_group}'")
        same.append(vm)
    return index


def _vm_ref(raw: Any, path: str, vm_index: dict[str, list[VmSpec]]) -> VmSpec:
    """`{name, resourceGroup}` (resourceGroup optional when the name is unique) or just the name."""
    if isinstance(raw, str):
        name, group = raw, None
    else:
        r = Fields(raw, path, KEYS["vmReference"])
        name, group = r.text("name"), r.text("resourceGroup", None)
    found = [vm for vm in vm_index.get(name.lower(), [])
             if group is None or vm.resource_group.lower() == group.lower()]
    if not found:
        where = f" in '{group}'" if group else ""
        raise EstateError(path, f"expected a VM of this subscription's vms, got '{name}'{where}")
    if len(found) > 1:
        raise EstateError(path, f"expected a resourceGroup: VM '{name}' is in several groups")
    return found[0]


# ---- vaults, policies, protected items, jobs -----------------------------------------------------
def _vault(raw: Any, path: str, groups: _Groups, vm_index: dict[str, list[VmSpec]]) -> VaultSpec:
    f = Fields(raw, path, KEYS["vault"])
    group = _name(f, "resourceGroup")
    location = f.text("location", None) or groups.location(group) or DEFAULT_LOCATION
    groups.imply(group, location)
    policies = tuple(_policy(p, join_path(f.at("policies"), i)) for i, p in enumerate(f.items("policies")))
    _unique([("", p.name) for p in policies], f.at("policies"), "policy")
    names = {p.name.lower(): p.name for p in policies}
    items = tuple(_item(it, join_path(f.at("protectedItems"), i), names, vm_index)
                  for i, it in enumerate(f.items("protectedItems")))
    _unique([(it.vm_resource_group, it.vm_name) for it in items], f.at("protectedItems"), "protected item")
    return VaultSpec(_name(f, "name"), group, location, f.tags("tags"), policies, items)


def _policy(raw: Any, path: str) -> PolicySpec:
    f = Fields(raw, path, KEYS["policy"])
    prefix = suffix = None
    if f.has("instantRpDetails"):
        d = Fields(f.raw("instantRpDetails"), f.at("instantRpDetails"), KEYS["instantRpDetails"])
        prefix, suffix = d.text("azureBackupRGNamePrefix"), d.text("azureBackupRGNameSuffix", None)
    schedule = f.raw("scheduleRunTime", PolicySpec.schedule_time)
    parse_when(schedule, f.at("scheduleRunTime"))
    return PolicySpec(
        name=_name(f, "name"), policy_type=f.choice("policyType", POLICY_TYPES, "V2"),
        instant_rp_retention_days=f.integer("instantRpRetentionRangeInDays", 2, minimum=1, maximum=30),
        rg_prefix=prefix, rg_suffix=suffix,
        daily_retention_days=f.integer("dailyRetentionDays", 30, minimum=1, maximum=9999),
        schedule_time=schedule if isinstance(schedule, str) else parse_when(schedule, "").strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
    )


def _item(raw: Any, path: str, policies: dict[str, str], vm_index: dict[str, list[VmSpec]]) -> ItemSpec:
    f = Fields(raw, path, KEYS["protectedItem"])
    vm = _vm_ref(f.raw("vm"), f.at("vm"), vm_index)
    policy = f.text("policy", None)
    if policy is not None:
        if policy.lower() not in policies:
            known = ", ".join(policies.values()) or "none declared"
            raise EstateError(f.at("policy"), f"expected one of the vault's policies ({known}), got '{policy}'")
        policy = policies[policy.lower()]
    jobs = tuple(_job(j, join_path(f.at("jobs"), i)) for i, j in enumerate(f.items("jobs")))
    return ItemSpec(
        vm_name=vm.name, vm_resource_group=vm.resource_group, policy=policy,
        protection_state=f.choice("protectionState", PROTECTION_STATES, "Protected"),
        protection_status=f.choice("protectionStatus", PROTECTION_STATUSES, "Healthy"),
        health_status=f.choice("healthStatus", HEALTH_STATUSES, "Passed"),
        last_backup_status=f.choice("lastBackupStatus", LAST_BACKUP_STATUSES, "Completed"),
        last_backup_time=f.time("lastBackupTime", None), last_recovery_point=f.time("lastRecoveryPoint", None),
        data_id=f.integer("protectedItemDataId", None, minimum=0), virtual_machine_guid=_guid(f, "virtualMachineGuid"),
        key_vault_access=f.flag("keyVaultAccess", True), jobs=jobs,
        run_backups=f.integer("runBackups", 0, minimum=0, maximum=_MAX_RUNS),
    )


def _job(raw: Any, path: str) -> JobSpec:
    f = Fields(raw, path, KEYS["job"])
    tasks = []
    for index, raw_task in enumerate(f.items("tasks")):
        t = Fields(raw_task, join_path(f.at("tasks"), index), KEYS["task"])
        tasks.append(TaskSpec(t.text("taskId"), t.choice("status", TASK_STATUSES, "NotStarted"),
                              t.time("startTime", None), t.time("endTime", None)))
    errors = []
    for index, raw_error in enumerate(f.items("errorDetails")):
        epath = join_path(f.at("errorDetails"), index)
        e = Fields(raw_error, epath, KEYS["errorDetail"])
        recommendations = as_list(e.raw("recommendations", []), e.at("recommendations"))
        for position, text in enumerate(recommendations):
            if not isinstance(text, str):
                raise EstateError(join_path(e.at("recommendations"), position),
                                  f"expected a string, got {describe(text)}")
        errors.append(JobErrorSpec(e.integer("errorCode", 0), e.text("errorTitle"),
                                   e.text("errorString", "", allow_empty=True), tuple(recommendations)))
    status = f.choice("status", JOB_STATUSES)
    if status == "Failed" and not errors:
        raise EstateError(f.at("errorDetails"), "expected at least one error for a Failed job, got none")
    start, end = f.time("startTime"), f.time("endTime", None)
    if end is not None and end < start:
        raise EstateError(f.at("endTime"), f"expected a time at or after startTime, got {end.isoformat()}")
    return JobSpec(
        job_id=_guid(f, "jobId"), operation=f.choice("operation", JOB_OPERATIONS, "Backup"), status=status,
        start=start, end=end, tasks=tuple(tasks), errors=tuple(errors), activity_id=_guid(f, "activityId"),
        expiry=f.time("expiryTime", None), on_demand=f.flag("isUserTriggered", False),
        cancellable=f.flag("cancellable", status == "InProgress"), stuck=f.flag("stuck", False),
        dynamic_error_message=f.text("dynamicErrorMessage", None),
        cancel_refused_seconds=f.integer("cancelRefusedForSeconds", None, minimum=0),
        completes_after_seconds=f.integer("completesAfterSeconds", None, minimum=1),
    )


# ---- restore point collections and locks ---------------------------------------------------------
def _collection(raw: Any, path: str, groups: _Groups, vm_index: dict[str, list[VmSpec]]) -> CollectionSpec:
    f = Fields(raw, path, KEYS["restorePointCollection"])
    source = _vm_ref(f.raw("source"), f.at("source"), vm_index)
    group = _name(f, "resourceGroup")
    location = f.text("location", None) or source.location
    groups.imply(group, location)
    raw_points = f.raw("restorePoints", [])
    points: list[PointSpec] = []
    count: int | None = None
    if isinstance(raw_points, int) and not isinstance(raw_points, bool):
        count = f.integer("restorePoints", minimum=0, maximum=500)
    else:
        for index, raw_point in enumerate(as_list(raw_points, f.at("restorePoints"))):
            p = Fields(raw_point, join_path(f.at("restorePoints"), index), KEYS["restorePoint"])
            points.append(PointSpec(_name(p, "name", None), p.time("timeCreated"),
                                    p.choice("consistencyMode", CONSISTENCY_MODES, "CrashConsistent")))
    return CollectionSpec(
        name=_name(f, "name", None), resource_group=group, location=location, source_name=source.name,
        source_resource_group=source.resource_group, collection_id=_guid(f, "collectionId"),
        provisioning_state="Succeeded", tags=f.tags("tags"), points=tuple(points), point_count=count,
    )


def _relative_scope(f: Fields, subscription_id: str, groups: _Groups) -> str:
    """`scope`: '' (the subscription), resourceGroups/NAME or a resource id below it, relative to the
    subscription (or absolute within it)."""
    scope = f.text("scope", "", allow_empty=True).strip("/")
    prefix = f"subscriptions/{subscription_id}".lower()
    if scope.lower().startswith("subscriptions/"):
        if not (scope.lower() == prefix or scope.lower().startswith(prefix + "/")):
            raise EstateError(f.at("scope"), f"expected a scope in subscription {subscription_id}, got '{scope}'")
        scope = scope[len(prefix):].strip("/")
    if scope:
        parts = scope.split("/")
        if parts[0].lower() != "resourcegroups" or len(parts) < 2 or len(parts) % 2:
            raise EstateError(f.at("scope"), "expected '' (the subscription), resourceGroups/NAME or a resource "
                                             f"id below it, got '{scope}'")
        if groups.location(parts[1]) is None:
            raise EstateError(f.at("scope"), f"expected a resource group of this subscription, got '{parts[1]}'")
        parts[0] = "resourceGroups"
        scope = "/".join(parts)
    return scope


def _lock(raw: Any, path: str, subscription_id: str, groups: _Groups) -> LockSpec:
    f = Fields(raw, path, KEYS["lock"])
    scope = _relative_scope(f, subscription_id, groups)
    owners = []
    for index, owner in enumerate(f.items("owners")):
        o = Fields(owner, join_path(f.at("owners"), index), KEYS["owner"])
        owners.append({"applicationId": o.text("applicationId")})
    return LockSpec(scope=scope, name=_name(f, "name"), level=f.choice("level", LOCK_LEVELS, "CanNotDelete"),
                    notes=f.text("notes", None), owners=tuple(owners))


# ---- Key Vault vaults and role assignments -------------------------------------------------------
def _principal(f: Fields, id_key: str) -> str | None:
    """An explicit object id, or None for `principal: BackupManagementService` (resolved per tenant)."""
    if f.has(id_key) == f.has("principal"):
        raise EstateError(f.at(id_key), f"expected exactly one of {id_key}, principal")
    if f.has("principal"):
        f.choice("principal", PRINCIPALS)
        return None
    return _guid(f, id_key)


def _key_vault(raw: Any, path: str, groups: _Groups) -> KeyVaultSpec:
    f = Fields(raw, path, KEYS["keyVault"])
    group = _name(f, "resourceGroup")
    location = f.text("location", None) or groups.location(group) or DEFAULT_LOCATION
    groups.imply(group, location)
    policies = []
    for index, raw_policy in enumerate(f.items("accessPolicies")):
        ppath = join_path(f.at("accessPolicies"), index)
        p = Fields(raw_policy, ppath, KEYS["accessPolicy"])
        perms = Fields(p.raw("permissions", {}), p.at("permissions"), KEYS["permissions"])
        permissions: dict[str, tuple[str, ...]] = {}
        for kind in KEYS["permissions"]:
            values = perms.items(kind)
            for position, value in enumerate(values):
                if not isinstance(value, str) or not value:
                    raise EstateError(join_path(perms.at(kind), position), f"expected a permission, got "
                                                                           f"{describe(value)}")
            if values:
                permissions[kind] = tuple(values)
        policies.append(AccessPolicySpec(_principal(p, "objectId"), _guid(p, "tenantId"), permissions))
    return KeyVaultSpec(
        name=_name(f, "name"), resource_group=group, location=location, tenant_id=_guid(f, "tenantId"),
        rbac=f.flag("enableRbacAuthorization", False), access_policies=tuple(policies),
        enabled_for_disk_encryption=f.flag("enabledForDiskEncryption", True), tags=f.tags("tags"),
    )


def _role_assignment(raw: Any, path: str, subscription_id: str, groups: _Groups) -> RoleAssignmentSpec:
    f = Fields(raw, path, KEYS["roleAssignment"])
    scope = _relative_scope(f, subscription_id, groups)
    from ..providers.authorization.models import BUILTIN_ROLE_DEFINITIONS

    role = f.text("role")
    if not any(role.lower() in (r.name.lower(), r.guid) for r in BUILTIN_ROLE_DEFINITIONS):
        known = ", ".join(r.name for r in BUILTIN_ROLE_DEFINITIONS)
        raise EstateError(f.at("role"), f"expected a built-in role ({known}) or its GUID, got '{role}'")
    return RoleAssignmentSpec(scope=scope, role=role, principal_id=_principal(f, "principalId"),
                              name=_guid(f, "name"))
