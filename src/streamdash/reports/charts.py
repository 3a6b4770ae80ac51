"""Plotly figures of a report's charts, in the dashboard's dark template. Pure: a section's
rows in, a figure out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from streamdash.dashboard.libs import Figure, figure_template, go
from streamdash.reports.cells import MISSING
from streamdash.reports.definitions import Chart, Format

_HOVER_VALUE: Mapping[Format, str] = {
    "percent": "%{y:.2%}",
    "money": "%{y:,.2f}",
    "ms": "%{y:,.1f} ms",
    "int": "%{y:,}",
}
_MARKERS_UP_TO = 60
"""Short lines get a marker per point: with a handful of points the bucket is the reading."""


def _label(value: object) -> str:
    return MISSING if value is None else str(value)


def figure(chart: Chart, rows: pa.Table, formats: Mapping[str, Format]) -> Figure:
    fmt = formats.get(chart.y, "float")
    hover = "%{x}<br><b>" + _HOVER_VALUE.get(fmt, "%{y:,.4~g}") + "</b>"
    data = rows.to_pydict()
    traces: list[Any] = []
    if chart.kind == "bar":
        traces.append(
            go.Bar(
                x=[_label(v) for v in data[chart.x]],
                y=data[chart.y],
                marker_color="#00bc8c",
                hovertemplate=hover + "<extra></extra>",
            )
        )
    else:
        groups: dict[str, tuple[list[object], list[object]]] = {}
        keys = data[chart.color] if chart.color else [None] * rows.num_rows
        for key, x, y in zip(keys, data[chart.x], data[chart.y], strict=True):
            xs, ys = groups.setdefault(_label(key), ([], []))
            xs.append(x)
            ys.append(y)
        for name, (xs, ys) in sorted(groups.items()):
            mode = "lines" if len(xs) > _MARKERS_UP_TO else "lines+markers"
            traces.append(
                go.Scatter(
                    x=xs, y=ys, name=name, mode=mode,
                    hovertemplate=f"{name}<br>{hover}<extra></extra>",
                )
            )  # fmt: skip
    fig = go.Figure(traces)
    fig.update_layout(
        template=figure_template(),
        title={"text": chart.title, "font": {"size": 15}},
        height=340,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        legend={"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0},
        showlegend=chart.kind == "line",
    )
    if fmt == "percent":
        fig.update_yaxes(tickformat=".1%")
    return fig
