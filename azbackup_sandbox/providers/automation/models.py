"""Automation accounts, runbooks, webhooks and jobs: state and rules (the wire is in routes.py).

A job of a published Python runbook runs for real, in :mod:`.worker`: the runbook's published content
is the script, the job's parameters its arguments, with IDENTITY_ENDPOINT/IDENTITY_HEADER of the
sandbox's managed identity, as an Automation cloud worker runs it. Jobs need the HTTPS server (a
process cannot reach the in-process transport); without it a job fails at once, saying so.

Job states as Automation reports them: New -> Activating -> Running -> Completed | Failed | Stopped
(Stopping while a stop is under way). Fair share: a job on Azure's workers (no ``runOn``) that runs longer
than ``automation_fair_share_seconds`` virtual seconds (3 hours, as Azure) is evicted and Stopped; the
control route ``/_sandbox/automation/fair-share`` evicts the next jobs after a given number of output lines.
Limits: ``automation_max_concurrent_jobs`` active jobs per account and ``automation_submissions_per_window``
job submissions per ``automation_submission_window_seconds``.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...core.timefmt import arm_time
from . import errors

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox
    from .worker import JobProcess

__all__ = ["Account", "AutomationBackend", "EVICTED", "Job", "Runbook", "StreamRecord", "Webhook"]

PROVIDER = "Microsoft.Automation/automationAccounts"
ACTIVE = ("New", "Activating", "Running", "Stopping")
FINAL = ("Completed", "Failed", "Stopped")
# What Automation records on a job that fair share unloaded and that cannot resume (no checkpoints).
EVICTED = "The job was evicted and subsequently reached a Stopped state. The job cannot continue running."


def _key(*parts: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in parts)


@dataclass
class Account:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    sku: str = "Basic"
    tags: dict[str, str] = field(default_factory=dict)
    created: datetime | None = None

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/{PROVIDER}/{self.name}"

    def to_arm(self) -> dict[str, Any]:
        when = arm_time(self.created) if self.created else None
        return {"id": self.id, "name": self.name, "type": PROVIDER, "location": self.location, "tags": self.tags,
                "identity": {"type": "SystemAssigned"},
                "properties": {"sku": {"name": self.sku}, "state": "Ok", "creationTime": when,
                               "lastModifiedTime": when, "publicNetworkAccess": True}}


@dataclass
class Runbook:
    account: Account
    name: str
    runbook_type: str
    location: str
    description: str | None = None
    draft: str | None = None
    published: str | None = None
    modified: datetime | None = None

    @property
    def id(self) -> str:
        return f"{self.account.id}/runbooks/{self.name}"

    @property
    def state(self) -> str:
        if self.published is None:
            return "New"
        return "Edit" if self.draft is not None and self.draft != self.published else "Published"

    def to_arm(self) -> dict[str, Any]:
        when = arm_time(self.modified) if self.modified else None
        return {"id": self.id, "name": self.name, "type": f"{PROVIDER}/runbooks", "location": self.location,
                "properties": {"runbookType": self.runbook_type, "state": self.state, "description": self.description,
                               "logVerbose": False, "logProgress": False, "creationTime": when,
                               "lastModifiedTime": when}}


@dataclass
class Webhook:
    account: Account
    name: str
    runbook: str
    token: str
    uri: str
    parameters: dict[str, str]
    run_on: str | None
    enabled: bool
    expiry: datetime
    created: datetime
    last_invoked: datetime | None = None

    @property
    def id(self) -> str:
        return f"{self.account.id}/webhooks/{self.name}"

    def to_arm(self) -> dict[str, Any]:
        # The URI is shown only in the answer that created the webhook, as Azure does.
        return {"id": self.id, "name": self.name, "type": f"{PROVIDER}/webhooks",
                "properties": {"isEnabled": self.enabled, "uri": None, "expiryTime": arm_time(self.expiry),
                               "lastInvokedTime": arm_time(self.last_invoked) if self.last_invoked else None,
                               "runbook": {"name": self.runbook}, "parameters": self.parameters or None,
                               "runOn": self.run_on, "creationTime": arm_time(self.created),
                               "lastModifiedTime": arm_time(self.created)}}


@dataclass
class StreamRecord:
    stream_id: str
    time: datetime
    stream_type: str  # Output | Error | Warning | Verbose
    text: str

    def to_arm(self, job_id: str, *, full: bool) -> dict[str, Any]:
        properties: dict[str, Any] = {"jobStreamId": self.stream_id, "time": arm_time(self.time),
                                      "streamType": self.stream_type, "summary": self.text[:200]}
        if full:
            properties["streamText"] = self.text
            properties["value"] = {}
        return {"id": f"{job_id}/streams/{self.stream_id}", "properties": properties}


@dataclass
class Job:
    account: Account
    name: str
    runbook: str
    parameters: dict[str, str]
    run_on: str | None
    created: datetime
    started_by: str = "azbackup-sandbox"
    status: str = "New"
    status_details: str = "None"
    started: datetime | None = None
    ended: datetime | None = None
    modified: datetime | None = None
    exception: str | None = None
    streams: list[StreamRecord] = field(default_factory=list)
    evict_after_lines: int | None = None
    stop_requested: bool = False
    process: JobProcess | None = None

    @property
    def id(self) -> str:
        return f"{self.account.id}/jobs/{self.name}"

    def output_lines(self) -> int:
        return sum(1 for s in self.streams if s.stream_type == "Output")

    def to_arm(self, *, item: bool = False) -> dict[str, Any]:
        def t(moment: datetime | None) -> str | None:
            return arm_time(moment) if moment else None

        properties: dict[str, Any] = {
            "jobId": self.name, "runbook": {"name": self.runbook}, "provisioningState": _provisioning(self.status),
            "status": self.status, "creationTime": t(self.created), "startTime": t(self.started),
            "endTime": t(self.ended), "lastModifiedTime": t(self.modified or self.created), "runOn": self.run_on}
        if not item:
            properties.update(startedBy=self.started_by, statusDetails=self.status_details,
                              exception=self.exception, parameters=self.parameters,
                              lastStatusModifiedTime=t(self.modified or self.created))
        return {"id": self.id, "name": self.name, "type": f"{PROVIDER}/jobs", "properties": properties}


def _provisioning(status: str) -> str:
    return {"Completed": "Succeeded", "Failed": "Failed", "Stopped": "Succeeded"}.get(status, "Processing")


class AutomationBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.accounts: dict[tuple[str, ...], Account] = {}
        self.runbooks: dict[tuple[str, ...], Runbook] = {}
        self.webhooks: dict[tuple[str, ...], Webhook] = {}
        self.jobs: dict[tuple[str, ...], Job] = {}
        self._submissions: dict[tuple[str, ...], deque[float]] = {}
        self.evictions: list[int] = []  # output-line thresholds for the next jobs to start (fair-share lever)
        self._closed = threading.Event()
        self._changed = threading.Condition()  # notified on every status change, for blocking waits

    # ---- accounts, runbooks, webhooks -----------------------------------------------------------
    def put_account(self, sub: str, group: str, name: str, body: dict[str, Any]) -> tuple[Account, bool]:
        key = _key(sub, group, name)
        existing = self.accounts.get(key)
        props = body.get("properties") or {}
        sku = ((props.get("sku") or {}).get("name")) or (existing.sku if existing else "Basic")
        location = body.get("location") or (existing.location if existing else None)
        if not location:
            raise errors.bad_job("The 'location' property is required.")
        account = Account(sub, existing.resource_group if existing else group, existing.name if existing else name,
                          location, sku, dict(body.get("tags") or {}), existing.created if existing else self._now())
        self.accounts[key] = account
        return account, existing is None

    def account(self, sub: str, group: str, name: str) -> Account:
        found = self.accounts.get(_key(sub, group, name))
        if found is None:
            raise errors.account_not_found(name, group)
        return found

    def delete_account(self, sub: str, group: str, name: str) -> bool:
        account = self.accounts.pop(_key(sub, group, name), None)
        if account is None:
            return False
        for store in (self.runbooks, self.webhooks, self.jobs):
            for key in [k for k, v in store.items() if v.account is account]:
                job = store.pop(key)
                if isinstance(job, Job) and job.process is not None:
                    job.process.kill()
        return True

    def accounts_in(self, sub: str, group: str | None = None) -> list[Account]:
        return sorted((a for a in self.accounts.values() if a.subscription_id.lower() == sub.lower()
                       and (group is None or a.resource_group.lower() == group.lower())), key=lambda a: a.id.lower())

    def put_runbook(self, account: Account, name: str, body: dict[str, Any]) -> tuple[Runbook, bool]:
        key = _key(*self._akey(account), name)
        existing = self.runbooks.get(key)
        props = body.get("properties") or {}
        kind = props.get("runbookType") or (existing.runbook_type if existing else None)
        if not kind:
            raise errors.bad_job("The 'runbookType' property is required.")
        runbook = existing or Runbook(account, name, kind, body.get("location") or account.location)
        runbook.runbook_type = kind
        runbook.description = props.get("description", runbook.description)
        runbook.modified = self._now()
        self.runbooks[key] = runbook
        return runbook, existing is None

    def runbook(self, account: Account, name: str) -> Runbook:
        return self._child(self.runbooks, account, name, errors.runbook_not_found)

    def delete_runbook(self, account: Account, name: str) -> bool:
        return self.runbooks.pop(_key(*self._akey(account), name), None) is not None

    def runbooks_of(self, account: Account) -> list[Runbook]:
        return self._children(self.runbooks, account)

    def new_webhook_uri(self, base_url: str) -> str:
        return f"{base_url}/webhooks?token={secrets.token_urlsafe(32)}"

    def put_webhook(self, account: Account, name: str, body: dict[str, Any]) -> tuple[Webhook, bool]:
        key = _key(*self._akey(account), name)
        existing = self.webhooks.get(key)
        props = body.get("properties") or {}
        runbook = (props.get("runbook") or {}).get("name") or (existing.runbook if existing else None)
        if not runbook:
            raise errors.bad_job("The webhook's 'runbook' is required.")
        self.runbook(account, runbook)
        uri = props.get("uri") or (existing.uri if existing else None)
        if not uri or "token=" not in uri:
            raise errors.bad_job("The webhook's 'uri' is required: generate it with webhooks/generateUri.")
        expiry = _parse_time(props.get("expiryTime")) or (existing.expiry if existing else
                                                           self._now() + timedelta(days=365))
        hook = Webhook(account, name, runbook, uri.split("token=", 1)[1].split("&")[0], uri,
                       {str(k): str(v) for k, v in (props.get("parameters") or {}).items()}, props.get("runOn"),
                       bool(props.get("isEnabled", True)), expiry, existing.created if existing else self._now())
        self.webhooks[key] = hook
        return hook, existing is None

    def webhook(self, account: Account, name: str) -> Webhook:
        return self._child(self.webhooks, account, name, errors.webhook_not_found)

    def delete_webhook(self, account: Account, name: str) -> bool:
        return self.webhooks.pop(_key(*self._akey(account), name), None) is not None

    def webhooks_of(self, account: Account) -> list[Webhook]:
        return self._children(self.webhooks, account)

    def call_webhook(self, token: str, body: bytes, headers: dict[str, str]) -> Job:
        """A POST to a webhook's URI: a job of its runbook with its parameters and WEBHOOKDATA."""
        hook = next((w for w in self.webhooks.values() if secrets.compare_digest(w.token, token)), None)
        if hook is None or not hook.enabled or hook.expiry <= self._now():
            raise errors.webhook_token_invalid()
        hook.last_invoked = self._now()
        text = body.decode("utf-8", errors="replace")
        shown = ",".join(f"{k}:{v}" for k, v in headers.items())
        # As Automation hands it to a runbook: the object's properties rendered as text.
        data = f"{{WebhookName:{hook.name},RequestBody:{text},RequestHeader:{{{shown}}}}}"
        params = {**hook.parameters, "WEBHOOKDATA": data}
        return self.create_job(hook.account, self._sb.new_guid(), {"properties": {
            "runbook": {"name": hook.runbook}, "parameters": params, "runOn": hook.run_on}}, started_by="Webhook")

    # ---- jobs --------------------------------------------------------------------------------
    def create_job(self, account: Account, name: str, body: dict[str, Any], *, started_by: str = "azbackup-sandbox") -> Job:
        props = body.get("properties") or {}
        runbook_name = (props.get("runbook") or {}).get("name")
        if not runbook_name:
            raise errors.bad_job("The job's 'runbook' is required.")
        runbook = self.runbook(account, runbook_name)
        if runbook.published is None:
            raise errors.not_published(runbook.name)
        params = props.get("parameters") or {}
        if not isinstance(params, dict):
            raise errors.bad_job("The job's 'parameters' must be an object of strings.")
        key = _key(*self._akey(account), name)
        if key in self.jobs:
            raise errors.bad_job(f"A job named '{name}' already exists.")
        self._check_limits(account)
        job = Job(account, name, runbook.name, {str(k): str(v) for k, v in params.items()},
                  props.get("runOn") or None, self._now(), started_by=started_by)
        if self.evictions:
            job.evict_after_lines = self.evictions.pop(0)
        self.jobs[key] = job
        from .worker import JobProcess

        job.process = JobProcess(self._sb, job, runbook.published, runbook.runbook_type)
        job.process.start()
        return job

    def _check_limits(self, account: Account) -> None:
        config = self._sb.config
        active = sum(1 for j in self.jobs.values() if j.account is account and j.status in ACTIVE)
        if active >= config.automation_max_concurrent_jobs:
            raise errors.concurrent_jobs_reached(config.automation_max_concurrent_jobs)
        window = config.automation_submission_window_seconds
        now = self._now().timestamp()
        recent = self._submissions.setdefault(self._akey(account), deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= config.automation_submissions_per_window:
            wait = recent[0] + window - now
            raise errors.submissions_throttled(config.automation_submissions_per_window, window,
                                               self._sb.retry_after_header(wait))
        recent.append(now)

    def job(self, account: Account, name: str) -> Job:
        return self._child(self.jobs, account, name, errors.job_not_found)

    def jobs_of(self, account: Account, status: str | None = None, runbook: str | None = None) -> list[Job]:
        return sorted((j for j in self.jobs.values() if j.account is account
                       and (status is None or j.status.lower() == status.lower())
                       and (runbook is None or j.runbook.lower() == runbook.lower())),
                      key=lambda j: (j.created, j.name))

    def stop_job(self, job: Job) -> None:
        if job.status in FINAL:
            return
        job.stop_requested = True
        self.set_status(job, "Stopping")
        if job.process is not None:
            job.process.kill()

    # ---- what the worker reports --------------------------------------------------------------
    def set_status(self, job: Job, status: str, *, exception: str | None = None) -> None:
        now = self._now()
        job.status, job.modified = status, now
        if status == "Running" and job.started is None:
            job.started = now
        if status in FINAL:
            job.ended = now
            job.exception = exception if exception is not None else job.exception
            job.status_details = "None" if status == "Completed" else status
        with self._changed:
            self._changed.notify_all()

    def wait_final(self, job: Job, timeout: float) -> bool:
        """Block until ``job`` reaches a final state (True) or ``timeout`` real seconds pass (False). A job is a
        real process, so this waits in real time; the caller must not hold the sandbox's lock."""
        with self._changed:
            return self._changed.wait_for(lambda: job.status in FINAL, timeout)

    def add_line(self, job: Job, stream_type: str, text: str) -> bool:
        """Record one line of a job's stream; True when fair share must evict the job now."""
        now = self._now()
        job.streams.append(StreamRecord(f"{job.name}:{len(job.streams) + 1:020d}", now, stream_type, text))
        return (job.evict_after_lines is not None and stream_type == "Output"
                and job.output_lines() >= job.evict_after_lines)

    def close(self) -> None:
        """Kill every job's process (reset, server stop): nothing outlives the sandbox."""
        self._closed.set()
        for job in list(self.jobs.values()):
            if job.process is not None:
                job.process.kill()

    def to_dict(self) -> dict[str, Any]:
        return {
            "accounts": [a.id for a in sorted(self.accounts.values(), key=lambda a: a.id.lower())],
            "runbooks": [{"id": r.id, "type": r.runbook_type, "state": r.state}
                         for r in sorted(self.runbooks.values(), key=lambda r: r.id.lower())],
            "webhooks": [w.id for w in sorted(self.webhooks.values(), key=lambda w: w.id.lower())],
            "jobs": [{"id": j.id, "runbook": j.runbook, "status": j.status, "parameters": j.parameters}
                     for j in sorted(self.jobs.values(), key=lambda j: (j.created, j.name))],
        }

    def _child(self, store: dict[tuple[str, ...], Any], account: Account, name: str,
               missing: Callable[[str], Exception]) -> Any:
        found = store.get(_key(*self._akey(account), name))
        if found is None:
            raise missing(name)
        return found

    @staticmethod
    def _children(store: dict[tuple[str, ...], Any], account: Account) -> list[Any]:
        return sorted((c for c in store.values() if c.account is account), key=lambda c: c.name.lower())

    def _akey(self, account: Account) -> tuple[str, ...]:
        return _key(account.subscription_id, account.resource_group, account.name)

    def _now(self) -> datetime:
        return self._sb.clock.now()


def _parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    from ...core.timefmt import parse_time

    return parse_time(str(text))
