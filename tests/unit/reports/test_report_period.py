"""`--since` / `--until`: ISO-8601 times and durations back from now, the defaults, the trend
buckets a period's length selects, and a clear error for everything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamdash.reports.definitions import bucket_expression
from streamdash.reports.period import Period, PeriodError, iso, parse_moment, parse_period

NOW = datetime(2024, 5, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:30:00+02:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # no offset: UTC
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01 12:00:00.250Z", datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)),
        ("20240501T120000Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("now", NOW),
        ("NOW", NOW),
        ("1h", NOW - timedelta(hours=1)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30min", NOW - timedelta(minutes=30)),
        ("90s", NOW - timedelta(seconds=90)),
        (" 1.5h ", NOW - timedelta(minutes=90)),
    ],
)
def test_times_and_durations_back_from_now(text: str, expected: datetime) -> None:
    moment = parse_moment("--since", text, NOW)
    assert moment == expected
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["yesterday", "", "1x", "-1h", "2024-13-01", "12:00:00Z"])
def test_anything_else_is_an_error_naming_the_option_and_the_forms(text: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_moment("--until", text, NOW)
    message = str(err.value)
    assert message.startswith(f"--until {text!r} is neither an ISO-8601 time")
    assert "1h, 24h, 7d" in message


def test_defaults_are_the_day_before_now() -> None:
    assert parse_period(None, None, NOW) == Period(NOW - timedelta(hours=24), NOW)
    # --until alone moves the day with it; --since alone ends now
    until = datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_period(None, "2024-05-01", NOW) == Period(until - timedelta(hours=24), until)
    assert parse_period("1h", None, NOW) == Period(NOW - timedelta(hours=1), NOW)
    assert parse_period("2h", "1h", NOW).span == timedelta(hours=1)


@pytest.mark.parametrize(("since", "until"), [("1h", "2h"), ("now", "now"), ("2024-05-02", "1d")])
def test_an_empty_or_reversed_period_is_an_error(since: str, until: str) -> None:
    with pytest.raises(PeriodError, match="is not before --until"):
        parse_period(since, until, NOW)


def test_now_must_carry_a_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_period(None, None, NOW.replace(tzinfo=None))


def test_iso_is_utc_with_a_z() -> None:
    assert iso(datetime(2024, 5, 1, 14, tzinfo=UTC).astimezone()) == "2024-05-01T14:00:00Z"


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(minutes=10), "window_start"),
        (timedelta(hours=3), "window_start"),
        (timedelta(hours=3, seconds=1), "date_trunc('minute', window_start)"),
        (timedelta(days=3), "date_trunc('minute', window_start)"),
        (timedelta(days=30), "date_trunc('hour', window_start)"),
        (timedelta(days=91), "date_trunc('day', window_start)"),
    ],
)
def test_longer_periods_get_coarser_trend_buckets(span: timedelta, expected: str) -> None:
    assert bucket_expression(Period(NOW - span, NOW)) == expected
