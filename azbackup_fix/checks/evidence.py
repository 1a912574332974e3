"""Building evidence pairs from observed values."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ..models import Evidence, format_timestamp

__all__ = ["ev", "ev_list"]


def ev(label: str, value: object) -> Evidence:
    """Evidence with JSON-safe values: datetimes as ISO strings, ids and enums as text."""
    if isinstance(value, datetime):
        return Evidence(label, format_timestamp(value))
    if value is None or isinstance(value, (str, int, float, bool)):
        return Evidence(label, value)
    enum_value = getattr(value, "value", None)
    if isinstance(enum_value, str):
        return Evidence(label, enum_value)
    return Evidence(label, str(value))


def ev_list(label: str, values: Iterable[object]) -> Evidence:
    """Several values under one label, comma-separated."""
    return Evidence(label, ", ".join(str(v) for v in values))
