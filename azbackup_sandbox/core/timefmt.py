"""Timestamp and duration formats as the resource providers write them."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

__all__ = ["arm_time", "backup_time", "iso_duration", "parse_time", "NULL_BACKUP_TIME"]

# Recovery Services writes this for "not set" (task end times of running jobs).
NULL_BACKUP_TIME = "0001-01-01T00:00:00"


def _seven_digits(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def arm_time(dt: datetime) -> str:
    """Compute/ARM style: `2026-11-02T08:00:00.1234560+00:00`."""
    return _seven_digits(dt) + "+00:00"


def backup_time(dt: datetime) -> str:
    """Recovery Services style: `2026-11-02T08:00:00.1234560Z`."""
    return _seven_digits(dt) + "Z"


def iso_duration(seconds: float) -> str:
    """ISO-8601 duration as backup jobs report it, e.g. `PT1H1M12.0643959S`."""
    seconds = max(seconds, 0.0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = "PT"
    if hours:
        out += f"{int(hours)}H"
    if minutes:
        out += f"{int(minutes)}M"
    return out + f"{secs:.7f}S"


# ISO-8601 as ARM and its clients write it: fractional seconds of any length (.NET writes 7 digits,
# JavaScript 3, Python 6), then `Z`, `+hh:mm`/`-hh:mm` (or `+hhmm`), or nothing (= UTC, as ARM reads it).
# Parsed by hand rather than with `datetime.fromisoformat`, which before Python 3.11 takes neither `Z`
# nor fractions other than 3 or 6 digits.
_ISO = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d+))?)?"
    r"\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$"
)
# The backup job `$filter` forms (UTC), and the US-culture form of propertyBag times.
_FILTER_FORMATS = ("%Y-%m-%d %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p")


def _offset(text: str | None) -> timezone:
    if not text or text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid UTC offset '{text}'")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_time(text: str) -> datetime:
    """An aware datetime from the ISO forms ARM accepts (see `_ISO`; the offset is kept, none = UTC) or
    the backup job filter form `2025-01-05 02:52:09 AM` (UTC). Fractions beyond microseconds are truncated."""
    text = text.strip()
    for fmt in _FILTER_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    found = _ISO.match(text)
    if found is None:
        raise ValueError(f"not a time ARM accepts: '{text}'")
    day = date.fromisoformat(found["date"])
    micro = int((found["frac"] or "0")[:6].ljust(6, "0"))
    return datetime(day.year, day.month, day.day, int(found["h"] or 0), int(found["m"] or 0),
                    int(found["s"] or 0), micro, tzinfo=_offset(found["tz"]))
