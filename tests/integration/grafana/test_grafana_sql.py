"""Every generated Grafana query, macros expanded, runs against real PostgreSQL result
tables (created and filled by `PostgresSink`, as the engine does) and returns rows with the
columns its panel reads. Grafana itself is not run (it is not installable here)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from streamdash.grafana import ExpandedQuery, expanded_queries
from streamdash.results import CommitBatch, ViewSchema, ViewUpdate
from streamdash.runtime.queries import view_schemas
from streamdash.spec.dashboards import DashboardPanel, parse_dashboards, view_columns
from streamdash.spec.loader import load_builtin, parse_pipeline
from streamdash.spec.models import Pipeline
from streamdash.store import PostgresSink

NOW = datetime.now(UTC).replace(microsecond=0)
WINDOWS = 3  # per key; the newest is not final yet
RANGE = (NOW - timedelta(hours=1), NOW + timedelta(minutes=1))

# Covers what the built-in dashboards do not: line with agg / non-time x, bar with x and
# by or by alone, gauge with agg, stat and table defaults, raw histogram, scatter/map on a
# running view.
SHOP = """
streams:
  shop:
    time: {field: ts, unit: ms}
    schema: {ts: int64, customer: string, region: string, amount: float64}
views:
  sales:
    from: shop
    window: {tumbling: 10s}
    group_by: [customer, region]
    metrics: {orders: count(), revenue: sum(amount)}
  totals:
    from: shop
    window: none
    group_by: [customer]
    metrics: {orders: count(), revenue: sum(amount)}
dashboards:
  shop:
    - {panel: filter, view: sales, by: region, title: Region}
    - {panel: line, view: sales, y: revenue, by: customer, agg: last, title: a}
    - {panel: line, view: totals, x: orders, y: revenue, title: b}
    - {panel: bar, view: sales, x: customer, by: region, y: revenue, agg: sum, title: c}
    - {panel: bar, view: sales, by: region, y: [orders, revenue], agg: max, title: d}
    - {panel: gauge, view: sales, value: revenue, by: customer, agg: avg, title: e}
    - {panel: stat, view: sales, value: revenue, title: f}
    - {panel: table, view: sales, title: g}
    - {panel: histogram, view: sales, x: revenue, title: h}
    - {panel: scatter, view: totals, x: orders, y: revenue, by: customer, title: i}
    - {panel: heatmap, view: sales, x: customer, y: region, value: orders, title: j}
    - {panel: map, view: totals, x: orders, y: revenue, by: customer, title: k}
    - {panel: stat, view: totals, value: customer, agg: count, title: l}
