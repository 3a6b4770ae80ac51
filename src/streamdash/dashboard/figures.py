"""Plotly figures from a panel and its rows: one builder per chart type. Pure (rows in,
figure out) so each is unit-tested without a browser or a database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from streamdash.dashboard import frames, special, style
from streamdash.dashboard.frames import Row
from streamdash.dashboard.libs import Figure, go
from streamdash.spec.dashboards import DashboardPanel

WAITING = "Waiting for data…"

_AGG_WORDS = {"last": "latest", "sum": "total", "avg": "mean", "max": "max", "min": "min",
              "count": "count"}  # fmt: skip


def _axis_title(text: str, unit: str | None) -> str:
    return f"{text} ({unit})" if unit and unit != "%" else text


def empty(message: str = WAITING) -> Figure:
    """The 'waiting for data' state: no axes, one centred line of text."""
    figure = go.Figure()
    figure.update_layout(
        height=300,
        margin={"l": 16, "r": 16, "t": 16, "b": 16},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "font": {"size": 16, "color": "#888"},
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
            }
        ],
    )
    return figure


def _hover(unit: str | None, percent: bool) -> str:
    value = "%{y:.1%}" if percent else "%{y:,.4~g}" + (f" {unit}" if unit else "")
    return "%{fullData.name}<br>%{x}<br><b>" + value + "</b><extra></extra>"


def _trace_name(group: Any, column: str, panel: DashboardPanel) -> str:
    if group is None:
        return frames.label(column)
    name = frames.short(group)
    return name if len(panel.y) == 1 else f"{name} · {frames.label(column)}"


def line(panel: DashboardPanel, rows: Sequence[Row]) -> Figure:
    x = panel.x or "window_start"
    figure = go.Figure()
    for group, members in frames.groups(rows, panel.by):
        for column in panel.y:
            if panel.agg is not None:  # several rows per x (other keys): reduce them
                reduced = frames.reduce(members, [x], column, panel.reducer)
                points = sorted(((k[0], v) for k, v in reduced.items()), key=lambda p: p[0])
            else:
                points = sorted(((r.get(x), frames.number(r.get(column))) for r in members),
                                key=lambda p: frames.sort_key(p[0]))  # fmt: skip
            figure.add_scatter(
                x=[frames.plot_time(p[0]) for p in points],
                y=[p[1] for p in points],
                mode="lines+markers",
                marker={"size": 5},
                name=_trace_name(group, column, panel),
                hovertemplate=_hover(panel.unit, frames.is_percent(panel)),
            )
    figure.update_xaxes(title_text="time (UTC)" if x in ("window_start", "window_end") else x)
    # Several y columns share the axis: name it by their unit, not by the first column.
    y_title = frames.label(panel.y[0]) if len(panel.y) == 1 else "value"
    figure.update_yaxes(title_text=_axis_title(y_title, panel.unit))
    return style.base(panel, figure)


def bar(panel: DashboardPanel, rows: Sequence[Row]) -> Figure:
    figure = go.Figure()
    hover = _hover(panel.unit, frames.is_percent(panel))
    if panel.x is None:  # the y columns are the categories (e.g. requests per method)
        values = [frames.reduce(rows, [], c, panel.reducer).get((), None) for c in panel.y]
        figure.add_bar(x=[frames.label(c) for c in panel.y], y=values, name="", hovertemplate=hover)
        figure.update_layout(showlegend=False)
    else:
        for group, members in frames.groups(rows, panel.by):
            for column in panel.y:
                reduced = frames.reduce(members, [panel.x], column, panel.reducer)
                keys = sorted(reduced, key=lambda k: frames.sort_key(k[0]))
                figure.add_bar(
                    x=[str(k[0]) for k in keys],
                    y=[reduced[k] for k in keys],
                    name=_trace_name(group, column, panel),
                    hovertemplate=hover,
                )
        figure.update_xaxes(title_text=frames.label(panel.x), type="category")
    figure.update_layout(barmode="group")
    figure.update_yaxes(title_text=_axis_title(_AGG_WORDS[panel.reducer], panel.unit))
    return style.base(panel, figure)


def heatmap(panel: DashboardPanel, rows: Sequence[Row]) -> Figure:
    assert panel.x is not None and panel.value is not None
    y = panel.y[0]
    reduced = frames.reduce(rows, [panel.x, y], panel.value, panel.agg or "sum")
    xs = sorted({k[0] for k in reduced}, key=frames.sort_key)
    ys = sorted({k[1] for k in reduced}, key=frames.sort_key)
    z = [[reduced.get((xv, yv)) for xv in xs] for yv in ys]
    unit = f" {panel.unit}" if panel.unit else ""
    figure = go.Figure(
        go.Heatmap(
            x=[str(v) for v in xs],
            y=[str(v) for v in ys],
            z=z,
            colorscale="Viridis",
            hovertemplate=f"{panel.x}: %{{x}}<br>{y}: %{{y}}<br>"
            f"<b>%{{z:,.2f}}{unit}</b><extra></extra>",
            colorbar={"title": {"text": _axis_title(frames.label(panel.value), panel.unit)}},
        )
    )
    figure.update_xaxes(title_text=frames.label(panel.x), type="category")
    figure.update_yaxes(title_text=frames.label(y), type="category")
    return style.base(panel, figure)


def _moving_average(points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """A smoothed trend: the mean of y over a sliding window of nearby x (10% of points)."""
    points.sort()
    half = max(1, len(points) // 20)
    xs, ys = [], []
    for i in range(len(points)):
        window = points[max(0, i - half) : i + half + 1]
        xs.append(points[i][0])
        ys.append(sum(p[1] for p in window) / len(window))
    return xs, ys


def scatter(panel: DashboardPanel, rows: Sequence[Row]) -> Figure:
    assert panel.x is not None
    x, y = panel.x, panel.y[0]
    figure = go.Figure()
    everything: list[tuple[float, float]] = []
    for group, members in frames.groups(rows, panel.by):
        points = [(frames.number(r.get(x)), frames.number(r.get(y))) for r in members]
        kept = [(px, py) for px, py in points if px is not None and py is not None]
        everything += kept
        figure.add_scatter(
            x=[p[0] for p in kept],
            y=[p[1] for p in kept],
            mode="markers",
            marker={"size": 7, "opacity": 0.75},
            name=frames.short(group) if group is not None else frames.label(y),
            hovertemplate=f"{x}: %{{x}}<br>{y}: %{{y}}<extra>%{{fullData.name}}</extra>",
        )
    if panel.trend and len(everything) >= 3:
        tx, ty = _moving_average(everything)
        figure.add_scatter(x=tx, y=ty, mode="lines", name="trend", line={"width": 3})
    figure.update_xaxes(title_text=_axis_title(frames.label(x), panel.unit))
    figure.update_yaxes(title_text=_axis_title(frames.label(y), panel.unit))
    return style.base(panel, figure)


def histogram(panel: DashboardPanel, rows: Sequence[Row]) -> Figure:
    assert panel.x is not None
    weights = panel.y[0] if panel.y else None
    figure = go.Figure()
    for group, members in frames.groups(rows, panel.by):
        kwargs: dict[str, Any] = {}
        if weights is not None:  # pre-counted rows: sum the counts instead of counting
            kwargs = {"y": [frames.number(r.get(weights)) for r in members], "histfunc": "sum"}
        figure.add_histogram(
            x=[r.get(panel.x) for r in members],
            name=frames.short(group) if group is not None else frames.label(panel.x),
            **kwargs,
        )
    figure.update_layout(barmode="stack", showlegend=panel.by is not None)
    if weights is not None:  # the unit is the counted thing's: it belongs on the y axis
        figure.update_xaxes(title_text=frames.label(panel.x))
        figure.update_yaxes(title_text=_axis_title(frames.label(weights), panel.unit))
    else:
        figure.update_xaxes(title_text=_axis_title(frames.label(panel.x), panel.unit))
        figure.update_yaxes(title_text="count")
    return style.base(panel, figure)


BUILDERS: dict[str, Callable[[DashboardPanel, Sequence[Row]], Figure]] = {
    "line": line,
    "bar": bar,
    "heatmap": heatmap,
    "scatter": scatter,
    "histogram": histogram,
    "map": special.track,
    "gauge": special.gauge,
}


def build(panel: DashboardPanel, rows: Sequence[Row]) -> Figure:
    """The figure of a chart panel; the empty state when no row matches."""
    if not rows:
        return empty()
    return BUILDERS[panel.panel](panel, rows)
