"""Response headers every ARM answer carries, in the style of the resource provider that answers."""

from __future__ import annotations

from email.utils import format_datetime
from typing import TYPE_CHECKING

from .http import SandboxRequest

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["common_headers"]


def common_headers(
    sandbox: Sandbox, request: SandboxRequest, request_id: str, kind: str, remaining: int | None
) -> dict[str, str]:
    now = sandbox.clock.now()
    path = request.path.lower()
    headers = {
        # The sandbox's own time, so Date agrees with job and operation timestamps.
        "Date": format_datetime(now, usegmt=True),
        "Cache-Control": "no-cache",
        "Pragma": "no-cache",
        "Expires": "-1",
        "x-ms-request-id": request_id,
        "x-ms-correlation-request-id": request.headers.get("x-ms-client-request-id") or request_id,
        "x-ms-routing-request-id": f"EASTUS:{now.strftime('%Y%m%dT%H%M%SZ')}:{request_id}",
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
    }
    if client_id := request.headers.get("x-ms-client-request-id"):
        headers["x-ms-client-request-id"] = client_id
    recovery_services = "/providers/microsoft.recoveryservices/" in path
    if remaining is not None:
        if recovery_services:
            # Recovery Services overrides ARM's limits and reports its own counter instead.
            headers["x-ms-ratelimit-remaining-subscription-resource-requests"] = str(remaining)
        else:
            headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = str(remaining)
            headers[f"x-ms-ratelimit-remaining-subscription-global-{kind}"] = str(remaining * 15)
    if "/providers/microsoft.compute/" in path:
        headers["Server"] = "Microsoft-HTTPAPI/2.0"
    elif recovery_services:
        headers["Server"] = "Microsoft-IIS/10.0"
        headers["X-Powered-By"] = "ASP.NET"
    return headers