"""


def key_values(pipeline: Pipeline, column: str, arrow_type: pa.DataType) -> list[Any]:
    """Two generic keys plus every value a panel's `where:` asks for (so those panels
    find rows, e.g. sensor = 'location')."""
    if pa.types.is_integer(arrow_type):
        return [1, 2]
    wanted = {
        str(value)
        for panels in parse_dashboards(pipeline).values()
        for panel in panels
        for name, value in panel.where.items()
        if name == column
    }
    return ["k-1", "k-2", *sorted(wanted)]


def metric_value(arrow_type: pa.DataType, window: int) -> Any:
    if pa.types.is_timestamp(arrow_type):
        return NOW - timedelta(seconds=window)
    if pa.types.is_integer(arrow_type):
        return 10 * (window + 1)
    if pa.types.is_floating(arrow_type):
        return 0.1 * (window + 1)
    return f"text-{window}"


def rows_of(pipeline: Pipeline, schema: ViewSchema) -> pa.Table:
    keys = [key_values(pipeline, name, kind) for name, kind in schema.keys]
    rows = []
    for window in range(WINDOWS if schema.windowed else 1):
        start = NOW - timedelta(seconds=30 * (window + 1))
        for combo in itertools.product(*keys):
            row: dict[str, Any] = dict(zip((n for n, _ in schema.keys), combo, strict=True))
            row |= {name: metric_value(kind, window) for name, kind in schema.metrics}
            if schema.windowed:
                row |= {"window_start": start, "window_end": start + timedelta(seconds=10)}
            row["final"] = window > 0
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema.arrow_schema)


def fill(url: str, pipeline: Pipeline) -> None:
    schemas = list(view_schemas(pipeline).values())
    with PostgresSink(url) as sink:
        sink.open(schemas)
        updates = [ViewUpdate(s.view, rows_of(pipeline, s)) for s in schemas]
        sink.commit("grafana-test", CommitBatch(updates=updates))


def run(url: str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert cur.description is not None
        return [c.name for c in cur.description], cur.fetchall()


def expected_columns(panel: DashboardPanel, pipeline: Pipeline) -> list[str]:
    """The columns the Grafana panel reads, per type (see grafana/queries.py)."""
    kind, by, y = panel.panel, panel.by, panel.y
    if kind == "line":
        if panel.x not in (None, "window_start", "window_end"):
            return [str(panel.x), *y]
        return ["time", *(["metric"] if by else []), *y]
    if kind == "gauge":
        return [*([by] if by else []), str(panel.value)]
    if kind == "stat":
        return [str(panel.value)]
    if kind == "bar":
        category = panel.x or by
        if category is None:
            return ["category", "value"]
        series = [by] if panel.x is not None and by not in (None, panel.x) else []
        return [category, *series, *y]
    if kind == "table":
        return y or view_columns(pipeline.views[panel.view])
    if kind == "heatmap":
        return [str(panel.x), y[0], str(panel.value)]
    if kind == "histogram":
        return [str(panel.x), *([by] if by else []), *y] if y else [str(panel.x)]
    assert kind in ("scatter", "map")
    return [str(panel.x), y[0]]


def check_all(url: str, pipeline: Pipeline, queries: list[ExpandedQuery]) -> int:
    """Run every query; return how many returned rows."""
    drawn = {
        stream: iter([p for p in panels if p.panel != "filter"])
        for stream, panels in parse_dashboards(pipeline).items()
    }
    with_rows = 0
    for query in queries:
        columns, rows = run(url, query.sql)
        if query.panel == "filter":
            assert columns == ["__text"], query
        else:
            panel = next(drawn[query.stream])
            assert (panel.panel, panel.heading) == (query.panel, query.title)
            assert columns == expected_columns(panel, pipeline), query
        with_rows += bool(rows)
    assert all(next(rest, None) is None for rest in drawn.values())
    return with_rows


@pytest.fixture(scope="module")
def builtin() -> Pipeline:
    return load_builtin()


@pytest.fixture
def filled(pg_db: str, builtin: Pipeline) -> Iterator[str]:
    fill(pg_db, builtin)
    yield pg_db


def test_every_builtin_query_runs_and_returns_rows(filled: str, builtin: Pipeline) -> None:
    queries = expanded_queries(builtin, *RANGE)
    assert {q.stream for q in queries} == set(builtin.dashboards)
    assert check_all(filled, builtin, queries) == len(queries)


def test_queries_still_run_with_a_value_picked_in_every_filter(
    filled: str, builtin: Pipeline
) -> None:
    picks = {"application_id": ["k-2"], "device_id": ["k-1", "k-2"], "country": ["k-1"]}
    queries = expanded_queries(builtin, *RANGE, selections=picks)
    assert check_all(filled, builtin, queries) == len(queries)


def test_a_filter_keeps_only_the_picked_keys(filled: str, builtin: Pipeline) -> None:
    def gauge_rows(picks: dict[str, list[str]] | None) -> list[tuple[Any, ...]]:
        queries = expanded_queries(builtin, *RANGE, selections=picks)
        (gauge,) = [q for q in queries if q.panel == "gauge"]
        return run(filled, gauge.sql)[1]

    assert {row[0] for row in gauge_rows(None)} == {"k-1", "k-2"}
    assert {row[0] for row in gauge_rows({"application_id": ["k-2"]})} == {"k-2"}


def test_the_gauge_shows_the_latest_final_window(filled: str, builtin: Pipeline) -> None:
    (gauge,) = [q for q in expanded_queries(builtin, *RANGE) if q.panel == "gauge"]
    # window 0 (newest, value 0.1) is not final; window 1 (value 0.2) is the latest final
    assert run(filled, gauge.sql)[1] == [("k-1", pytest.approx(0.2)), ("k-2", pytest.approx(0.2))]


def test_a_range_without_data_gives_no_rows_but_no_error(filled: str, builtin: Pipeline) -> None:
    past = (NOW - timedelta(days=2), NOW - timedelta(days=1))
    queries = expanded_queries(builtin, *past)
    for query in queries:
        _, rows = run(filled, query.sql)
        if query.panel == "line":
            assert rows == [], query.title


def test_stat_sums_the_rows(filled: str, builtin: Pipeline) -> None:
    queries = {q.title: q for q in expanded_queries(builtin, *RANGE)}
    _, rows = run(filled, queries["Clicks (in range)"].sql)
    _, expected = run(filled, "SELECT SUM(clicks) FROM campaign_metrics")
    assert rows == expected and rows[0][0] > 0


def test_every_panel_form_of_a_user_spec_runs(pg_db: str) -> None:
    shop = parse_pipeline(SHOP)
    fill(pg_db, shop)
    queries = expanded_queries(shop, *RANGE)
    assert len(queries) == 13
    assert check_all(pg_db, shop, queries) == len(queries)
    picked = expanded_queries(shop, *RANGE, selections={"region": ["k-1"]})
    assert check_all(pg_db, shop, picked) == len(picked)
