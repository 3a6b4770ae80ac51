"""One Grafana panel (dashboard JSON model) per spec panel, without its id and position
(`dashboard.py` lays the panels out).

Panel type mapping (the `filter` type is a template variable, see `variables.py`):
line -> timeseries (xychart over a non-time x), gauge -> gauge, stat -> stat,
bar -> barchart, table -> table, heatmap -> table with an x-by-y grid and coloured cells
(Grafana's heatmap panel needs numeric buckets; ours are categories), scatter -> xychart,
histogram -> histogram (barchart when rows are pre-counted), map -> xychart with lines
(a geomap needs map tiles from the internet; the built-in dashboard is offline too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from streamdash.grafana import queries
from streamdash.grafana.queries import Query
from streamdash.grafana.sqltext import ViewTable
from streamdash.spec.dashboards import DashboardPanel

JSON = dict[str, Any]

_LEGEND: JSON = {"displayMode": "list", "placement": "bottom", "showLegend": True}
_TOOLTIP: JSON = {"mode": "multi", "sort": "none"}
# Spec units Grafana knows by another name; any other unit is shown as a suffix.
_UNITS = {"%": "percentunit", "ms": "ms", "s": "s", "USD": "currencyUSD", "EUR": "currencyEUR"}


def grafana_unit(unit: str | None) -> str | None:
    """`%` in the spec means fractions shown as percent: exactly Grafana's `percentunit`."""
    if unit is None:
        return None
    return _UNITS.get(unit, f"suffix: {unit}")


def _field_config(panel: DashboardPanel, custom: JSON | None = None) -> JSON:
    defaults: JSON = {}
    unit = grafana_unit(panel.unit)
    if unit is not None:
        defaults["unit"] = unit
    if custom is not None:
        defaults["custom"] = custom
    return {"defaults": defaults, "overrides": []}


def _matrix(row: str, column: str, value: str) -> JSON:
    """Pivot (row, column, value) rows into a grid: one field per `column` value."""
    return {
        "id": "groupingToMatrix",
        "options": {"rowField": row, "columnField": column, "valueField": value},
    }


def _timeseries(panel: DashboardPanel, query: Query) -> JSON:
    custom = {"drawStyle": "line", "lineWidth": 2, "showPoints": "never", "spanNulls": True}
    return {
        "type": "timeseries",
        "fieldConfig": _field_config(panel, custom),
        "options": {"legend": _LEGEND, "tooltip": _TOOLTIP},
    }


