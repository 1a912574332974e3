"""Wire format of Microsoft.RecoveryServices (IaaS VM backup) as RecoveryServicesBackupClient 11.2 sees it.

Recovery Services answers with `Content-Type: application/json` (no charset), BMS-style error codes for
child objects (items, jobs, policies, operations) and the gateway's ResourceNotFound for a missing vault.
Names carry `;` (`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>`); the router percent-decodes them and
Location / Azure-AsyncOperation headers print them raw, as the service does.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ...core.errors import ArmError, bad_request
from ...core.http import SandboxRequest, SandboxResponse, empty_response, json_response
from ...core.operations import Operation
from ...core.paging import page
from ...core.timefmt import NULL_BACKUP_TIME, backup_time, iso_duration, parse_time
from . import physics
from .models import VAULT_TYPE, BackupJob, BackupPolicy, ProtectedItem, Vault, container_name

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = [
    "register",
    "vault_to_arm",
    "policy_to_arm",
    "item_to_arm",
    "job_to_arm",
    "parse_odata_filter",
    "DEFAULT_JOB_WINDOW",
]

_JSON = {"Content-Type": "application/json"}
_RS = "/providers/Microsoft.RecoveryServices"
_V = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}" + _RS + "/vaults/{vaultName}"
_ITEM = _V + "/backupFabrics/{fabricName}/protectionContainers/{containerName}/protectedItems/{protectedItemName}"
_ACT = "Microsoft.RecoveryServices/Vaults"
_ITEM_ACT = _ACT + "/backupFabrics/protectionContainers/protectedItems"
_ITEM_TYPE = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
_CANCEL_STATUS_API_VERSION = "2019-05-13-preview"  # the real quirk on cancel's Azure-AsyncOperation [R]
# Without a time filter the service lists a recent window only; 7 days is our guess [K].
DEFAULT_JOB_WINDOW = timedelta(days=7)
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
    return json_response(status, payload, {**_JSON, **(headers or {})})


def _bms_not_found(message: str, code: str = "BMSUserErrorObjectNotFound") -> ArmError:
    return ArmError(404, code, message)


def parse_odata_filter(text: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """`a eq 'x' and b eq 'y'` -> {a: x, b: y} (field names lower-cased); anything else is a 400."""
    text = (text or "").strip()
    if not text:
        return {}
    out: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
        found = _CLAUSE.match(clause)
        if not found:
            raise bad_request(f"The filter clause '{clause}' is invalid. Only \"<property> eq '<value>'\" "
                              "clauses joined by 'and' are supported.", "BMSUserErrorInvalidFilter")
        name = found.group(1).lower()
        if name not in allowed:
            raise bad_request(f"The filter property '{found.group(1)}' is not supported. Supported: "
                              f"{', '.join(allowed)}.", "BMSUserErrorInvalidFilter")
        out[name] = found.group(2)
    return out


# ---- serialisers -------------------------------------------------------------------------------------
def vault_to_arm(vault: Vault) -> dict[str, Any]:
    return {
        "location": vault.location,
        "name": vault.name,
        "etag": 'W/"datetime\'2026-01-01T00%3A00%3A00.0000000Z\'"',
        "tags": dict(vault.tags),
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpointStateForBackup": "None",
            "privateEndpointStateForSiteRecovery": "None",
            "publicNetworkAccess": "Enabled",
            "redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant",
                                   "crossRegionRestore": "Disabled"},
        },
        "id": vault.id,
        "type": VAULT_TYPE,
        "sku": {"name": "RS0", "tier": "Standard"},
    }


def policy_to_arm(sb: Sandbox, policy: BackupPolicy) -> dict[str, Any]:
    run_time = policy.schedule_time
    instant: dict[str, str] = {}
    if policy.rg_prefix:
        instant["azureBackupRGNamePrefix"] = policy.rg_prefix
    if policy.rg_suffix:
        instant["azureBackupRGNameSuffix"] = policy.rg_suffix
    v2 = policy.policy_type.upper() == "V2"
    schedule: dict[str, Any] = (
        {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Daily",
         "dailySchedule": {"scheduleRunTimes": [run_time]}}
        if v2 else
        {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily",
         "scheduleRunTimes": [run_time], "scheduleWeeklyFrequency": 0}
    )
    count = sum(1 for i in sb.backup.items_of(policy.vault) if i.policy is policy)
    return {
        "id": policy.id,
        "name": policy.name,
        "type": "Microsoft.RecoveryServices/vaults/backupPolicies",
        "properties": {
            "backupManagementType": "AzureIaasVM",
            "policyType": policy.policy_type,
            # The SDK's (and swagger's) wire name is `instantRPDetails`.
            "instantRPDetails": instant,
            "schedulePolicy": schedule,
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionTimes": [run_time],
                                  "retentionDuration": {"count": policy.daily_retention_days,
                                                        "durationType": "Days"}},
            },
            "instantRpRetentionRangeInDays": policy.instant_rp_retention_days,
            "timeZone": "UTC",
            "protectedItemsCount": count,
        },
    }


def _properties_container(item: ProtectedItem) -> str:
    # properties.containerName omits the `IaasVMContainer;` prefix [R].
    return item.container.split(";", 1)[1]


def item_to_arm(sb: Sandbox, item: ProtectedItem) -> dict[str, Any]:
    last = _utc(item.last_backup_time)
    never = last.year <= 2001
    props: dict[str, Any] = {
        "friendlyName": item.vm_name,
        "virtualMachineId": item.vm_id,
        "protectionStatus": item.protection_status,
        "protectionState": item.protection_state,
        "healthStatus": item.health_status,
        "kpisHealths": {},
        "lastBackupStatus": "" if never and item.protection_state == "IRPending" else item.last_backup_status,
        "lastBackupTime": "2001-01-01T00:00:00Z" if never else backup_time(last),
        "protectedItemDataId": str(item.data_id),
        "protectedItemType": "Microsoft.Compute/virtualMachines",
        "backupManagementType": "AzureIaasVM",
        "workloadType": "VM",
        "containerName": _properties_container(item),
        "sourceResourceId": item.vm_id,
        "policyId": item.policy.id if item.policy else "",
        "isArchiveEnabled": False,
        "softDeleteRetentionPeriodInDays": 14,
        "vaultId": item.vault.id,
    }
    if item.policy is not None:
        props["policyName"] = item.policy.name
        props["policyType"] = item.policy.policy_type
    if item.last_recovery_point is not None:
        props["lastRecoveryPoint"] = backup_time(_utc(item.last_recovery_point))
    vm = sb.compute.vm_by_id(item.vm_id)
    if vm is not None:
        props["sourceLocation"] = vm.location
    return {"id": item.id, "name": item.name, "type": _ITEM_TYPE, "properties": props}


def _expiry_text(when: datetime) -> str:
    # propertyBag times are in the service's US culture format (`3/13/2022 12:00:00 AM`) [K].
    when = _utc(when).astimezone(timezone.utc)
    hour = when.hour % 12 or 12
    return f"{when.month}/{when.day}/{when.year} {hour}:{when:%M:%S} {'AM' if when.hour < 12 else 'PM'}"


def job_to_arm(sb: Sandbox, job: BackupJob, *, extended: bool) -> dict[str, Any]:
    now = sb.clock.now()
    start = _utc(job.start) if job.start else now
    end = _utc(job.end) if job.end else None
    props: dict[str, Any] = {
        "jobType": "AzureIaaSVMJob",
        "duration": iso_duration(((end or now) - start).total_seconds()),
    }
    if job.status == "InProgress" and job.cancellable:
        props["actionsInfo"] = ["Cancellable"]
    if job.errors:
        props["errorDetails"] = [
            {"errorCode": e.error_code, "errorTitle": e.error_title, "errorString": e.error_string,
             "recommendations": list(e.recommendations)}
            for e in job.errors
        ]
    props["virtualMachineVersion"] = "Compute"
    if extended:
        props["extendedInfo"] = _extended_info(sb, job, now)
    if job.item is not None:
        props["containerName"] = _properties_container(job.item)
    props["isUserTriggered"] = job.on_demand
    props.update({
        "entityFriendlyName": job.entity_friendly_name,
        "backupManagementType": "AzureIaasVM",
        "operation": job.operation,
        "status": job.status,
        "startTime": backup_time(start),
    })
    if end is not None:
        props["endTime"] = backup_time(end)
    props["activityId"] = job.activity_id
    return {"id": job.id, "name": job.job_id, "type": "Microsoft.RecoveryServices/vaults/backupJobs",
            "properties": props}


def _extended_info(sb: Sandbox, job: BackupJob, now: datetime) -> dict[str, Any]:
    tasks = []
    for task in job.tasks:
        t_start = _utc(task.start) if task.start else None
        t_end = _utc(task.end) if task.end else None
        seconds = ((t_end or now) - t_start).total_seconds() if t_start else 0.0
        tasks.append({
            "taskId": task.task_id,
            "startTime": backup_time(t_start) if t_start else NULL_BACKUP_TIME,
            "endTime": backup_time(t_end) if t_end else NULL_BACKUP_TIME,
            "duration": iso_duration(seconds),
            "status": task.status,
        })
    bag: dict[str, str] = {"VM Name": job.entity_friendly_name}
    if job.operation == "Backup":
        if job.expiry is not None:
            bag["Recovery Point Expiry Time in UTC"] = _expiry_text(job.expiry)
        if job.item is not None and job.item.policy is not None:
            bag["Policy Name"] = job.item.policy.name
        bag["Backup Size"] = "0 MB" if job.status != "Completed" else "10240 MB"
    info: dict[str, Any] = {"tasksList": tasks, "propertyBag": bag,
                            "internalPropertyBag": {"IsInstantRpJob": "True"} if job.operation == "Backup" else {}}
    if job.dynamic_error_message:
        info["dynamicErrorMessage"] = job.dynamic_error_message
    return info


def _op_status_body(op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": op.id,
        "name": op.id,
        "status": op.status,
        "startTime": backup_time(op.start),
        "endTime": backup_time(op.end) if op.end else NULL_BACKUP_TIME,
    }
    if op.error is not None:
        body["error"] = op.error
    elif op.done and op.data.get("job_id") and op.data.get("kind") != "cancel":
        body["properties"] = {"objectType": "OperationStatusJobExtendedInfo", "jobId": op.data["job_id"]}
    return body


# ---- lookups -----------------------------------------------------------------------------------------
def _vault(sb: Sandbox, p: dict[str, str]) -> Vault:
    return sb.backup.get_vault(p["subscriptionId"], p["resourceGroupName"], p["vaultName"])


def _item(sb: Sandbox, p: dict[str, str]) -> ProtectedItem:
    vault = _vault(sb, p)
    if p["fabricName"].lower() != "azure":
        raise _bms_not_found(f"Fabric '{p['fabricName']}' was not found in the vault.")
    return sb.backup.get_item(vault, p["containerName"], p["protectedItemName"])


def _operation(sb: Sandbox, op_id: str, vault: Vault, **match: str) -> Operation:
    op = sb.operations.find(op_id)
    if op is None or op.data.get("vault") != vault.id.lower() or any(
        str(op.data.get(k, "")).lower() != v.lower() for k, v in match.items()
    ):
        raise _bms_not_found(f"Operation '{op_id}' was not found.", "BMSUserErrorOperationNotFound")
    return op


def _api(req: SandboxRequest) -> str:
    return req.query.get("api-version") or "2026-10-01"


# ---- vaults ------------------------------------------------------------------------------------------
def _get_vault(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, vault_to_arm(_vault(sb, p)))


def _list_vaults(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vaults = sb.backup.list_vaults(p["subscriptionId"], p.get("resourceGroupName"))
    return _json(200, page(req, [vault_to_arm(v) for v in vaults], sb.config.page_size))


# ---- policies ----------------------------------------------------------------------------------------
def _list_policies(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vault = _vault(sb, p)
    wanted = parse_odata_filter(req.query.get("$filter"), ("backupmanagementtype",))
    policies = sb.backup.policies_of(vault)
    if wanted.get("backupmanagementtype", "azureiaasvm").lower() != "azureiaasvm":
        policies = []
    return _json(200, page(req, [policy_to_arm(sb, x) for x in policies], sb.config.page_size))


def _get_policy(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, policy_to_arm(sb, sb.backup.get_policy(_vault(sb, p), p["policyName"])))


# ---- protected items ---------------------------------------------------------------------------------
def _list_items(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vault = _vault(sb, p)
    wanted = parse_odata_filter(req.query.get("$filter"),
                                ("backupmanagementtype", "itemtype", "policyname", "friendlyname"))
    items = sb.backup.items_of(vault)
    if wanted.get("backupmanagementtype", "AzureIaasVM").lower() != "azureiaasvm":
        items = []
    if wanted.get("itemtype", "VM").lower() != "vm":
        items = []
    if "policyname" in wanted:
        items = [i for i in items if i.policy and i.policy.name.lower() == wanted["policyname"].lower()]
    if "friendlyname" in wanted:
        items = [i for i in items if i.vm_name.lower() == wanted["friendlyname"].lower()]
    return _json(200, page(req, [item_to_arm(sb, i) for i in items], sb.config.page_size))


def _get_item(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, item_to_arm(sb, _item(sb, p)))


def _item_lro_headers(req: SandboxRequest, item: ProtectedItem, op: Operation) -> dict[str, str]:
    base, api = f"{req.base_url}{item.id}", _api(req)
    return {
        "Location": f"{base}/operationResults/{op.id}?api-version={api}",
        "Azure-AsyncOperation": f"{base}/operationsStatus/{op.id}?api-version={api}",
    }


def _put_item(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    """Enable / resume protection (policyId) or stop protection retaining data (protectionState
    ProtectionStopped). 202 + operation headers; the SDK's poller then GETs the item."""
    vault = _vault(sb, p)
    if p["fabricName"].lower() != "azure":
        raise _bms_not_found(f"Fabric '{p['fabricName']}' was not found in the vault.")
    props = (req.json() or {}).get("properties") or {}
    item = sb.backup.find_item(vault, p["containerName"], p["protectedItemName"])
    if item is None:
        item = _new_item(sb, vault, p, props)
    state = str(props.get("protectionState") or "")
    if state.lower() == "protectionstopped":
        item.protection_state, item.policy = "ProtectionStopped", None
        job = physics.record_job(sb, item, "DisableBackup")
    else:
        policy_id = str(props.get("policyId") or "")
        if not policy_id:
            raise bad_request("The policyId is required to protect an item.", "BMSUserErrorInvalidInput")
        item.policy = sb.backup.get_policy(vault, policy_id.rstrip("/").rsplit("/", 1)[-1])
        never = _utc(item.last_backup_time).year <= 2001
        item.protection_state = "IRPending" if never else "Protected"
        job = physics.record_job(sb, item, "ConfigureBackup")
    op = sb.operations.begin(0, None, kind="item", vault=vault.id.lower(), item=item.id.lower(), job_id=job.job_id)
    headers = _item_lro_headers(req, item, op)
    headers["Retry-After"] = sb.retry_after_header(60)
    return empty_response(202, headers)


