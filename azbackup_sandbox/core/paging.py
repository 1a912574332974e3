"""`nextLink` paging as ARM lists do it: the link repeats the request with a continuation token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

from .errors import bad_request
from .http import SandboxRequest

__all__ = ["page"]


def page(
    request: SandboxRequest, items: Sequence[Any], size: int, *, token: str = "$skiptoken"
) -> dict[str, Any]:
    """One page of `items` (already serialised) starting at the request's continuation token."""
    raw = request.query.get(token.lower(), "0") or "0"
    try:
        start = int(raw)
    except ValueError:
        raise bad_request(f"The continuation token '{raw}' is not valid.", "InvalidSkipToken") from None
    body: dict[str, Any] = {"value": list(items[start : start + size])}
    if start + size < len(items):
        query = {k: v for k, v in request.query.items() if k != token.lower()}
        query[token] = str(start + size)
        body["nextLink"] = f"{request.base_url}{quote(request.decoded_path, safe='/;')}?{urlencode(query)}"
    return body
