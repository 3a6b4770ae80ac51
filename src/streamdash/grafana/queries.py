"""The SQL of each panel type, with Grafana macros (`$__timeFilter`, template variables)
left in: `macros.expand` turns them into plain PostgreSQL.

Semantics follow docs/dashboard.md so Grafana shows what the built-in dashboard shows:
windowed views are bounded by the time range on `window_start`, running views always
show their current rows, `agg` defaults to `last` (the newest row) except where the
dashboard documents another default (heatmap and pre-counted histogram: `sum`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from streamdash.grafana.sqltext import FINAL, ViewTable, ident, literal, reduced, where_clause
from streamdash.spec.dashboards import TIME_COLUMNS, DashboardPanel

Format = Literal["time_series", "table"]
DEFAULT_TABLE_LIMIT = 10
# Raw-row panels (scatter, histogram, map) are capped like the dashboard's view queries.
ROW_CAP = 10_000


@dataclass(frozen=True)
class Query:
    sql: str
    format: Format


def conditions(panel: DashboardPanel, view: ViewTable, filters: Sequence[str]) -> list[str]:
    """The time range (windowed views), the panel's `where:` and the page's filters, as SQL.
    `filters` are the conditions of the stream's template variables; each applies only to
    panels whose view has its column (as the dashboard's filter dropdown does)."""
    out = [f"$__timeFilter({ident('window_start')})"] if view.windowed else []
    out += [f"{ident(column)} = {literal(value)}" for column, value in panel.where.items()]
    return out + list(filters)


def _not_null(*columns: str) -> list[str]:
    return [f"{ident(column)} IS NOT NULL" for column in columns]


def line(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    """Grafana's time_series format: a `time` column, an optional text `metric` column
    naming the series (one per `by` value) and one numeric column per y."""
    x = panel.x or "window_start"
    groups = [(ident(x), "time")]
    if panel.by is not None:
        groups.append((f"{ident(panel.by)}::text", "metric"))
    if panel.agg is not None:
        return Query(reduced(view, groups, panel.y, panel.agg, conds), "time_series")
    selected = ", ".join(
        [f"{expr} AS {ident(alias)}" for expr, alias in groups] + [ident(y) for y in panel.y]
    )
    order = "1, 2" if panel.by is not None else "1"
    sql = f"SELECT {selected} FROM {ident(view.table)}{where_clause(conds)} ORDER BY {order}"
    return Query(sql, "time_series")


def line_is_timeseries(panel: DashboardPanel) -> bool:
    """A line over a time column is a Grafana timeseries; over anything else an xychart."""
    return panel.x is None or panel.x in TIME_COLUMNS


def line_xy(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    assert panel.x is not None
    columns = [panel.x, *panel.y]
    selected = ", ".join(ident(c) for c in columns)
    where = where_clause([*conds, *_not_null(panel.x)])
    sql = f"SELECT {selected} FROM {ident(view.table)}{where} ORDER BY 1 LIMIT {ROW_CAP}"
    return Query(sql, "table")


def gauge(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    """One row per `by` value. With `last` on a windowed view only final windows count: a
    window still filling holds a few events and its rate would swing wildly."""
    assert panel.value is not None
    agg = panel.reducer
    if agg == "last" and view.windowed:
        conds = [*conds, ident(FINAL)]
    groups = [(f"{ident(panel.by)}::text", panel.by)] if panel.by is not None else []
    return Query(reduced(view, groups, [panel.value], agg, conds), "table")


def stat(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    assert panel.value is not None
    return Query(reduced(view, [], [panel.value], panel.reducer, conds), "table")


def bar(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    """With `x` (or only `by`): one row per category. Without either, the y columns are the
    categories: reduce them to one row, then unpivot it into (category, value) rows, since
    Grafana's bar chart needs a text field for its x axis."""
    category = panel.x or panel.by
    agg = panel.reducer
    if category is not None:
        # text categories: Grafana's bar chart wants a text (or time) x field
        groups = [(f"{ident(category)}::text", category)]
        if panel.x is not None and panel.by is not None and panel.by != panel.x:
            groups.append((f"{ident(panel.by)}::text", panel.by))
        return Query(reduced(view, groups, panel.y, agg, conds), "table")
    inner = reduced(view, [], panel.y, agg, conds)
    pairs = ", ".join(f"({literal(y)}, s.{ident(y)}::double precision)" for y in panel.y)
    sql = (
        f'SELECT v."category", v."value" FROM ({inner}) AS s '
        f'CROSS JOIN LATERAL (VALUES {pairs}) AS v("category", "value")'
    )
    return Query(sql, "table")


def table(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    columns = panel.y or list(view.columns)
    selected = ", ".join(ident(c) for c in columns)
    order = ""
    if panel.sort is not None:
        column = panel.sort.removeprefix("-")
        # NULLS LAST: a "top N" must not start with rows that have no value
        direction = "DESC NULLS LAST" if panel.sort.startswith("-") else "ASC NULLS LAST"
        order = f" ORDER BY {ident(column)} {direction}"
    elif view.windowed:
        order = f" ORDER BY {view.recency}"
    limit = panel.limit or DEFAULT_TABLE_LIMIT
    sql = f"SELECT {selected} FROM {ident(view.table)}{where_clause(conds)}{order} LIMIT {limit}"
    return Query(sql, "table")


def heatmap(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    """(x, y, value) rows; the panel pivots them into an x-by-y grid."""
    assert panel.x is not None and panel.value is not None
    groups = [(ident(panel.x), panel.x), (ident(panel.y[0]), panel.y[0])]
    return Query(reduced(view, groups, [panel.value], panel.agg or "sum", conds), "table")


def scatter(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    assert panel.x is not None
    columns = [panel.x, panel.y[0]]
    selected = ", ".join(ident(c) for c in columns)
    where = where_clause([*conds, *_not_null(*columns)])
    sql = f"SELECT {selected} FROM {ident(view.table)}{where} ORDER BY 1 LIMIT {ROW_CAP}"
    return Query(sql, "table")


def histogram(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    """Raw x values (Grafana buckets them); with `y` the rows are pre-counted, so y is
    summed per x (and `by`) value instead."""
    assert panel.x is not None
    if panel.y:
        groups = [(f"{ident(panel.x)}::text", panel.x)]  # bar chart categories: text
        if panel.by is not None:
            groups.append((f"{ident(panel.by)}::text", panel.by))
        return Query(reduced(view, groups, panel.y, panel.agg or "sum", conds), "table")
    where = where_clause([*conds, *_not_null(panel.x)])
    sql = f"SELECT {ident(panel.x)} FROM {ident(view.table)}{where} LIMIT {ROW_CAP}"
    return Query(sql, "table")


def track(panel: DashboardPanel, view: ViewTable, conds: list[str]) -> Query:
    """Points in time order, so the drawn line follows the path taken."""
    assert panel.x is not None
    columns = [panel.x, panel.y[0]]
    selected = ", ".join(ident(c) for c in columns)
    where = where_clause([*conds, *_not_null(*columns)])
    order = ident("window_start") if view.windowed else ident("updated_at")
    if panel.by is not None:
        order = f"{ident(panel.by)}, {order}"
    sql = f"SELECT {selected} FROM {ident(view.table)}{where} ORDER BY {order} LIMIT {ROW_CAP}"
    return Query(sql, "table")
