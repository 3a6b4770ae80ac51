"""The refresh step against a real (unreachable or empty) PostgreSQL: it never raises,
the banner says what is wrong, and empty tables give the waiting state."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from streamdash.dashboard.data import DashboardData, Period
from streamdash.dashboard.health import HealthTracker
from streamdash.dashboard.refresh import Refresher, Update, period_of
from streamdash.runtime.queries import view_schemas
from streamdash.spec.dashboards import parse_dashboards
from streamdash.spec.loader import load_builtin
from streamdash.store.reader import ResultReader


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


@contextlib.contextmanager
def _refresher(url: str) -> Iterator[Refresher]:
    pipeline = load_builtin("app_logs")
    reader = ResultReader(url)
    data = DashboardData(view_schemas(pipeline), reader, HealthTracker(pipeline, reader))
    try:
        yield Refresher(parse_dashboards(pipeline), data)
    finally:
        reader.close()


GRAPHS = [{"kind": "graph", "page": "app_logs", "index": 1}]
OVERVIEW = [{"kind": "overview", "page": "overview", "index": 0}]


def test_database_down_gives_the_banner_message() -> None:
    with _refresher(f"postgresql://postgres@127.0.0.1:{_closed_port()}/none") as refresher:
        result = refresher.safe_refresh(GRAPHS, [], [], [], [], "5m")
    assert isinstance(result, str)
    assert result.startswith("Database unreachable")
    assert "cannot connect" in result


def test_empty_database_shows_waiting_states(pg_db: str) -> None:
    with _refresher(pg_db) as refresher:
        result = refresher.safe_refresh(GRAPHS, [], [], [], OVERVIEW, "5m")
    assert isinstance(result, Update), result
    assert result.figures[0]["layout"]["annotations"][0]["text"] == "Waiting for data…"
    assert result.figures[0]["layout"]["template"]["layout"]  # the dark theme is attached
    assert len(result.overview) == 1


def test_a_broken_request_is_reported_not_raised(pg_db: str) -> None:
    stale = [{"kind": "graph", "page": "app_logs", "index": 99}]
    with _refresher(pg_db) as refresher:
        result = refresher.safe_refresh(stale, [], [], [], [], "5m")
    assert isinstance(result, str) and "could not refresh" in result


def test_period_of_the_range_picker() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert period_of("1h", "junk", None, now) == Period("1h")  # custom boxes ignored
    assert period_of(None, None, None, now) == Period("5m")
    assert period_of("custom", "now-2h", "now-1h", now) == Period(
        "custom", now - timedelta(hours=2), now - timedelta(hours=1)
    )
    assert period_of("custom", "", None, now) == Period("custom")  # unbounded: all rows
    problem = period_of("custom", "now", "now-1h", now)
    assert isinstance(problem, str) and "is not before" in problem


def test_custom_period_bounds_the_query(pg_db: str) -> None:
    """Rows of a custom period come from the database with both bounds applied."""
    from streamdash.results import CommitBatch, ViewUpdate
    from streamdash.store.postgres import PostgresSink

    pipeline = load_builtin("app_logs")
    schema = view_schemas(pipeline)["application_metrics"]
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    rows = [
        {name: 0 for name, _ in schema.metrics}
        | {"window_start": start + timedelta(seconds=10 * i),
           "window_end": start + timedelta(seconds=10 * i + 10),
           "application_id": "app-1", "final": True}
        for i in range(6)
    ]  # fmt: skip
    with PostgresSink(pg_db) as sink:
        sink.open([schema])
        table = pa.Table.from_pylist(rows, schema=schema.arrow_schema)
        sink.commit("test", CommitBatch(updates=[ViewUpdate("application_metrics", table)]))
    reader = ResultReader(pg_db)
    try:
        data = DashboardData(view_schemas(pipeline), reader, HealthTracker(pipeline, reader))
        period = Period("custom", start + timedelta(seconds=10), start + timedelta(seconds=40))
        got = [r["window_start"] for r in data.rows("application_metrics", period)]
        all_rows = data.rows("application_metrics", Period("custom"))
    finally:
        reader.close()
    assert sorted(got) == [f"2026-12-01T12:00:{s}Z" for s in (10, 20, 30)]  # JSON-ready rows
    assert len(all_rows) == 6


def test_viewers_of_one_page_state_share_one_build(pg_db: str) -> None:
    """Twenty viewers asking for the same page with unchanged rows get the very same
    figures (built once) and the same version; new rows give a new version."""
    with _refresher(pg_db) as refresher:
        first = refresher.refresh(GRAPHS, [], [], [], [], "5m")
        again = [refresher.refresh(GRAPHS, [], [], [], [], "5m") for _ in range(20)]
        assert all(update is first for update in again)
        assert all(update.version == first.version for update in again)
        other_range = refresher.refresh(GRAPHS, [], [], [], [], "1h")
        assert other_range.version != first.version
