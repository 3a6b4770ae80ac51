"""Figures and widgets built from result rows (as `ResultReader` returns them: newest
first, ISO-8601 `Z` timestamps)."""

from __future__ import annotations

from typing import Any

import pytest
from dash import html

from streamdash.dashboard import figures, frames, widgets
from streamdash.spec.dashboards import DashboardPanel

T0, T1, T2 = "2024-06-01T12:00:00Z", "2024-06-01T12:00:10Z", "2024-06-01T12:00:20Z"


def panel(**fields: Any) -> DashboardPanel:
    return DashboardPanel.model_validate({"view": "v", **fields})


def metrics_rows() -> list[dict[str, Any]]:
    """Three 10 s windows of two applications, newest first."""
    rows = []
    for start, rates in ((T2, (0.5, 0.0)), (T1, (0.2, 0.1)), (T0, (0.1, 0.3))):
        for app, rate in zip(("app-1", "app-2"), rates, strict=True):
            rows.append(
                {
                    "window_start": start,
                    "application_id": app,
                    "error_rate": rate,
                    "request_count": 10,
                    "get_count": 6,
                    "post_count": 4,
                }
            )
    return rows


def test_line_has_one_trace_per_group_in_time_order() -> None:
    fig = figures.build(
        panel(panel="line", y="error_rate", by="application_id", unit="%"), metrics_rows()
    )
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"app-1", "app-2"}
    assert list(traces["app-1"].x) == [
        "2024-06-01 12:00:00",
        "2024-06-01 12:00:10",
        "2024-06-01 12:00:20",
    ]
    assert list(traces["app-1"].y) == [0.1, 0.2, 0.5]
    assert fig.layout.yaxis.tickformat == ".0%"  # fractions shown as percent
    assert fig.layout.xaxis.title.text == "time (UTC)"


def test_line_with_agg_reduces_rows_sharing_an_x() -> None:
    fig = figures.build(panel(panel="line", y="error_rate", agg="avg"), metrics_rows())
    assert len(fig.data) == 1
    assert list(fig.data[0].y) == pytest.approx([0.2, 0.15, 0.25])


def test_bar_without_x_uses_the_y_columns_as_categories() -> None:
    fig = figures.build(
        panel(panel="bar", y=["get_count", "post_count"], agg="sum"), metrics_rows()
    )
    assert list(fig.data[0].x) == ["get count", "post count"]
    assert list(fig.data[0].y) == [36, 24]


def test_bar_per_category_reduces_each_column() -> None:
    fig = figures.build(
        panel(panel="bar", x="application_id", y=["error_rate"], agg="max"), metrics_rows()
    )
    assert list(fig.data[0].x) == ["app-1", "app-2"]
    assert list(fig.data[0].y) == [0.5, 0.3]


def test_gauge_shows_the_latest_value_of_each_group() -> None:
    fig = figures.build(
        panel(panel="gauge", value="error_rate", by="application_id", unit="%", range=(0, 1)),
        metrics_rows(),
    )
    assert [(t.title.text, t.value) for t in fig.data] == [("app-1", 0.5), ("app-2", 0.0)]
    assert fig.data[0].number.valueformat == ".1%"


def test_heatmap_matrix_is_value_per_x_and_y() -> None:
    rows = [
        {"campaign_id": "email_1", "country": "US", "revenue": 10.0},
        {"campaign_id": "email_1", "country": "US", "revenue": 5.0},
        {"campaign_id": "social_2", "country": "DE", "revenue": 7.0},
    ]
    fig = figures.build(
        panel(panel="heatmap", x="campaign_id", y="country", value="revenue", agg="sum"), rows
    )
    heat = fig.data[0]
    assert list(heat.x) == ["email_1", "social_2"] and list(heat.y) == ["DE", "US"]
    assert [list(r) for r in heat.z] == [[None, 7.0], [15.0, None]]