def _new_item(sb: Sandbox, vault: Vault, p: dict[str, str], props: dict[str, Any]) -> ProtectedItem:
    source = str(props.get("sourceResourceId") or "")
    vm = sb.compute.vm_by_id(source) if source else None
    if vm is None:
        raise bad_request(f"The source resource '{source}' is not a virtual machine that can be protected.",
                          "BMSUserErrorInvalidSourceResourceId")
    if container_name(vm.resource_group, vm.name).lower() != p["containerName"].lower():
        raise bad_request("The container name does not match the source virtual machine.",
                          "BMSUserErrorInvalidInput")
    item = ProtectedItem(vault, vm.id, vm.name, vm.resource_group, None, protection_state="IRPending",
                         last_backup_status="", data_id=sb.rng.getrandbits(48))
    return sb.backup.add_item(item)


def _trigger(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    item = _item(sb, p)
    props = (req.json() or {}).get("properties") or {}
    kind = props.get("objectType", "IaasVMBackupRequest")
    if str(kind).lower() != "iaasvmbackuprequest":
        raise bad_request(f"The backup request type '{kind}' is not valid for an Azure VM.",
                          "BMSUserErrorInvalidInput")
    expiry = None
    if props.get("recoveryPointExpiryTimeInUTC"):
        try:
            expiry = parse_time(str(props["recoveryPointExpiryTimeInUTC"]))
        except ValueError:
            raise bad_request("recoveryPointExpiryTimeInUTC is not a valid time.", "BMSUserErrorInvalidInput") from None
    _, op = physics.trigger_backup(sb, item, expiry)
    headers = _item_lro_headers(req, item, op)
    headers["Retry-After"] = sb.retry_after_header(60)
    return empty_response(202, headers)


def _item_op_status(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    item = _item(sb, p)
    op = _operation(sb, p["operationId"], item.vault, item=item.id)
    return _json(200, _op_status_body(op))


def _item_op_result(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    item = _item(sb, p)
    op = _operation(sb, p["operationId"], item.vault, item=item.id)
    if not op.done:
        headers = _item_lro_headers(req, item, op)
        headers["Retry-After"] = sb.retry_after_header(60)
        return empty_response(202, headers)
    if op.data.get("kind") == "item":  # a protected-item PUT answers with the item
        return _json(200, item_to_arm(sb, item))
    return empty_response(204)


def _vault_op_status(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, _op_status_body(_operation(sb, p["operationId"], _vault(sb, p))))


# ---- backup status -----------------------------------------------------------------------------------
def _norm_region(region: str) -> str:
    return region.replace(" ", "").lower()


def _backup_status(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    body = req.json() or {}
    resource_id = str(body.get("resourceId") or "")
    if not resource_id:
        raise bad_request("The resourceId is required.", "BMSUserErrorInvalidInput")
    if str(body.get("resourceType") or "VM").lower() != "vm":
        raise bad_request(f"The resource type '{body.get('resourceType')}' is not supported.",
                          "BMSUserErrorInvalidInput")
    region = _norm_region(p["azureRegion"])
    # Vaults protect VMs of their own region; the regional service knows only those [K].
    items = [i for i in sb.backup.items_for_vm(resource_id)
             if i.vault.subscription_id.lower() == p["subscriptionId"].lower()
             and _norm_region(i.vault.location) == region]
    if not items:
        return _json(200, {"protectionStatus": "NotProtected", "errorCode": "Success", "errorMessage": ""})
    item = sorted(items, key=lambda i: i.id.lower())[0]
    rg, vm = item.vm_resource_group, item.vm_name
    vault_id = item.vault.id.replace("/vaults/", "/Vaults/")
    return _json(200, {
        "containerName": f"iaasvmcontainer;iaasvmcontainerv2;{rg};{vm}",
        "errorCode": "Success",
        "errorMessage": "",
        "fabricName": "Azure",
        "policyName": item.policy.name if item.policy else "",
        "protectedItemName": f"vm;iaasvmcontainerv2;{rg};{vm}",
        "protectionStatus": "Protected",
        "vaultId": vault_id,
    })


# ---- jobs --------------------------------------------------------------------------------------------
_JOB_FILTERS = ("status", "operation", "backupmanagementtype", "starttime", "endtime", "entityfriendlyname",
                "jobid")


def _filter_jobs(sb: Sandbox, jobs: list[BackupJob], text: str | None) -> list[BackupJob]:
    wanted = parse_odata_filter(text, _JOB_FILTERS)
    now = sb.clock.now()
    try:
        lo = parse_time(wanted["starttime"]) if wanted.get("starttime") else None
        hi = parse_time(wanted["endtime"]) if wanted.get("endtime") else None
    except ValueError:
        raise bad_request("startTime/endTime must be in the form 'yyyy-MM-dd hh:mm:ss AM' (UTC).",
                          "BMSUserErrorInvalidFilter") from None
    if lo is None and hi is None:
        lo, hi = now - DEFAULT_JOB_WINDOW, now
    lo = lo or (hi - DEFAULT_JOB_WINDOW if hi else now - DEFAULT_JOB_WINDOW)
    hi = hi or now
    if lo > hi:
        raise bad_request("The startTime of the filter must not be later than its endTime.",
                          "BMSUserErrorInvalidFilter")
    out = []
    for job in jobs:
        start = _utc(job.start) if job.start else now
        if not lo <= start <= hi:
            continue
        if wanted.get("status") and job.status.lower() != wanted["status"].lower():
            continue
        if wanted.get("operation") and job.operation.lower() != wanted["operation"].lower():
            continue
        if wanted.get("backupmanagementtype") and wanted["backupmanagementtype"].lower() != "azureiaasvm":
            continue
        if wanted.get("entityfriendlyname") and job.entity_friendly_name.lower() != wanted["entityfriendlyname"].lower():
            continue
        if wanted.get("jobid") and job.job_id.lower() != wanted["jobid"].lower():
            continue
        out.append(job)
    return out


def _list_jobs(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    jobs = sb.backup.jobs_of(_vault(sb, p))
    name = parse_odata_filter(req.query.get("$filter"), _JOB_FILTERS).get("entityfriendlyname")
    if name:  # one VM's jobs out of a fleet vault's thousands: narrow first (same result, cheaper)
        jobs = [j for j in jobs if j.entity_friendly_name.lower() == name.lower()]
    jobs = _filter_jobs(sb, jobs, req.query.get("$filter"))
    items = [job_to_arm(sb, j, extended=False) for j in jobs]
    return _json(200, page(req, items, sb.config.job_page_size))


def _get_job(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, job_to_arm(sb, sb.backup.get_job(_vault(sb, p), p["jobName"]), extended=True))


def _job_lro_headers(req: SandboxRequest, job: BackupJob, op: Operation) -> dict[str, str]:
    base = f"{req.base_url}{job.id}"
    return {
        "Location": f"{base}/operationResults/{op.id}?api-version={_api(req)}",
        "Azure-AsyncOperation": f"{base}/operationsStatus/{op.id}?api-version={_CANCEL_STATUS_API_VERSION}",
    }


def _cancel_job(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    job = sb.backup.get_job(_vault(sb, p), p["jobName"])
    op = physics.cancel_job(sb, job)
    headers = _job_lro_headers(req, job, op)
    headers["Retry-After"] = sb.retry_after_header(60)
    return empty_response(202, headers)


def _job_op_result(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vault = _vault(sb, p)
    job = sb.backup.get_job(vault, p["jobName"])
    op = _operation(sb, p["operationId"], vault, job_id=job.job_id)
    if not op.done:
        return empty_response(202, {"Location": _job_lro_headers(req, job, op)["Location"],
                                    "Retry-After": sb.retry_after_header(60)})
    return empty_response(204)


def _job_op_status(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vault = _vault(sb, p)
    job = sb.backup.get_job(vault, p["jobName"])
    return _json(200, _op_status_body(_operation(sb, p["operationId"], vault, job_id=job.job_id)))


# ---- registration ------------------------------------------------------------------------------------
def register(router: Router) -> None:
    add = router.add
    add("GET", "/subscriptions/{subscriptionId}" + _RS + "/vaults", _list_vaults,
        operation="Vaults_ListBySubscriptionId", action=_ACT + "/read")
    add("GET", "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}" + _RS + "/vaults",
        _list_vaults, operation="Vaults_ListByResourceGroup", action=_ACT + "/read")
    add("GET", _V, _get_vault, operation="Vaults_Get", action=_ACT + "/read")
    add("GET", _V + "/backupPolicies", _list_policies, operation="BackupPolicies_List",
        action=_ACT + "/backupPolicies/read")
    add("GET", _V + "/backupPolicies/{policyName}", _get_policy, operation="ProtectionPolicies_Get",
        action=_ACT + "/backupPolicies/read")
    add("GET", _V + "/backupProtectedItems", _list_items, operation="BackupProtectedItems_List",
        action=_ACT + "/backupProtectedItems/read")
    add("GET", _ITEM, _get_item, operation="ProtectedItems_Get", action=_ITEM_ACT + "/read")
    add("PUT", _ITEM, _put_item, operation="ProtectedItems_CreateOrUpdate", action=_ITEM_ACT + "/write",
        lock_check="write")
    add("POST", _ITEM + "/backup", _trigger, operation="Backups_Trigger", action=_ITEM_ACT + "/backup/action",
        lock_check="write")
    add("GET", _ITEM + "/operationsStatus/{operationId}", _item_op_status,
        operation="ProtectedItemOperationStatuses_Get", action=_ITEM_ACT + "/operationsStatus/read")
    add("GET", _ITEM + "/operationResults/{operationId}", _item_op_result,
        operation="ProtectedItemOperationResults_Get", action=_ITEM_ACT + "/operationResults/read")
    add("GET", _V + "/backupOperations/{operationId}", _vault_op_status,
        operation="BackupOperationStatuses_Get", action=_ACT + "/backupOperations/read")
    add("GET", _V + "/backupJobs", _list_jobs, operation="BackupJobs_List", action=_ACT + "/backupJobs/read")
    add("GET", _V + "/backupJobs/{jobName}", _get_job, operation="JobDetails_Get",
        action=_ACT + "/backupJobs/read")
    add("POST", _V + "/backupJobs/{jobName}/cancel", _cancel_job, operation="JobCancellations_Trigger",
        action=_ACT + "/backupJobs/cancel/action", lock_check="write")
    add("GET", _V + "/backupJobs/{jobName}/operationResults/{operationId}", _job_op_result,
        operation="JobOperationResults_Get", action=_ACT + "/backupJobs/operationResults/read")
    # No SDK method polls it, but the real cancel answer points Azure-AsyncOperation here.
    add("GET", _V + "/backupJobs/{jobName}/operationsStatus/{operationId}", _job_op_status,
        operation="JobOperationStatuses_Get", action=_ACT + "/backupJobs/operationsStatus/read")
    add("POST", "/subscriptions/{subscriptionId}" + _RS + "/locations/{azureRegion}/backupStatus",
        _backup_status, operation="BackupStatus_Get", action="Microsoft.RecoveryServices/locations/backupStatus/action")
