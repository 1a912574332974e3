"""Reading ARM's JSON: SDK objects back to wire dicts, nested lookups, ARM timestamps.

We convert from the wire form (camelCase, as ARM sends it) rather than from SDK attribute
names, because the four SDKs use two generators with different model classes, and the
wire form is what ARM documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["arm_time", "dig", "wire"]


def wire(obj: Any) -> dict[str, Any]:
    """The JSON ARM sent for an SDK model (either generator), or the dict itself."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping) and not hasattr(obj, "as_dict"):
        return dict(obj)
    if hasattr(obj, "_attribute_map") and hasattr(obj, "serialize"):  # msrest-style models
        return obj.serialize(keep_readonly=True)
    if hasattr(obj, "as_dict"):  # typespec-style models keep the wire keys
        return obj.as_dict()
    raise TypeError(f"cannot read {type(obj).__name__} as ARM JSON")


def dig(data: Any, *path: str | int, default: Any = None) -> Any:
    """``data[p0][p1]...`` with keys matched case-insensitively; ``default`` when absent."""
    node = data
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, list) or not -len(node) <= key < len(node):
                return default
            node = node[key]
            continue
        if not isinstance(node, Mapping):
            return default
        if key in node:
            node = node[key]
            continue
        folded = key.casefold()
        node = next((v for k, v in node.items() if isinstance(k, str) and k.casefold() == folded), _MISSING)
        if node is _MISSING:
            return default
    return default if node is None else node


_MISSING = object()
_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)


def arm_time(value: Any) -> datetime | None:
    """ARM's timestamps (7 fractional digits, ``Z`` or offset, or none) as aware UTC datetimes.

    ``0001-01-01T00:00:00`` is ARM's "unset" and becomes ``None``.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value.strip():
        return None
    match = _TIME.match(value.strip())
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    if day.startswith("0001-"):
        return None
    micro = (fraction or "0")[:6].ljust(6, "0")
    offset = "+00:00" if zone in (None, "Z", "z") else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}").astimezone(timezone.utc)
    except ValueError:
        return None
