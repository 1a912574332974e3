"""Wire format of Microsoft.Automation: accounts, runbooks (draft content, publish), jobs (create, get, list,
output, streams, stop), webhooks (generateUri, create, and the anonymous POST to a webhook's URI)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from ...core.errors import bad_request
from ...core.http import SandboxRequest, SandboxResponse, empty_response, json_response
from ...core.paging import page
from . import errors

if TYPE_CHECKING:
    from ...core.router import Handler, Router
    from ...core.sandbox import Sandbox
    from .models import Account

__all__ = ["register"]

_ACCOUNTS = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Automation/automationAccounts"
_ACCOUNT = _ACCOUNTS + "/{automationAccountName}"
_NS = "Microsoft.Automation/automationAccounts"
_FILTER_TERM = re.compile(r"^\s*properties/(status|runbook/name|streamType)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def _account(sb: Sandbox, p: dict[str, str]) -> Account:
    return sb.automation.account(p["subscriptionId"], p["resourceGroupName"], p["automationAccountName"])


def _body(req: SandboxRequest) -> dict:
    try:
        body = req.json() or {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request content was invalid and could not be deserialized: {exc}.") from exc
    if not isinstance(body, dict):
        raise bad_request("The request content must be a JSON object.")
    return body


def _filters(req: SandboxRequest) -> dict[str, str]:
    text = (req.query.get("$filter") or "").strip()
    out: dict[str, str] = {}
    for term in re.split(r"\s+and\s+", text, flags=re.IGNORECASE) if text else []:
        found = _FILTER_TERM.match(term)
        if found is None:
            raise bad_request(f"The $filter '{text}' is not supported.", "InvalidFilter")
        out[found.group(1).lower()] = found.group(2)
    return out


# ---- accounts -----------------------------------------------------------------------------------

def _account_put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    account, created = sb.automation.put_account(p["subscriptionId"], p["resourceGroupName"],
                                                 p["automationAccountName"], _body(req))
    return json_response(201 if created else 200, account.to_arm())


def _account_get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, _account(sb, p).to_arm())


def _account_delete(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    gone = sb.automation.delete_account(p["subscriptionId"], p["resourceGroupName"], p["automationAccountName"])
    return empty_response(200 if gone else 204)


def _accounts_list(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    items = [a.to_arm() for a in sb.automation.accounts_in(p["subscriptionId"], p.get("resourceGroupName"))]
    return json_response(200, page(req, items, sb.config.page_size))


# ---- runbooks -----------------------------------------------------------------------------------

def _runbook_put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    runbook, created = sb.automation.put_runbook(_account(sb, p), p["runbookName"], _body(req))
    return json_response(201 if created else 200, runbook.to_arm())


def _location(req: SandboxRequest, path: str) -> dict[str, str]:
    return {"Location": f"{req.base_url}{path}?api-version={req.query.get('api-version')}"}


def _draft_put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    runbook = sb.automation.runbook(_account(sb, p), p["runbookName"])
    runbook.draft = req.body.decode("utf-8", errors="replace")
    runbook.modified = sb.clock.now()
    return empty_response(202, _location(req, req.decoded_path))


def _draft_get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    runbook = sb.automation.runbook(_account(sb, p), p["runbookName"])
    if runbook.draft is None:
        raise errors.runbook_not_found(f"{runbook.name} (draft content)")
    return SandboxResponse(200, {"Content-Type": "text/powershell"}, runbook.draft.encode("utf-8"))


def _content_get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    runbook = sb.automation.runbook(_account(sb, p), p["runbookName"])
    if runbook.published is None:
        raise errors.not_published(runbook.name)
    return SandboxResponse(200, {"Content-Type": "text/powershell"}, runbook.published.encode("utf-8"))


def _publish(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    runbook = sb.automation.runbook(_account(sb, p), p["runbookName"])
    if runbook.draft is None:
        raise errors.bad_job(f"Runbook '{runbook.name}' has no draft content to publish.")
    runbook.published = runbook.draft
    runbook.modified = sb.clock.now()
    return empty_response(202, _location(req, runbook.id))


# ---- jobs ---------------------------------------------------------------------------------------

def _job_put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    job = sb.automation.create_job(_account(sb, p), p["jobName"], _body(req))
    return json_response(201, job.to_arm())


def _job_get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, sb.automation.job(_account(sb, p), p["jobName"]).to_arm())


def _jobs_list(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    f = _filters(req)
    jobs = sb.automation.jobs_of(_account(sb, p), f.get("status"), f.get("runbook/name"))
    return json_response(200, page(req, [j.to_arm(item=True) for j in jobs], sb.config.page_size))


def _job_output(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    job = sb.automation.job(_account(sb, p), p["jobName"])
    text = "".join(f"{s.text}\n" for s in job.streams if s.stream_type == "Output")
    return SandboxResponse(200, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8"))


def _job_stop(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    sb.automation.stop_job(sb.automation.job(_account(sb, p), p["jobName"]))
    return empty_response(200)


def _streams_list(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    job = sb.automation.job(_account(sb, p), p["jobName"])
    kind = _filters(req).get("streamtype")
    chosen = [s for s in job.streams if kind is None or kind.lower() in ("any", s.stream_type.lower())]
    return json_response(200, page(req, [s.to_arm(job.id, full=False) for s in chosen], sb.config.page_size))


def _stream_get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    job = sb.automation.job(_account(sb, p), p["jobName"])
    found = next((s for s in job.streams if s.stream_id == p["jobStreamId"]), None)
    if found is None:
        raise errors.stream_not_found(p["jobStreamId"])
    return json_response(200, found.to_arm(job.id, full=True))


# ---- webhooks -----------------------------------------------------------------------------------

def _generate_uri(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _account(sb, p)
    uri = sb.automation.new_webhook_uri(req.base_url)
    if "text/plain" in (req.headers.get("accept") or ""):  # api-version 2024-10-23 answers text; older ones JSON
        return SandboxResponse(200, {"Content-Type": "text/plain; charset=utf-8"}, uri.encode("utf-8"))
    return json_response(200, uri)


def _webhook_put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    hook, created = sb.automation.put_webhook(_account(sb, p), p["webhookName"], _body(req))
    arm = hook.to_arm()
    arm["properties"]["uri"] = hook.uri  # shown once, in the answer that created it
    return json_response(201 if created else 200, arm)


def _child_handlers(param: str, kind: str) -> tuple[Handler, Handler, Handler]:
    """GET, DELETE and list of an account's runbooks or webhooks: the same three answers for both."""

    def get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
        return json_response(200, getattr(sb.automation, kind)(_account(sb, p), p[param]).to_arm())

    def delete(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
        gone = getattr(sb.automation, f"delete_{kind}")(_account(sb, p), p[param])
        return empty_response(200 if gone else 204)

    def listing(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
        items = [c.to_arm() for c in getattr(sb.automation, f"{kind}s_of")(_account(sb, p))]
        return json_response(200, page(req, items, sb.config.page_size))

    return get, delete, listing


_runbook_get, _runbook_delete, _runbooks_list = _child_handlers("runbookName", "runbook")
_webhook_get, _webhook_delete, _webhooks_list = _child_handlers("webhookName", "webhook")


def _webhook_call(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    """POST to a webhook's URI (no bearer token: the token in the URI is the credential): 202 with the job."""
    token = req.query.get("token") or ""
    if not token:
        raise errors.webhook_token_invalid()
    headers = {k: v for k, v in req.headers.items() if k not in ("authorization",)}
    job = sb.automation.call_webhook(token, req.body, headers)
    return SandboxResponse(202, {"Content-Type": "application/json; charset=utf-8"},
                           json.dumps({"JobIds": [job.name]}).encode("utf-8"))


def register(router: Router) -> None:
    a = f"{_NS}"
    router.add("GET", "/subscriptions/{subscriptionId}/providers/Microsoft.Automation/automationAccounts",
               _accounts_list, operation="AutomationAccount_List", action=f"{a}/read")
    router.add("GET", _ACCOUNTS, _accounts_list, operation="AutomationAccount_ListByResourceGroup",
               action=f"{a}/read")
    router.add("PUT", _ACCOUNT, _account_put, operation="AutomationAccount_CreateOrUpdate", action=f"{a}/write",
               lock_check="write")
    router.add("GET", _ACCOUNT, _account_get, operation="AutomationAccount_Get", action=f"{a}/read")
    router.add("DELETE", _ACCOUNT, _account_delete, operation="AutomationAccount_Delete", action=f"{a}/delete",
               lock_check="delete")
    rb = _ACCOUNT + "/runbooks"
    router.add("GET", rb, _runbooks_list, operation="Runbook_ListByAutomationAccount", action=f"{a}/runbooks/read")
    router.add("PUT", rb + "/{runbookName}/draft/content", _draft_put, operation="RunbookDraft_ReplaceContent",
               action=f"{a}/runbooks/draft/write", lock_check="write")
    router.add("GET", rb + "/{runbookName}/draft/content", _draft_get, operation="RunbookDraft_GetContent",
               action=f"{a}/runbooks/draft/readContent/action")
    router.add("GET", rb + "/{runbookName}/content", _content_get, operation="Runbook_GetContent",
               action=f"{a}/runbooks/readContent/action")
    router.add("POST", rb + "/{runbookName}/publish", _publish, operation="Runbook_Publish",
               action=f"{a}/runbooks/publish/action", lock_check="write")
    router.add("PUT", rb + "/{runbookName}", _runbook_put, operation="Runbook_CreateOrUpdate",
               action=f"{a}/runbooks/write", lock_check="write")
    router.add("GET", rb + "/{runbookName}", _runbook_get, operation="Runbook_Get", action=f"{a}/runbooks/read")
    router.add("DELETE", rb + "/{runbookName}", _runbook_delete, operation="Runbook_Delete",
               action=f"{a}/runbooks/delete", lock_check="delete")
    jobs = _ACCOUNT + "/jobs"
    router.add("GET", jobs, _jobs_list, operation="Job_ListByAutomationAccount", action=f"{a}/jobs/read")
    router.add("GET", jobs + "/{jobName}/output", _job_output, operation="Job_GetOutput",
               action=f"{a}/jobs/output/read")
    router.add("POST", jobs + "/{jobName}/stop", _job_stop, operation="Job_Stop", action=f"{a}/jobs/stop/action")
    router.add("GET", jobs + "/{jobName}/streams", _streams_list, operation="JobStream_ListByJob",
               action=f"{a}/jobs/streams/read")
    router.add("GET", jobs + "/{jobName}/streams/{jobStreamId}", _stream_get, operation="JobStream_Get",
               action=f"{a}/jobs/streams/read")
    router.add("PUT", jobs + "/{jobName}", _job_put, operation="Job_Create", action=f"{a}/jobs/write",
               lock_check="write")
    router.add("GET", jobs + "/{jobName}", _job_get, operation="Job_Get", action=f"{a}/jobs/read")
    hooks = _ACCOUNT + "/webhooks"
    router.add("POST", hooks + "/generateUri", _generate_uri, operation="Webhook_GenerateUri",
               action=f"{a}/webhooks/action")
    router.add("GET", hooks, _webhooks_list, operation="Webhook_ListByAutomationAccount",
               action=f"{a}/webhooks/read")
    router.add("PUT", hooks + "/{webhookName}", _webhook_put, operation="Webhook_CreateOrUpdate",
               action=f"{a}/webhooks/write", lock_check="write")
    router.add("GET", hooks + "/{webhookName}", _webhook_get, operation="Webhook_Get", action=f"{a}/webhooks/read")
    router.add("DELETE", hooks + "/{webhookName}", _webhook_delete, operation="Webhook_Delete",
               action=f"{a}/webhooks/delete", lock_check="delete")
    router.add("POST", "/webhooks", _webhook_call, operation="Webhook_Invoke",
               action="Microsoft.Automation/automationAccounts/webhooks/invoke/action", anonymous=True,
               versionless=True)
