"""Typed points in time: relative and absolute forms, and errors that name the forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamdash.instants import parse_instant, parse_period

NOW = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        (" NOW ", NOW),
        ("now-2h", NOW - timedelta(hours=2)),
        ("now - 15min", NOW - timedelta(minutes=15)),
        ("90s", NOW - timedelta(seconds=90)),
        ("2026-12-01 17:00", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("2026-12-01T17:00:00Z", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T18:00:00+01:00", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
    ],
)
def test_forms(text: str, expected: datetime) -> None:
    got = parse_instant(text, NOW)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "now+1h", "now-", "12:00", "2026-13-01"])
def test_bad_times_name_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="now-2h"):
        parse_instant(text, NOW)


def test_period_bounds_and_order() -> None:
    assert parse_period("now-1h", None, NOW) == (NOW - timedelta(hours=1), None)
    assert parse_period(None, None, NOW) == (None, None)
    with pytest.raises(ValueError, match="is not before"):
        parse_period("now", "now-1h", NOW)
