"""The page structure: the shell (navbar, time range, error banner, refresh timer) and
one page per stream generated from its panels. Components that the refresh callback
fills carry pattern-matching ids `{"kind", "page", "index"}`: the callback learns from
the ids it is asked for which panels to draw, so it can never mix up two pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import dcc, html

from streamdash.dashboard import alert_panels, figures, widgets
from streamdash.dashboard.data import CUSTOM, DEFAULT_RANGE, RANGES
from streamdash.dashboard.libs import dbc, themed
from streamdash.spec.dashboards import DashboardPanel

REFRESH_MS = 500
"""How often a page asks for new data: with the shared cache's TTL a little under it, a
committed row is on screen within ~1 s (the benchmark measures it: docs/benchmarks.md).
Asking is cheap: an unchanged page gets "no update" and redraws nothing."""
SHOWN_ID = "shown"
"""Store of the version of what the page shows (see `refresh.Update.version`)."""
OVERVIEW = "overview"

GRAPH_CONFIG: Any = {"displaylogo": False, "responsive": True}


def graph_id(page: str, index: int) -> dict[str, Any]:
    return {"kind": "graph", "page": page, "index": index}


def html_id(page: str, index: int) -> dict[str, Any]:
    return {"kind": "html", "page": page, "index": index}


def filter_id(page: str, column: str) -> dict[str, Any]:
    return {"kind": "filter", "page": page, "column": column}


def range_id(page: str) -> dict[str, Any]:
    return {"kind": "range", "page": page}


def custom_id(part: str, page: str) -> dict[str, Any]:
    """The custom range's parts: `box` (shown only for "custom"), `from`, `to`, `problem`."""
    return {"kind": f"custom-{part}", "page": page}


def page_path(stream: str) -> str:
    return f"/streams/{stream}"


def _navbar(streams: Sequence[str]) -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink("Overview", href="/", active="exact"))]
    links += [
        dbc.NavItem(dbc.NavLink(stream, href=page_path(stream), active="exact"))
        for stream in streams
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("streamdash", href="/", className="fw-bold"),
                dbc.Nav(links, navbar=True, className="me-auto"),
                html.Span(id="updated", className="navbar-text small text-muted"),
            ],
            fluid=True,
        ),
        color="primary",
        dark=True,
        className="mb-3",
    )


def _range_picker(page: str) -> html.Div:
    return html.Div(
        [
            html.Span("Time range", className="me-2 text-muted small"),
            dbc.RadioItems(
                id=range_id(page),
                persistence=True,
                options=[{"label": r.label, "value": key} for key, r in RANGES.items()],
                value=DEFAULT_RANGE,
                inline=True,
                className="btn-group btn-group-sm",
                inputClassName="btn-check",
                labelClassName="btn btn-outline-info",
                labelCheckedClassName="active",
            ),
            _custom_range(page),
        ],
        className="d-flex align-items-center flex-wrap gap-2",
    )


def _custom_range(page: str) -> html.Div:
    """From/to boxes in Grafana's spirit: `now-6h` .. `now`, or absolute UTC times."""

    def box(part: str, placeholder: str, value: str) -> dcc.Input:
        return dcc.Input(
            id=custom_id(part, page),
            value=value,
            placeholder=placeholder,
            debounce=True,  # applied on Enter or leaving the box, not per keystroke
            persistence=True,
            className="form-control form-control-sm sd-custom-input",
        )

    return html.Div(
        [
            html.Span("from", className="text-muted small"),
            box("from", "now-6h or 2026-12-01 17:00", "now-6h"),
            html.Span("to", className="text-muted small"),
            box("to", "now", "now"),
            html.Small(id=custom_id("problem", page), className="text-danger"),
        ],
        id=custom_id("box", page),
        className="align-items-center gap-1 sd-custom",
        style=custom_style(DEFAULT_RANGE),
        title="UTC. Relative: now, now-15min, now-2h, now-1d. Absolute: 2026-12-01 17:00",
    )


def custom_style(range_key: str | None) -> dict[str, str]:
    return {"display": "flex" if range_key == CUSTOM else "none"}


def shell(streams: Sequence[str]) -> html.Div:
    return html.Div(
        [
            dcc.Location(id="url"),
            dcc.Interval(id="tick", interval=REFRESH_MS),
            dcc.Store(id=SHOWN_ID),
            _navbar(streams),
            dbc.Container(
                [
                    dbc.Alert(id="db-error", color="danger", is_open=False, className="sd-banner"),
                    dbc.Alert(
                        id=alert_panels.BANNER_ID,
                        color="warning",
                        is_open=False,
                        className="sd-banner sd-alerts-banner",
                    ),
                    html.Div(id="page"),
                ],
                fluid=True,
            ),
        ]
    )


def _panel_card(page: str, index: int, panel: DashboardPanel) -> dbc.Col:
    body: Any
    if panel.panel in widgets.HTML_PANELS:
        body = html.Div(widgets.waiting(), id=html_id(page, index))
    else:
        empty = themed(figures.empty())
        body = dcc.Graph(id=graph_id(page, index), figure=empty, config=GRAPH_CONFIG)
    header = [html.Span(panel.heading, className="sd-panel-title")]
    if panel.unit and panel.panel not in ("stat", "table"):
        header.append(dbc.Badge(panel.unit, color="secondary", className="ms-2"))
    return dbc.Col(
        dbc.Card(
            [dbc.CardHeader(header), dbc.CardBody(body, className="p-2")],
            className="h-100 sd-panel",
            id=f"panel-{page}-{index}",
        ),
        lg=panel.width,
        md=max(panel.width, 6),
        xs=12,
        className="mb-3",
    )


def _filters(page: str, panels: Sequence[DashboardPanel]) -> list[Any]:
    out = []
    for panel in panels:
        if panel.panel != "filter" or panel.by is None:
            continue
        out.append(
            html.Div(
                [
                    html.Span(panel.title or panel.by, className="me-2 text-muted small"),
                    dcc.Dropdown(
                        id=filter_id(page, panel.by),
                        options=[],
                        multi=True,
                        placeholder=f"all {panel.by} values",
                        className="sd-filter",
                    ),
                ],
                className="d-flex align-items-center me-4",
            )
        )
    return out


def stream_page(stream: str, description: str, panels: Sequence[DashboardPanel]) -> html.Div:
    cards = [
        _panel_card(stream, index, panel)
        for index, panel in enumerate(panels)
        if panel.panel != "filter"
    ]
    if not cards:
        cards = [
            dbc.Col(dbc.Alert(f"No panels: add some under dashboards.{stream}.", color="info"))
        ]
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H3(stream, className="mb-0"),
                            html.Small(description, className="text-muted"),
                        ],
                        className="me-auto",
                    ),
                    *_filters(stream, panels),
                    _range_picker(stream),
                ],
                className="d-flex flex-wrap align-items-center gap-2 mb-3",
            ),
            dbc.Row(cards, className="g-3"),
        ]
    )


def not_found(path: str, pages: Mapping[str, object]) -> dbc.Alert:
    return dbc.Alert(
        [f"No page at {path}. Pages: ", ", ".join(["/", *(page_path(p) for p in pages)])],
        color="warning",
    )
