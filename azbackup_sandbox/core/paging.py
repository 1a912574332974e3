"""`nextLink` paging as ARM lists do it: the link repeats the request with a continuation token."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from .errors import bad_request
from .http import SandboxRequest

__all__ = ["page"]


def page(
    request: SandboxRequest, items: Sequence[Any], size: int, *, token: str = "$skiptoken",
    serialize: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """One page of `items` starting at the request's continuation token: already serialised, or each
    turned into its wire form by `serialize` (only the page's items: a fleet's list of 10,000 is asked
    a page at a time, and serialising all of it for every page made paging quadratic)."""
    raw = request.query.get(token.lower(), "0") or "0"
    try:
        start = int(raw)
    except ValueError:
        raise bad_request(f"The continuation token '{raw}' is not valid.", "InvalidSkipToken") from None
    chunk = items[start : start + size]
    body: dict[str, Any] = {"value": [serialize(i) for i in chunk] if serialize is not None else list(chunk)}
    if start + size < len(items):
        query = {k: v for k, v in request.query.items() if k != token.lower()}
        query[token] = str(start + size)
        body["nextLink"] = f"{request.base_url}{quote(request.decoded_path, safe='/;')}?{urlencode(query)}"
    return body
