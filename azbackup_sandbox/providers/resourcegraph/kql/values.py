"""KQL values in Python, and the conversions between them.

``None`` is null; ``dict``/``list`` are dynamic; ``str``, ``bool``, ``int``/``float``, timezone-aware
``datetime`` and ``timedelta`` are string, bool, long/real, datetime and timespan."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["format_datetime", "format_timespan", "group_key", "is_empty", "parse_datetime", "parse_timespan",
           "to_json", "to_string"]

_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
                       r"\s*(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$")
_SPAN_UNIT = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(d|h|m|s|ms)$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ?(AM|PM))?)?$", re.IGNORECASE)


def parse_datetime(text: str) -> datetime | None:
    """ISO 8601 as Kusto reads it (any fraction digits, ``Z`` or an offset, or none = UTC) and the service's
    ``M/D/YYYY h:mm:ss AM`` form; None when it is not a datetime."""
    text = text.strip().strip("'\"")
    match = _DATETIME.match(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        try:
            when = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                            micro, tzinfo=timezone.utc)
        except ValueError:
            return None
        if zone and zone.upper() != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            when -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return when
    match = _US.match(text)
    if match:
        month, day, year, hour, minute, second, half = match.groups()
        h = int(hour or 0)
        if half:
            h = h % 12 + (12 if half.upper() == "PM" else 0)
        try:
            return datetime(int(year), int(month), int(day), h, int(minute or 0), int(second or 0),
                            tzinfo=timezone.utc)
        except ValueError:
            return None
    return None


def parse_timespan(text: str) -> timedelta | None:
    text = text.strip().strip("'\"")
    match = _SPAN_UNIT.match(text)
    if match:
        seconds = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}[match.group(2)]
        return timedelta(seconds=float(match.group(1)) * seconds)
    match = _TIMESPAN.match(text)
    if not match:
        return None
    negative, days, hours, minutes, seconds, fraction = match.groups()
    span = timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0),
                     microseconds=int((fraction or "0")[:6].ljust(6, "0")))
    return -span if negative else span


def format_datetime(when: datetime) -> str:
    when = when.astimezone(timezone.utc)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def format_timespan(span: timedelta) -> str:
    negative = span < timedelta(0)
    span = abs(span)
    days, rest = divmod(span, timedelta(days=1))
    hours, rest = divmod(rest, timedelta(hours=1))
    minutes, rest = divmod(rest, timedelta(minutes=1))
    seconds = rest.seconds
    text = f"{days}.{hours:02d}:{minutes:02d}:{seconds:02d}" if days else f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if rest.microseconds:
        text += f".{rest.microseconds:06d}0"
    return ("-" if negative else "") + text


def to_json(value: Any) -> Any:
    """A value as the answer's JSON carries it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def to_string(value: Any) -> str:
    """``tostring()``: null is the empty string, dynamic is compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(to_json(value), separators=(",", ":"))
    if isinstance(value, (datetime, timedelta)):
        return str(to_json(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_empty(value: Any) -> bool:
    return value is None or value == ""


def group_key(value: Any) -> Any:
    """A hashable stand-in for grouping, joining and distinct (dynamic values by their JSON)."""
    if isinstance(value, (dict, list)):
        return ("dynamic", json.dumps(to_json(value), sort_keys=True))
    if isinstance(value, bool):
        return ("bool", value)
    return value
