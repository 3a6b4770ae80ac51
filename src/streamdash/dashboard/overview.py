"""The overview page: one card per stream with its throughput, lag, watermark delay,
late/rejected counts, latest event time and a sparkline of processed events/s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dash import dcc, html

from streamdash.dashboard import alert_panels, figures
from streamdash.dashboard.frames import MISSING
from streamdash.dashboard.health import StreamHealth
from streamdash.dashboard.layout import page_path
from streamdash.dashboard.libs import Figure, dbc, go, themed

OVERVIEW_ID = {"kind": "overview", "page": "overview", "index": 0}


def page() -> html.Div:
    return html.Div(
        [
            html.H3("Overview", className="mb-0"),
            html.Small(
                "Every stream at a glance: events received and processed per second, "
                "backlog, watermark delay, late and rejected events.",
                className="text-muted d-block mb-3",
            ),
            html.Div(id=OVERVIEW_ID, children=figures.WAITING),
            alert_panels.list_section(),
        ]
    )


def _rate(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.1f}"


def _count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def _time(us: int | None) -> str:
    if us is None:
        return MISSING
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    if abs(seconds) < 120:
        return f"{seconds:,.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds / 3600:,.1f} h"


def sparkline(history: Sequence[float]) -> Figure:
    figure = go.Figure(
        go.Scatter(
            y=list(history),
            mode="lines",
            fill="tozeroy",
            line={"width": 2, "color": "#00bc8c"},
            hovertemplate="%{y:,.1f} events/s<extra></extra>",
        )
    )
    figure.update_layout(
        height=60,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        xaxis={"visible": False},
        yaxis={"visible": False, "rangemode": "tozero"},
        showlegend=False,
    )
    return figure


def _metric(name: str, value: str, warn: bool = False) -> dbc.Col:
    return dbc.Col(
        [
            html.Div(name, className="small text-muted"),
            html.Div(value, className="fs-5 font-monospace" + (" text-warning" if warn else "")),
        ],
        xs=6,
        md=3,
        className="mb-2",
    )


def _card(health: StreamHealth, now_us: float) -> dbc.Col:
    delay = health.watermark_delay_s(now_us)
    metrics = [
        _metric("received /s", _rate(health.in_rate)),
        _metric("processed /s", _rate(health.out_rate)),
        _metric("lag (events)", _count(health.lag), warn=bool(health.lag and health.lag > 10_000)),
        _metric("watermark delay", _delay(delay)),
        _metric("late", _count(health.late), warn=health.late > 0),
        _metric("rejected", _count(health.rejected), warn=health.rejected > 0),
        _metric("processed (total)", _count(health.processed)),
        _metric("received (total)", _count(health.received)),
    ]
    body = [
        dbc.Row(metrics),
        html.Div(
            ["latest event ", html.Span(_time(health.latest_event_us), className="text-body")],
            className="small text-muted",
        ),
    ]
    if len(health.history) >= 2:
        body.append(
            dcc.Graph(
                figure=themed(sparkline(health.history)),
                config={"displayModeBar": False, "staticPlot": True},
                className="mt-2",
            )
        )
    header = html.A(health.stream, href=page_path(health.stream), className="fw-bold")
    return dbc.Col(
        dbc.Card(
            [dbc.CardHeader(header), dbc.CardBody(body)],
            className="h-100 sd-panel",
            id=f"stream-{health.stream}",
        ),
        lg=6,
        xl=4,
        xs=12,
        className="mb-3",
    )


def render(healths: Sequence[StreamHealth], now_us: float) -> Any:
    if not healths:
        return dbc.Alert("No streams in the spec.", color="info")
    return dbc.Row([_card(health, now_us) for health in healths], className="g-3")
