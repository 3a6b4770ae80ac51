"""The period a report covers: `--since` / `--until` as ISO-8601 times or as durations back
from now (`1h`, `24h`, `7d`, `30min`), read with the spec's duration grammar.

A window belongs to the period when it *starts* inside it (`since <= window_start <
until`), the rule of the JSON API's `?since=&until=` too, so a report and the API agree on
which rows a period holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streamdash.errors import Fatal
from streamdash.instants import parse_instant

DEFAULT_SPAN = timedelta(hours=24)
"""Without `--since`, a report covers the day before `--until`."""


class PeriodError(Fatal):
    """`--since` / `--until` are not times, or do not make a period."""


@dataclass(frozen=True)
class Period:
    """`[since, until)`, both timezone-aware UTC."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("a Period needs timezone-aware times")

    @property
    def span(self) -> timedelta:
        return self.until - self.since

    def describe(self) -> str:
        return f"{iso(self.since)} to {iso(self.until)}"


def iso(moment: datetime) -> str:
    """`2024-05-01T12:00:00Z`: UTC, seconds precision unless there is a fraction."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_moment(option: str, text: str, now: datetime) -> datetime:
    """An ISO-8601 time (no offset means UTC, like event times), `now`, `now-2h`, or a
    duration back from `now` (`1h` is an hour ago): `streamdash.instants`, the grammar of
    the dashboard's custom range too. Raises PeriodError naming the option and the forms."""
    try:
        return parse_instant(text, now)
    except ValueError as err:
        raise PeriodError(f"{option} {err}") from None


def parse_period(since: str | None, until: str | None, now: datetime) -> Period:
    """The period of `--since` / `--until`: defaults `until = now`, `since = until - 24h`."""
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    end = parse_moment("--until", until, now) if until is not None else now
    start = parse_moment("--since", since, now) if since is not None else end - DEFAULT_SPAN
    if start >= end:
        raise PeriodError(
            f"the period is empty or reversed: --since {iso(start)} is not before "
            f"--until {iso(end)}"
        )
    return Period(start, end)
