"""Routes of Microsoft.RecoveryServices (IaaS VM backup) as RecoveryServicesBackupClient 11.2 calls them:
each handler parses the request, asks the backend (`models.BackupBackend`, which drives `physics.py`)
and serialises the answer with the models' `to_arm`. No state changes here.

Recovery Services answers with `Content-Type: application/json` (no charset), BMS-style error codes for
child objects (items, jobs, policies, operations) and the gateway's ResourceNotFound for a missing vault.
Names carry `;` (`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>`); the router percent-decodes them and
Location / Azure-AsyncOperation headers print them raw, as the service does.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ...core.http import SandboxRequest, SandboxResponse, empty_response, json_response
from ...core.operations import Operation
from ...core.paging import page
from ...core.timefmt import NULL_BACKUP_TIME, backup_time, parse_time
from . import errors
from .models import BackupJob, ProtectedItem, Vault

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = [
    "register",
    "parse_odata_filter",
    "DEFAULT_JOB_WINDOW",
]

_JSON = {"Content-Type": "application/json"}
_RS = "/providers/Microsoft.RecoveryServices"
_V = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}" + _RS + "/vaults/{vaultName}"
_ITEM = _V + "/backupFabrics/{fabricName}/protectionContainers/{containerName}/protectedItems/{protectedItemName}"
_ACT = "Microsoft.RecoveryServices/Vaults"
_ITEM_ACT = _ACT + "/backupFabrics/protectionContainers/protectedItems"
_CANCEL_STATUS_API_VERSION = "2019-05-13-preview"  # the real quirk on cancel's Azure-AsyncOperation [R]
# Without a time filter the service lists a recent window only; 7 days is our guess [K].
DEFAULT_JOB_WINDOW = timedelta(days=7)
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
    return json_response(status, payload, {**_JSON, **(headers or {})})


def parse_odata_filter(text: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """`a eq 'x' and b eq 'y'` -> {a: x, b: y} (field names lower-cased); anything else is a 400."""
    text = (text or "").strip()
    if not text:
        return {}
    out: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
        found = _CLAUSE.match(clause)
        if not found:
            raise errors.invalid_filter(f"The filter clause '{clause}' is invalid. Only \"<property> eq "
                                        "'<value>'\" clauses joined by 'and' are supported.")
        name = found.group(1).lower()
        if name not in allowed:
            raise errors.invalid_filter(f"The filter property '{found.group(1)}' is not supported. Supported: "
                                        f"{', '.join(allowed)}.")
        out[name] = found.group(2)
    return out


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


def _fabric(p: dict[str, str]) -> None:
    if p["fabricName"].lower() != "azure":
        raise errors.fabric_not_found(p["fabricName"])


def _item(sb: Sandbox, p: dict[str, str]) -> ProtectedItem:
    vault = _vault(sb, p)
    _fabric(p)
    return sb.backup.get_item(vault, p["containerName"], p["protectedItemName"])


def _operation(sb: Sandbox, op_id: str, vault: Vault, **match: str) -> Operation:
    return sb.backup.find_operation(op_id, vault, **match)


def _api(req: SandboxRequest) -> str:
    return req.query.get("api-version") or "2026-10-01"


# ---- vaults ------------------------------------------------------------------------------------------
def _get_vault(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, _vault(sb, p).to_arm())


def _list_vaults(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vaults = sb.backup.list_vaults(p["subscriptionId"], p.get("resourceGroupName"))
    return _json(200, page(req, [v.to_arm() for v in vaults], sb.config.page_size))


# ---- policies ----------------------------------------------------------------------------------------
def _list_policies(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vault = _vault(sb, p)
    wanted = parse_odata_filter(req.query.get("$filter"), ("backupmanagementtype",))
    policies = sb.backup.policies_of(vault)
    if wanted.get("backupmanagementtype", "azureiaasvm").lower() != "azureiaasvm":
        policies = []
    return _json(200, page(req, [x.to_arm(sb) for x in policies], sb.config.page_size))


def _get_policy(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, sb.backup.get_policy(_vault(sb, p), p["policyName"]).to_arm(sb))


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
    return _json(200, page(req, [i.to_arm(sb) for i in items], sb.config.page_size))


def _get_item(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, _item(sb, p).to_arm(sb))


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
    _fabric(p)
    props = (req.json() or {}).get("properties") or {}
    where = (vault, p["containerName"], p["protectedItemName"])
    source = str(props.get("sourceResourceId") or "")
    if str(props.get("protectionState") or "").lower() == "protectionstopped":
        item, job = sb.backup.stop_protection(*where, source_id=source)
    else:
        policy_name = str(props.get("policyId") or "").rstrip("/").rsplit("/", 1)[-1]
        item, job = sb.backup.protect(*where, source_id=source, policy_name=policy_name)
    op = sb.backup.item_operation(item, job)
    headers = _item_lro_headers(req, item, op)
    headers["Retry-After"] = sb.retry_after_header(60)
    return empty_response(202, headers)


def _trigger(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    item = _item(sb, p)
    props = (req.json() or {}).get("properties") or {}
    kind = props.get("objectType", "IaasVMBackupRequest")
    if str(kind).lower() != "iaasvmbackuprequest":
        raise errors.invalid_input(f"The backup request type '{kind}' is not valid for an Azure VM.")
    expiry = None
    if props.get("recoveryPointExpiryTimeInUTC"):
        try:
            expiry = parse_time(str(props["recoveryPointExpiryTimeInUTC"]))
        except ValueError:
            raise errors.invalid_input("recoveryPointExpiryTimeInUTC is not a valid time.") from None
    _, op = sb.backup.trigger_backup(item, expiry)
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
        return _json(200, item.to_arm(sb))
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
        raise errors.invalid_input("The resourceId is required.")
    if str(body.get("resourceType") or "VM").lower() != "vm":
        raise errors.invalid_input(f"The resource type '{body.get('resourceType')}' is not supported.")
    region = _norm_region(p["azureRegion"])
    # Vaults protect VMs of their own region; the regional service knows only those [K].
    items = [i for i in sb.backup.items_for_vm(resource_id)
             if i.vault.subscription_id.lower() == p["subscriptionId"].lower()
             and _norm_region(i.vault.location) == region]
    if not items:
        return _json(200, {"protectionStatus": "NotProtected", "errorCode": "Success", "errorMessage": ""})
    # A VM reconfigured in another vault keeps its stopped item in the old one; the active item answers.
    item = sorted(items, key=lambda i: (i.protection_state in ("ProtectionStopped", "ProtectionPaused"),
                                        i.id.lower()))[0]
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
        raise errors.invalid_filter("startTime/endTime must be in the form 'yyyy-MM-dd hh:mm:ss AM' (UTC).") from None
    if lo is None and hi is None:
        lo, hi = now - DEFAULT_JOB_WINDOW, now
    lo = lo or (hi - DEFAULT_JOB_WINDOW if hi else now - DEFAULT_JOB_WINDOW)
    hi = hi or now
    if lo > hi:
        raise errors.invalid_filter("The startTime of the filter must not be later than its endTime.")
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
    name = parse_odata_filter(req.query.get("$filter"), _JOB_FILTERS).get("entityfriendlyname")
    # One VM's jobs out of a fleet vault's thousands: narrowed first (same result, cheaper).
    jobs = sb.backup.jobs_of(_vault(sb, p), entity=name)
    jobs = _filter_jobs(sb, jobs, req.query.get("$filter"))
    return _json(200, page(req, jobs, sb.config.job_page_size, serialize=lambda j: j.to_arm(sb, extended=False)))


def _get_job(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return _json(200, sb.backup.get_job(_vault(sb, p), p["jobName"]).to_arm(sb, extended=True))


def _job_lro_headers(req: SandboxRequest, job: BackupJob, op: Operation) -> dict[str, str]:
    base = f"{req.base_url}{job.id}"
    return {
        "Location": f"{base}/operationResults/{op.id}?api-version={_api(req)}",
        "Azure-AsyncOperation": f"{base}/operationsStatus/{op.id}?api-version={_CANCEL_STATUS_API_VERSION}",
    }


def _cancel_job(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    job = sb.backup.get_job(_vault(sb, p), p["jobName"])
    op = sb.backup.cancel_job(job)
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
