"""Microsoft Graph v1.0 `servicePrincipals` on the sandbox host: `GET /v1.0/servicePrincipals` with
`$filter=appId eq '...'` (or `displayName eq '...'`) and `GET /v1.0/servicePrincipals/{id}`.

Graph is not ARM: no api-version, its own token audience (https://graph.microsoft.com), its own error
envelope (`{"error": {"code", "message", "innerError"}}`). The caller's tenant is the token's `tid`
(opaque test tokens: the estate's home tenant)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ...core.http import SandboxRequest, SandboxResponse, json_response
from ...core.tokens import decode_token
from .models import service_principals

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = ["GRAPH_AUDIENCES", "GRAPH_PREFIX", "handle_graph"]

GRAPH_PREFIX = "/v1.0/"
GRAPH_AUDIENCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals"
_FILTER = re.compile(r"^\s*(appId|displayName)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def _error(status: int, code: str, message: str, request_id: str) -> SandboxResponse:
    inner = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
             "client-request-id": request_id}
    return json_response(status, {"error": {"code": code, "message": message, "innerError": inner}})


def _tenant(sb: Sandbox, request: SandboxRequest) -> tuple[str | None, SandboxResponse | None]:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    rid = sb.new_guid()
    if scheme.lower() != "bearer" or not token:
        return None, _error(401, "InvalidAuthenticationToken", "Access token is empty.", rid)
    claims = decode_token(token.strip())
    if claims is None:  # an opaque test token: the estate's directory
        return sb.resources.home_tenant_id(), None
    audience = str(claims.get("aud") or "").rstrip("/").lower()
    if audience not in GRAPH_AUDIENCES:
        return None, _error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.",
                            rid)
    return str(claims.get("tid") or sb.resources.home_tenant_id()), None


def handle_graph(sb: Sandbox, request: SandboxRequest) -> tuple[str, SandboxResponse]:
    """(operation name, response) for a Graph request."""
    tenant, refused = _tenant(sb, request)
    if refused is not None:
        return "Graph_Authenticate", refused
    assert tenant is not None
    path = request.decoded_path.rstrip("/")
    principals = service_principals(tenant)
    if request.method != "GET":
        return "Graph", _error(405, "Request_BadRequest", f"Method '{request.method}' is not supported.",
                               sb.new_guid())
    if path.lower() == "/v1.0/serviceprincipals":
        text = request.query.get("$filter")
        found: list[Any] = principals
        if text:
            match = _FILTER.match(text)
            if match is None:
                return "ServicePrincipals_List", _error(
                    400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause: {text}",
                    sb.new_guid())
            field = "app_id" if match.group(1).lower() == "appid" else "display_name"
            found = [p for p in principals if getattr(p, field).lower() == match.group(2).lower()]
        return "ServicePrincipals_List", json_response(
            200, {"@odata.context": _CONTEXT, "value": [p.to_graph() for p in found]})
    prefix = "/v1.0/serviceprincipals/"
    if path.lower().startswith(prefix):
        wanted = path[len(prefix):].lower()
        match_one = next((p for p in principals if p.object_id.lower() == wanted), None)
        if match_one is None:
            return "ServicePrincipals_Get", _error(
                404, "Request_ResourceNotFound",
                f"Resource '{path[len(prefix):]}' does not exist or one of its queried reference-property objects "
                "are not present.", sb.new_guid())
        return "ServicePrincipals_Get", json_response(200, {"@odata.context": _CONTEXT + "/$entity",
                                                            **match_one.to_graph()})
    return "Graph", _error(400, "BadRequest", f"Resource not found for the segment '{path.split('/')[-1]}'.",
                           sb.new_guid())
