"""ISO-8601 timestamps for the JSON forms of the models (UTC, ``Z`` suffix)."""

from __future__ import annotations

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


def parse_timestamp(text: str | None) -> datetime | None:
    """Inverse of :func:`format_timestamp`; accepts ``Z`` (``fromisoformat`` on 3.10 does not)."""
    if text is None:
        return None
    value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
