"""Wire format of Resource Graph's ``resources`` query (api-version 2021-03-01 and 2022-10-01).

Request: ``{"subscriptions": [...], "query": "...", "options": {"$top", "$skip", "$skipToken",
"resultFormat"}}``. Answer: ``{"totalRecords", "count", "resultTruncated", "$skipToken"?, "data", "facets"}``
with ``data`` an objectArray, and the per-user quota headers ``x-ms-user-quota-remaining`` and
``x-ms-user-quota-resets-after`` (hh:mm:ss) on every answer. The query is evaluated by the sandbox's KQL
interpreter (:mod:`.kql`); one it cannot parse or resolve, or an operator outside its subset, gets Resource
Graph's 400: code ``BadRequest``, details ``InvalidQuery`` then ``ParserFailure`` / ``SemanticError`` /
``InvalidQueryLanguage`` with ``line``, ``characterPositionInLine`` and ``token``.
"""

from __future__ import annotations

import base64
import json
import math
from typing import TYPE_CHECKING, Any

from ...core.http import SandboxRequest, SandboxResponse, json_response
from . import errors
from .kql.errors import KqlError

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register", "API_VERSIONS"]

API_VERSIONS = ("2021-03-01", "2022-10-01")
MAX_TOP = 1000
DEFAULT_TOP = 100


def _clock(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"$skip": offset}).encode()).decode()


def _offset(token: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["$skip"])
    except (ValueError, KeyError, TypeError):
        raise errors.invalid_skip_token() from None


def _query(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    principal = sb.rbac.resolve((req.headers.get("authorization") or "").partition(" ")[2])
    allowed, remaining, resets = sb.resourcegraph.take_quota(principal)
    quota = {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": _clock(resets)}
    if not allowed:
        raise errors.quota_exhausted({**quota, "Retry-After": sb.retry_after_header(max(resets, 1.0))})
    version = req.query.get("api-version")
    if version not in API_VERSIONS:
        raise errors.invalid_api_version(version, API_VERSIONS)
    body = req.json() or {}
    text = str(body.get("query") or "")
    options = body.get("options") or {}
    if options.get("resultFormat", "objectArray") != "objectArray":
        raise errors.unsupported_result_format()
    known = {s.lower(): s for s in sb.subscription_ids}
    subscriptions = [known[s.lower()] for s in body.get("subscriptions") or known.values() if s.lower() in known]
    try:
        rows = sb.resourcegraph.rows(text, subscriptions, continuation=bool(options.get("$skipToken")))
    except KqlError as exc:
        raise errors.invalid_query(sb.clock.now(), exc) from None
    top = min(int(options.get("$top") or DEFAULT_TOP), MAX_TOP)
    start = _offset(options["$skipToken"]) if options.get("$skipToken") else int(options.get("$skip") or 0)
    chunk = rows[start:start + top]
    answer: dict[str, Any] = {"totalRecords": len(rows), "count": len(chunk), "resultTruncated": "false"}
    if start + top < len(rows):
        answer["$skipToken"] = _token(start + top)
    answer["data"] = chunk
    answer["facets"] = []
    return json_response(200, answer, quota)


def register(router: Router) -> None:
    router.add("POST", "/providers/Microsoft.ResourceGraph/resources", _query, operation="ResourceGraph_Resources",
               action="Microsoft.ResourceGraph/resources/read")
