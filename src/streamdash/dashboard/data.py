"""What the pages read, behind the shared cache: a view's rows for a time range, and the
overview's stream health. One database query per (view, range) per tick, whatever the
number of viewers and panels: panels and key filters then work on the cached rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from streamdash.alerts.reader import AlertReader
from streamdash.dashboard.cache import SharedCache
from streamdash.dashboard.frames import Row
from streamdash.dashboard.health import HealthTracker, StreamHealth
from streamdash.instants import parse_period
from streamdash.results import ViewSchema
from streamdash.store.reader import MAX_LIMIT, ResultReader


@dataclass(frozen=True)
class TimeRange:
    label: str
    span: timedelta | None
    """How far back from now `window_start` may be (None: no bound, the newest rows)."""
    ttl: float
    """Seconds a result is reused: longer ranges are bigger and change relatively less."""


RANGES: dict[str, TimeRange] = {
    # a little under the pages' 500 ms refresh: a lone viewer reloads on every tick
    "5m": TimeRange("5 min", timedelta(minutes=5), 0.45),
    "1h": TimeRange("1 h", timedelta(hours=1), 2.0),
    "24h": TimeRange("24 h", timedelta(hours=24), 5.0),
    "all": TimeRange("all", None, 5.0),
    "custom": TimeRange("custom", None, 0.45),
}
CUSTOM = "custom"
"""The range whose bounds the viewer types (`Period`); the others end now."""
DEFAULT_RANGE = "5m"
HEALTH_TTL = 1.0
ALERTS_TTL = 1.0
RECENT_ALERTS = 50
"""Alerts the pages get per tick: open ones first in the banner, all in the overview list."""


@dataclass(frozen=True)
class Period:
    """A viewer's time range: one of `RANGES`, with its bounds when it is `CUSTOM`."""

    key: str = DEFAULT_RANGE
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def custom(cls, since: str | None, until: str | None, now: datetime) -> Period:
        """The custom range typed as `since`/`until` (`now-2h`, ISO-8601, ...; empty: no
        bound). Raises ValueError saying what is wrong."""
        start, end = parse_period(since, until, now)
        return cls(CUSTOM, start, end)


@dataclass
class DashboardData:
    schemas: Mapping[str, ViewSchema]
    reader: ResultReader
    health: HealthTracker
    wall_clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    cache: SharedCache[object] = field(default_factory=SharedCache)
    alerts: AlertReader | None = None
    """None: no alerts table to read (the banner and list stay empty)."""

    def rows(self, view: str, period: Period) -> list[Row]:
        """Rows of `view`, newest first (at most `MAX_LIMIT`). Running (unwindowed) views
        ignore the range: each row is the current total of its key."""
        return self.rows_versioned(view, period)[0]

    def rows_versioned(self, view: str, period: Period) -> tuple[list[Row], int]:
        """`rows` and their generation (it moves only when the rows do)."""
        key_name = period.key if period.key in RANGES else DEFAULT_RANGE
        time_range = RANGES[key_name]
        schema = self.schemas[view]
        custom = key_name == CUSTOM and (period.since, period.until) != (None, None)
        bounded = schema.windowed and (time_range.span is not None or custom)
        # Viewers of the same custom bounds share a query, like those of a preset range.
        bounds = (period.since, period.until) if custom else ()
        key = ("rows", view, key_name, *bounds) if bounded else ("rows", view, "current")

        def load() -> list[Row]:
            if not bounded:
                return self.reader.query_view(schema, limit=MAX_LIMIT)
            if custom:
                since, until = period.since, period.until
            else:
                assert time_range.span is not None
                since, until = self.wall_clock() - time_range.span, None
            return self.reader.query_view(schema, since=since, until=until, limit=MAX_LIMIT)

        result, generation = self.cache.get_versioned(key, load, time_range.ttl)
        assert isinstance(result, list)
        return result, generation

    def stream_health(self) -> list[StreamHealth]:
        return self.stream_health_versioned()[0]

    def stream_health_versioned(self) -> tuple[list[StreamHealth], int]:
        result, generation = self.cache.get_versioned(("health",), self.health.sample, HEALTH_TTL)
        assert isinstance(result, list)
        return result, generation

    def recent_alerts(self) -> list[dict[str, object]] | None:
        """The newest alerts (None without a reader): one query per tick for all viewers."""
        return self.recent_alerts_versioned()[0]

    def recent_alerts_versioned(self) -> tuple[list[dict[str, object]] | None, int]:
        reader = self.alerts
        if reader is None:
            return None, 0
        result, generation = self.cache.get_versioned(
            ("alerts",), lambda: reader.alerts(limit=RECENT_ALERTS), ALERTS_TTL
        )
        assert isinstance(result, list)
        return result, generation

    @property
    def queries(self) -> int:
        """Loads so far (each is one or two database queries): shows the sharing works."""
        return self.cache.loads


def now_us() -> float:
    return time.time() * 1e6
