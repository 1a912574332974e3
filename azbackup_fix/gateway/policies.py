"""Our azure-core pipeline policies: a request counter and a RetryPolicy with a Retry-After cap.

Both are handed to the SDK clients through their documented keywords (``per_call_policies``,
``retry_policy``); nothing in the SDK is patched.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from ..errors import one_line

__all__ = ["READ_ONLY_POSTS", "CappedRetryPolicy", "RequestCounter"]

# One line per ARM request at INFO (the CLI's --verbose/--debug turn it on): method, URL, status, time.
HTTP_LOG = logging.getLogger("azbackup_fix.http")
_STARTED = "azbackup_fix.started"
_WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE", "POST"})
# POSTs that only read: backupStatus, Policy Insights' queryResults, and the network path's effective
# rules/routes and Network Watcher verdicts.
READ_ONLY_POSTS = ("/backupstatus", "/policystates/latest/queryresults", "/effectivenetworksecuritygroups",
                   "/effectiveroutetable", "/ipflowverify", "/nexthop")
# x-ms-routing-request-id: "<REGION>:<yyyyMMddTHHmmssZ>:<guid>", ARM's own clock.
_ROUTING_TIME = re.compile(r":(\d{8}T\d{6}Z):")


class RequestCounter(SansIOHTTPPolicy):
    """Counts the ARM requests the clients send (one per pipeline run, so an SDK retry of
    the same call is not counted again) and remembers ARM's clock from the last response.

    ``server_time`` lets the library judge ages (a job running for 26 h) by the service's
    clock rather than the local one, which may be skewed or, against the sandbox, virtual.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.writes = 0
        self.server_time: datetime | None = None

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context[_STARTED] = time.monotonic()
        with self._lock:
            self.count += 1
            # Writes are counted for dry-run checks; some POSTs only read (READ_ONLY_POSTS).
            method = request.http_request.method.upper()
            if method in _WRITE_METHODS and not request.http_request.url.split("?")[0].lower().endswith(READ_ONLY_POSTS):
                self.writes += 1

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        headers = response.http_response.headers
        when = _server_time(headers)
        if when is not None:
            with self._lock:
                self.server_time = when
        if HTTP_LOG.isEnabledFor(logging.INFO):
            http = request.http_request
            started = request.context.get(_STARTED)
            took = f" in {(time.monotonic() - started) * 1000:.0f} ms" if started is not None else ""
            # URLs carry no secret (SAS URIs travel in bodies, which are never logged); one_line masks anyway.
            HTTP_LOG.info("%s %s -> %s%s (x-ms-request-id %s)", http.method, one_line(http.url),
                          response.http_response.status_code, took, headers.get("x-ms-request-id", "-"))

    def snapshot(self) -> int:
        with self._lock:
            return self.count


def _server_time(headers: Any) -> datetime | None:
    routing = headers.get("x-ms-routing-request-id") or ""
    match = _ROUTING_TIME.search(routing)
    if match:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    date = headers.get("Date")
    if date:
        try:
            return parsedate_to_datetime(date).astimezone(timezone.utc)
        except (TypeError, ValueError):
            return None
    return None


class CappedRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy, except that one Retry-After stalls a run at most ``retry_after_cap`` s."""

    def __init__(self, *, retry_after_cap: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after_cap = retry_after_cap

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        value = super().get_retry_after(response)
        if value is not None and self.retry_after_cap is not None:
            return min(value, self.retry_after_cap)
        return value
