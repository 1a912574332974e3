"""Azure Automation through azure-mgmt-automation (extra ``automation``): start a runbook's job, read its
state, output and error stream, stop it. Used by the fan-out parent (:mod:`azbackup_fix.fanout`).

The extra is optional: without it :class:`AutomationGateway` raises :class:`AutomationUnavailableError`
(one line saying which extra to install) before any request is sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import RequestsTransport

from ..errors import InvalidInputError
from ..sdk_imports import SDK_IMPORT_LOCK
from .arm_errors import arm_call
from .clouds import get_cloud
from .policies import CappedRetryPolicy, RequestCounter

__all__ = ["AUTOMATION_INSTALL_HINT", "AutomationAccountRef", "AutomationGateway", "AutomationUnavailableError",
           "ChildJobState", "python_parameters"]

AUTOMATION_INSTALL_HINT = "fan-out needs azure-mgmt-automation: pip install 'azbackup-fix[automation]'"
_ACCOUNT = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Automation/"
                      r"automationAccounts/([^/]+)/?$", re.IGNORECASE)


class AutomationUnavailableError(InvalidInputError):
    """The ``automation`` extra is not installed."""


@dataclass(frozen=True, slots=True)
class AutomationAccountRef:
    subscription_id: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, text: str) -> AutomationAccountRef:
        found = _ACCOUNT.match((text or "").strip())
        if found is None:
            raise InvalidInputError(
                f"--automation-account must be an Automation account id (/subscriptions/SUB/resourceGroups/RG/"
                f"providers/Microsoft.Automation/automationAccounts/NAME), got '{text}'")
        return cls(*found.groups())

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.Automation/automationAccounts/{self.name}")


@dataclass(frozen=True, slots=True)
class ChildJobState:
    name: str
    status: str  # New, Activating, Running, Completed, Failed, Stopped, Suspended, ...
    exception: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("Completed", "Failed", "Stopped", "Suspended")


def python_parameters(arguments: Sequence[str]) -> dict[str, str]:
    """A Python runbook's job parameters: positional, one per argument, named as the portal shows them."""
    for arg in arguments:
        if not arg or any(ch.isspace() for ch in arg):
            # Automation splits parameter values at whitespace: such an argument would arrive as two.
            raise InvalidInputError(f"a runbook argument cannot be empty or contain whitespace: '{arg}'")
    return {f"[PARAMETER {i}]": arg for i, arg in enumerate(arguments, start=1)}


def _client_class() -> Any:
    try:
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.automation import AutomationClient
    except ImportError:
        raise AutomationUnavailableError(AUTOMATION_INSTALL_HINT) from None
    return AutomationClient


GATEWAY_SETTINGS = ("guest_storage_endpoint", "backup_service_object_id", "per_vm_job_listing", "graph_url")


class AutomationGateway:
    """Jobs of one Automation account. Keywords as for :class:`~azbackup_fix.gateway.Gateway` (``cloud``,
    ``base_url``, ``connection_verify``, ``transport``, ``retry_after_cap``); azure-core's retry policy
    answers 429s (Automation's 100 submissions per 30 s) after their Retry-After."""

    def __init__(self, credential: Any, account: AutomationAccountRef, *, cloud: str | None = None,
                 base_url: str | None = None, connection_verify: Any = None, transport: Any = None,
                 retry_after_cap: float | None = 60.0, **client_kwargs: Any) -> None:
        client_class = _client_class()
        self.account = account
        resolved = get_cloud(cloud)
        self.counter = RequestCounter()
        self._owns_transport = transport is None
        if transport is None:
            transport = RequestsTransport(**({"connection_verify": connection_verify}
                                             if connection_verify is not None else {}))
        self._transport = transport
        client_kwargs.pop("logging_enable", None)
        for key in GATEWAY_SETTINGS:  # a Gateway's own settings (the CLI passes one set of keywords), no SDK option
            client_kwargs.pop(key, None)
        self.client = client_class(
            credential, account.subscription_id, base_url=(base_url or resolved.arm_endpoint).rstrip("/"),
            credential_scopes=[resolved.credential_scope], transport=transport, per_call_policies=[self.counter],
            retry_policy=CappedRetryPolicy(retry_after_cap=retry_after_cap), **client_kwargs)

    def close(self) -> None:
        self.client.close()
        if self._owns_transport:
            self._transport.close()

    def __enter__(self) -> AutomationGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _where(self) -> tuple[str, str]:
        return self.account.resource_group, self.account.name

    def start_job(self, name: str, runbook: str, arguments: Sequence[str], *, run_on: str | None = None) -> bool:
        """PUT the job (a client-chosen GUID ``name``). False when the account is at its concurrent-jobs
        limit (Automation refuses the job: 409); the caller retries once a job has finished."""
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.automation.models import (
                JobCreateParameters,
                JobCreateProperties,
                RunbookAssociationProperty,
            )

        body = JobCreateParameters(properties=JobCreateProperties(
            runbook=RunbookAssociationProperty(name=runbook), parameters=python_parameters(arguments),
            run_on=run_on or None))
        with arm_call(f"start runbook '{runbook}' in {self.account.name}"):
            try:
                self.client.job.create(*self._where, name, body)
            except HttpResponseError as exc:
                if exc.status_code == 409:
                    return False
                raise
        return True

    def job(self, name: str) -> ChildJobState:
        with arm_call(f"job {name} of {self.account.name}"):
            job = self.client.job.get(*self._where, name)
        props = job.properties
        status = getattr(props.status, "value", props.status)  # the SDK's JobStatus is a str enum
        return ChildJobState(name, str(status or "New"), props.exception or None)

    def output(self, name: str) -> str:
        """The job's Output stream as text (Job_GetOutput)."""
        with arm_call(f"output of job {name}"):
            text = self.client.job.get_output(*self._where, name)
        return text if isinstance(text, str) else b"".join(text).decode("utf-8", errors="replace")

    def last_error(self, name: str) -> str | None:
        """The text of the job's last Error stream record, if any."""
        with arm_call(f"error stream of job {name}"):
            records = list(self.client.job_stream.list_by_job(*self._where, name,
                                                              filter="properties/streamType eq 'Error'"))
            if not records:
                return None
            last = records[-1].properties
            full = self.client.job_stream.get(*self._where, name, last.job_stream_id)
        return (full.properties.stream_text or last.summary or "").strip() or None

    def stop(self, name: str) -> None:
        with arm_call(f"stop job {name}"):
            self.client.job.stop(*self._where, name)

    @property
    def request_count(self) -> int:
        return self.counter.count
