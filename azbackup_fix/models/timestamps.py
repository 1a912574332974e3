"""ISO-8601 timestamps for the JSON forms of the models (UTC, ``Z`` suffix)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

__all__ = ["format_timestamp", "parse_timestamp"]


def format_timestamp(value: datetime | None) -> str | None:
    """``2025-01-05T02:52:09Z``; naive datetimes are taken as UTC (ARM times are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    text = value.astimezone(timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


# ARM writes seven fractional digits (.1234560); fromisoformat on 3.10 takes exactly three or six.
_FRACTION = re.compile(r"\.(\d+)")


def parse_timestamp(text: str | None) -> datetime | None:
    """Inverse of :func:`format_timestamp`; also reads ARM's forms, which ``fromisoformat`` on 3.10 does
    not: a ``Z`` suffix and fractions of any length (to microseconds)."""
    if text is None:
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
