"""The refresh step against a real (unreachable or empty) PostgreSQL: it never raises,
the banner says what is wrong, and empty tables give the waiting state."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from streamdash.dashboard.data import DashboardData
from streamdash.dashboard.health import HealthTracker
from streamdash.dashboard.refresh import Refresher, Update
from streamdash.runtime.queries import view_schemas
from streamdash.spec import load_builtin
from streamdash.spec.dashboards import parse_dashboards
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
