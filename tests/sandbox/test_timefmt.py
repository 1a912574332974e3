"""`parse_time` reads what ARM accepts from any client, on every supported Python (3.10's
`datetime.fromisoformat` takes neither `Z` nor 7-digit fractions; the parser must not lean on it)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from azbackup_sandbox.core.timefmt import arm_time, backup_time, parse_time

UTC = timezone.utc


@pytest.mark.parametrize(("text", "expected"), [
    # .NET (7 digits), Python (6), JavaScript (3), one digit, more than 7: truncated to microseconds
    ("2026-11-02T08:00:00.1234567Z", datetime(2026, 11, 2, 8, 0, 0, 123456, UTC)),
    ("2026-11-02T08:00:00.123456+00:00", datetime(2026, 11, 2, 8, 0, 0, 123456, UTC)),
    ("2026-11-02T08:00:00.123Z", datetime(2026, 11, 2, 8, 0, 0, 123000, UTC)),
    ("2026-11-02T08:00:00.5Z", datetime(2026, 11, 2, 8, 0, 0, 500000, UTC)),
    ("2026-11-02T08:00:00.123456789123Z", datetime(2026, 11, 2, 8, 0, 0, 123456, UTC)),
    ("2026-11-02T08:00:00Z", datetime(2026, 11, 2, 8, 0, 0, 0, UTC)),
    ("2026-11-02t08:00:00z", datetime(2026, 11, 2, 8, 0, 0, 0, UTC)),
    # no offset = UTC, as ARM reads it; minutes only; date only
    ("2026-11-02T08:00:00.1234567", datetime(2026, 11, 2, 8, 0, 0, 123456, UTC)),
    ("2026-11-02T08:00", datetime(2026, 11, 2, 8, 0, 0, 0, UTC)),
    ("2026-11-02", datetime(2026, 11, 2, tzinfo=UTC)),
    ("2026-11-02 08:00:00", datetime(2026, 11, 2, 8, 0, 0, 0, UTC)),
    # the backup job filter forms and the propertyBag's US culture form (UTC)
    ("2025-01-05 02:52:09 AM", datetime(2025, 1, 5, 2, 52, 9, tzinfo=UTC)),
    ("2025-01-05 02:52:09 PM", datetime(2025, 1, 5, 14, 52, 9, tzinfo=UTC)),
    ("3/13/2022 12:00:00 AM", datetime(2022, 3, 13, 0, 0, 0, tzinfo=UTC)),
    ("  2026-11-02T08:00:00Z  ", datetime(2026, 11, 2, 8, 0, 0, 0, UTC)),
])
def test_utc_forms(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("text", "offset", "utc"), [
    # The old parser swallowed the offset's digits into the fraction ("1234567" + "0530"): these were
    # errors on 3.10 and silently the wrong instant on 3.11.
    ("2026-11-02T08:00:00.1234567+05:30", timedelta(hours=5, minutes=30), datetime(2026, 11, 2, 2, 30, 0, 123456, UTC)),
    ("2026-11-02T08:00:00.123-08:00", timedelta(hours=-8), datetime(2026, 11, 2, 16, 0, 0, 123000, UTC)),
    ("2026-11-02T08:00:00-03:00", timedelta(hours=-3), datetime(2026, 11, 2, 11, 0, 0, tzinfo=UTC)),
    ("2026-11-02T08:00:00.5+0100", timedelta(hours=1), datetime(2026, 11, 2, 7, 0, 0, 500000, UTC)),
    ("2026-11-02T23:30:00.1234567-02:00", timedelta(hours=-2), datetime(2026, 11, 3, 1, 30, 0, 123456, UTC)),
])
def test_offsets_are_kept_and_give_the_right_instant(text: str, offset: timedelta, utc: datetime) -> None:
    parsed = parse_time(text)
    assert parsed.utcoffset() == offset
    assert parsed == utc and parsed.astimezone(UTC).replace(tzinfo=UTC) == utc


def test_round_trips_the_providers_own_formats() -> None:
    when = datetime(2026, 11, 2, 8, 5, 7, 654321, UTC)
    assert parse_time(arm_time(when)) == when
    assert parse_time(backup_time(when)) == when


@pytest.mark.parametrize("text", [
    "", "yesterday", "2026-13-02T08:00:00Z", "2026-11-02T25:00:00Z", "2026-11-02T08:00:00+24:00",
    "2026-11-02T08:00:00.Z", "2026-11-02T08:00:00 +05:30x", "02/11/2026 08:00",
])
def test_rejects_what_arm_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)
