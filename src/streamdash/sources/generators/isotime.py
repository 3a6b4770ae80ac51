"""ISO-8601 UTC text for generated timestamps, from integer microseconds (no float rounding)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_millis(epoch_us: int) -> str:
    """`2024-05-01T12:00:00.123Z`: milliseconds, `Z` suffix, as JavaScript and randomuser write."""
    moment = EPOCH + timedelta(microseconds=epoch_us)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def whole_years_between(earlier_us: int, later_us: int) -> int:
    """Completed years from one instant to a later one (an age, as a calendar counts it)."""
    start = EPOCH + timedelta(microseconds=earlier_us)
    end = EPOCH + timedelta(microseconds=later_us)
    years = end.year - start.year
    if (end.month, end.day, end.time()) < (start.month, start.day, start.time()):
        years -= 1
    return years