def test_histogram_sums_precounted_rows() -> None:
    rows = [
        {"gender": "female", "nationality": "US", "user_count": 3},
        {"gender": "male", "nationality": "US", "user_count": 2},
    ]
    fig = figures.build(
        panel(panel="histogram", x="nationality", y="user_count", by="gender", unit="users"), rows
    )
    assert [(t.name, list(t.y), t.histfunc) for t in fig.data] == [
        ("female", [3.0], "sum"),
        ("male", [2.0], "sum"),
    ]
    assert fig.layout.yaxis.title.text == "user count (users)"


def test_scatter_trend_is_smoothed_over_all_points() -> None:
    rows = [{"age": a, "registered_age": a / 2} for a in range(20, 60)]
    fig = figures.build(panel(panel="scatter", x="age", y="registered_age", trend=True), rows)
    points, trend = fig.data
    assert len(points.x) == 40 and trend.name == "trend"
    assert list(trend.x) == sorted(trend.x)


def test_map_track_is_in_time_order_and_skips_missing_positions() -> None:
    rows = [
        {"window_start": T2, "device_id": "d", "avg_longitude": 2.0, "avg_latitude": 48.2},
        {"window_start": T1, "device_id": "d", "avg_longitude": None, "avg_latitude": None},
        {"window_start": T0, "device_id": "d", "avg_longitude": 1.0, "avg_latitude": 48.1},
    ]
    fig = figures.build(
        panel(panel="map", x="avg_longitude", y="avg_latitude", by="device_id"), rows
    )
    assert list(fig.data[0].x) == [1.0, 2.0] and list(fig.data[0].y) == [48.1, 48.2]
    assert fig.layout.yaxis.scaleanchor == "x"


def test_no_rows_is_the_waiting_state() -> None:
    fig = figures.build(panel(panel="line", y="error_rate"), [])
    assert fig.layout.annotations[0].text == figures.WAITING
    assert widgets.build(panel(panel="stat", value="x"), []).children == figures.WAITING


def test_many_traces_move_the_legend_below_the_plot() -> None:
    rows = [{"window_start": T0, "device_id": f"device-{i}", "a": 1, "b": 2} for i in range(4)]
    fig = figures.build(panel(panel="line", y=["a", "b"], by="device_id"), rows)
    assert len(fig.data) == 8
    assert fig.layout.legend.y < 0 and fig.layout.height > 330


def _text(component: Any) -> str:
    if isinstance(component, str):
        return component
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if isinstance(children, list):
        return " ".join(_text(c) for c in children)
    return _text(children)


def test_stat_card_formats_the_reduced_value() -> None:
    card = widgets.build(
        panel(panel="stat", value="request_count", agg="sum", unit="requests"), metrics_rows()
    )
    assert _text(card) == "60  requests"


def test_table_sorts_limits_and_formats() -> None:
    rows = [{"user_id": i, "total": i * 1000, "seen": T0} for i in range(1, 6)]
    table = widgets.build(
        panel(panel="table", y=["user_id", "total", "seen"], sort="-total", limit=2), rows
    )
    body = table.children[1]
    assert isinstance(body, html.Tbody)
    cells = [[_text(td) for td in tr.children] for tr in body.children]
    assert cells == [["5", "5,000", "2024-06-01 12:00:00"], ["4", "4,000", "2024-06-01 12:00:00"]]


def test_select_applies_the_panel_where_and_page_filters() -> None:
    rows = metrics_rows()
    chosen = frames.select(rows, panel(panel="line", y="e", where={"application_id": "app-2"}), {})
    assert {r["application_id"] for r in chosen} == {"app-2"}
    filtered = frames.select(rows, panel(panel="line", y="e"), {"application_id": ["app-1"]})
    assert {r["application_id"] for r in filtered} == {"app-1"}
    # A filter on a column the view does not have leaves its panels alone.
    assert len(frames.select(rows, panel(panel="line", y="e"), {"device_id": ["d"]})) == 6
