"""Timestamp and duration formats as the resource providers write them."""

from __future__ import annotations

from datetime import datetime, timezone

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


def parse_time(text: str) -> datetime:
    """Parse the ISO forms above and the backup job filter form `2025-01-05 02:52:09 AM` (UTC)."""
    text = text.strip()
    for fmt in ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %I:%M:%S %p"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    cleaned = text.replace("Z", "+00:00")
    if "." in cleaned:  # Python 3.10 accepts at most 6 fractional digits
        head, _, tail = cleaned.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        rest = tail[len(digits):]
        cleaned = f"{head}.{digits[:6]}{rest}"
    parsed = datetime.fromisoformat(cleaned)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
