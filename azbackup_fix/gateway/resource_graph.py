"""Azure Resource Graph and the tenant's subscription list, through azure-mgmt-core's ARMPipelineClient.

Why not azure-mgmt-resourcegraph: its 8.0.1 wheel requires msrest (and through it
requests-oauthlib and oauthlib), three more wheels to upload by hand to Azure Automation for one
POST. The REST call is small: ``POST /providers/Microsoft.ResourceGraph/resources`` with
``{"subscriptions", "query", "options": {"$top", "$skipToken", "resultFormat"}}``, paged by
``$skipToken``. The pipeline is built from the same credential, transport and policies as the
gateway's SDK clients (bearer challenge, capped retries, request counter, budget).

Resource Graph has its own per-user quota (15 requests per 5 s by default), reported in
``x-ms-user-quota-remaining`` / ``x-ms-user-quota-resets-after``; :meth:`ResourceGraph.query`
waits for the window to reset when the quota is spent instead of provoking a 429.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.policies import (
    ContentDecodePolicy,
    HeadersPolicy,
    RequestIdPolicy,
    UserAgentPolicy,
)
from azure.core.rest import HttpRequest
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy, ARMHttpLoggingPolicy

from ..errors import AzBackupFixError
from .arm_errors import classify

__all__ = ["RESOURCE_GRAPH_API_VERSION", "ResourceGraph", "ResourceGraphUnavailableError"]

RESOURCE_GRAPH_API_VERSION = "2022-10-01"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
PAGE_SIZE = 1000  # Resource Graph's maximum $top


class ResourceGraphUnavailableError(AzBackupFixError):
    """Resource Graph cannot answer (forbidden, not found, unsupported query): fall back to ARM listings."""

    exit_code: ClassVar[int] = 1


def _quota_seconds(text: str | None) -> float:
    try:
        h, m, s = (float(x) for x in str(text).split(":"))
    except (TypeError, ValueError):
        return 0.0
    return h * 3600 + m * 60 + s


class ResourceGraph:
    """Resource Graph queries and ``GET /subscriptions`` with the gateway's credential and pipeline."""

    def __init__(
        self,
        credential: Any,
        *,
        base_url: str,
        credential_scopes: Sequence[str],
        transport: Any,
        retry_policy: Any,
        per_call_policies: Sequence[Any] = (),
        per_retry_policies: Sequence[Any] = (),
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        policies: list[Any] = [
            RequestIdPolicy(),
            HeadersPolicy(),
            UserAgentPolicy(sdk_moniker="azbackup-fix-resourcegraph"),
            ContentDecodePolicy(),
            *per_call_policies,
            retry_policy,
            ARMChallengeAuthenticationPolicy(credential, *credential_scopes),
            *per_retry_policies,
            ARMHttpLoggingPolicy(),
        ]
        self._client = ARMPipelineClient(base_url=base_url, policies=policies, transport=transport)
        self._sleep = sleep or transport.sleep
        self.requests = 0
        self.quota_waits = 0

    def _send(self, request: HttpRequest, what: str) -> Any:
        self.requests += 1
        request.url = self._client.format_url(request.url)
        try:
            response = self._client.send_request(request)
            response.raise_for_status()
        except HttpResponseError as exc:
            status = exc.status_code
            if status in (400, 403, 404):  # not allowed, not registered, or a query it rejects
                raise ResourceGraphUnavailableError(f"{what}: {classify(exc)}") from exc
            raise classify(exc, what=what) from exc
        except AzureError as exc:
            raise classify(exc, what=what) from exc
        return response

    def query(self, query: str, subscriptions: Sequence[str], *, page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every row of ``query`` over ``subscriptions``, page by page (``$skipToken``)."""
        token: str | None = None
        while True:
            options: dict[str, Any] = {"$top": page_size, "resultFormat": "objectArray"}
            if token:
                options["$skipToken"] = token
            body = {"subscriptions": list(subscriptions), "query": query, "options": options}
            request = HttpRequest("POST", "/providers/Microsoft.ResourceGraph/resources",
                                  params={"api-version": RESOURCE_GRAPH_API_VERSION},
                                  headers={"Content-Type": "application/json"}, content=json.dumps(body))
            response = self._send(request, "Resource Graph query")
            answer = response.json()
            yield from answer.get("data") or []
            token = answer.get("$skipToken")
            remaining = response.headers.get("x-ms-user-quota-remaining")
            if token and remaining is not None and remaining.strip() == "0":
                # The per-user window is spent: wait for it rather than provoke a 429.
                self.quota_waits += 1
                self._sleep(max(_quota_seconds(response.headers.get("x-ms-user-quota-resets-after")), 0.1))
            if not token:
                return

    def list_subscriptions(self) -> tuple[str, ...]:
        """Subscription ids the credential can see (``GET /subscriptions``, nextLink paging), enabled ones."""
        out: list[str] = []
        url: str | None = None
        while True:
            request = HttpRequest("GET", url) if url else HttpRequest(
                "GET", "/subscriptions", params={"api-version": SUBSCRIPTIONS_API_VERSION})
            answer = self._send(request, "subscriptions").json()
            out.extend(str(s["subscriptionId"]) for s in answer.get("value") or []
                       if str(s.get("state", "Enabled")).casefold() not in ("disabled", "deleted"))
            url = answer.get("nextLink")
            if not url:
                return tuple(out)