def _xychart(panel: DashboardPanel, query: Query, show: str) -> JSON:
    assert panel.x is not None
    custom = {"show": show, "pointSize": {"fixed": 5}, "lineWidth": 1}
    return {
        "type": "xychart",
        "fieldConfig": _field_config(panel, custom),
        "options": {
            "seriesMapping": "auto",
            "dims": {"x": panel.x},
            "series": [],
            "legend": _LEGEND,
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def _gauge(panel: DashboardPanel, query: Query) -> JSON:
    config = _field_config(panel)
    low, high = panel.range or ((0.0, 1.0) if panel.unit == "%" else (None, None))
    steps: list[JSON] = [{"color": "green", "value": None}]
    if low is not None and high is not None:
        config["defaults"] |= {"min": low, "max": high}
        span = high - low
        steps += [{"color": "orange", "value": round(low + 0.5 * span, 9)}]
        steps += [{"color": "red", "value": round(low + 0.8 * span, 9)}]
    config["defaults"]["thresholds"] = {"mode": "absolute", "steps": steps}
    return {
        "type": "gauge",
        "fieldConfig": config,
        "options": {
            # values: one gauge per row (= per `by` value), titled by the row's text field
            "reduceOptions": {"values": True, "calcs": ["lastNotNull"], "fields": ""},
            "orientation": "auto",
            "showThresholdLabels": False,
            "showThresholdMarkers": True,
        },
    }


def _stat(panel: DashboardPanel, query: Query) -> JSON:
    return {
        "type": "stat",
        "fieldConfig": _field_config(panel),
        "options": {
            "reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "textMode": "auto",
            "orientation": "auto",
        },
    }


def _barchart(panel: DashboardPanel, x_field: str, series: str | None) -> JSON:
    options: JSON = {
        "orientation": "auto",
        "showValue": "auto",
        "stacking": "none",
        "groupWidth": 0.7,
        "barWidth": 0.97,
        "legend": _LEGEND,
        "tooltip": _TOOLTIP,
    }
    out: JSON = {"type": "barchart", "fieldConfig": _field_config(panel), "options": options}
    if series is not None and len(panel.y) == 1:
        # one bar series per `by` value: pivot, then the first (text) field is the x axis
        out["transformations"] = [_matrix(x_field, series, panel.y[0])]
        options["stacking"] = "normal"
    else:
        options["xField"] = x_field
    return out


def _bar(panel: DashboardPanel, query: Query) -> JSON:
    category = panel.x or panel.by
    if category is None:
        return _barchart(panel, "category", None)
    series = panel.by if panel.x is not None and panel.by != panel.x else None
    return _barchart(panel, category, series)


def _table(panel: DashboardPanel, query: Query) -> JSON:
    # no unit: it would apply to every numeric column, ids and counts included
    return {
        "type": "table",
        "fieldConfig": {
            "defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
            "overrides": [],
        },
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
    }


def _heatmap(panel: DashboardPanel, query: Query) -> JSON:
    assert panel.x is not None and panel.value is not None
    custom = {"align": "auto", "cellOptions": {"type": "color-background"}}
    config = _field_config(panel, custom)
    config["defaults"]["color"] = {"mode": "continuous-BlYlRd"}
    return {
        "type": "table",
        "fieldConfig": config,
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        "transformations": [_matrix(panel.x, panel.y[0], panel.value)],
    }


def _histogram(panel: DashboardPanel, query: Query) -> JSON:
    assert panel.x is not None
    if panel.y:  # pre-counted rows: the counts are the bar heights
        return _barchart(panel, panel.x, panel.by)
    return {
        "type": "histogram",
        "fieldConfig": _field_config(panel),
        "options": {"bucketCount": 20, "combine": False, "legend": _LEGEND},
    }


def _line(panel: DashboardPanel, query: Query) -> JSON:
    if queries.line_is_timeseries(panel):
        return _timeseries(panel, query)
    return _xychart(panel, query, "lines")


Builder = Callable[[DashboardPanel, ViewTable, list[str]], Query]
Shaper = Callable[[DashboardPanel, Query], JSON]

_BY_TYPE: dict[str, tuple[Builder, Shaper]] = {
    "gauge": (queries.gauge, _gauge),
    "stat": (queries.stat, _stat),
    "bar": (queries.bar, _bar),
    "table": (queries.table, _table),
    "heatmap": (queries.heatmap, _heatmap),
    "scatter": (queries.scatter, lambda p, q: _xychart(p, q, "points")),
    "histogram": (queries.histogram, _histogram),
    "map": (queries.track, lambda p, q: _xychart(p, q, "points+lines")),
}


def panel_query(panel: DashboardPanel, view: ViewTable, filters: Sequence[str]) -> Query:
    """The panel's SQL, Grafana macros included."""
    conds = queries.conditions(panel, view, filters)
    if panel.panel == "line":
        build = queries.line if queries.line_is_timeseries(panel) else queries.line_xy
        return build(panel, view, conds)
    if panel.panel not in _BY_TYPE:
        raise ValueError(f"a {panel.panel} panel is not drawn as a Grafana panel")
    return _BY_TYPE[panel.panel][0](panel, view, conds)


def grafana_panel(
    panel: DashboardPanel, view: ViewTable, filters: Sequence[str], datasource: JSON
) -> JSON:
    """The panel JSON (no `id`/`gridPos`) with its raw-SQL target."""
    query = panel_query(panel, view, filters)
    shaped = (
        _line(panel, query) if panel.panel == "line" else _BY_TYPE[panel.panel][1](panel, query)
    )
    target = {
        "refId": "A",
        "datasource": datasource,
        "editorMode": "code",
        "rawQuery": True,
        "rawSql": query.sql,
        "format": query.format,
    }
    return {
        "type": shaped.pop("type"),
        "title": panel.heading,
        "datasource": datasource,
        "targets": [target],
        **shaped,
    }
