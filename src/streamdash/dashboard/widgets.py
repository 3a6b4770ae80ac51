"""Panels drawn as HTML rather than Plotly: stat cards and tables (Bootstrap styled, so
they follow the theme and stay readable at any width)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import html

from streamdash.dashboard import frames
from streamdash.dashboard.figures import WAITING
from streamdash.dashboard.frames import Row
from streamdash.dashboard.libs import dbc
from streamdash.spec.dashboards import DashboardPanel

HTML_PANELS = frozenset({"stat", "table"})


def waiting() -> html.Div:
    return html.Div(WAITING, className="sd-waiting")


def stat(panel: DashboardPanel, rows: Sequence[Row]) -> Any:
    """A big number: the panel's `value` reduced over the rows (`last` by default)."""
    assert panel.value is not None
    if not rows:
        return waiting()
    value = frames.reduce(rows, [], panel.value, panel.reducer).get(())
    unit = None if frames.is_percent(panel) else panel.unit
    return html.Div(
        [
            html.Span(frames.format_value(value, panel.unit), className="sd-stat-value"),
            html.Span(f" {unit}" if unit else "", className="sd-stat-unit"),
        ],
        className="sd-stat",
    )


def _sorted(panel: DashboardPanel, rows: Sequence[Row]) -> list[Row]:
    if panel.sort is None:
        return list(rows)
    column = panel.sort.removeprefix("-")
    descending = panel.sort.startswith("-")
    present = [r for r in rows if r.get(column) is not None]
    missing = [r for r in rows if r.get(column) is None]
    ordered = sorted(present, key=lambda r: frames.sort_key(r[column]), reverse=descending)
    return ordered + missing  # rows without a value go last either way


def table(panel: DashboardPanel, rows: Sequence[Row]) -> Any:
    """The top `limit` rows (10 by default) in `sort` order, `y` columns (default all)."""
    if not rows:
        return waiting()
    columns = panel.y or [c for c in rows[0] if c not in ("final", "updated_at")]
    shown = _sorted(panel, rows)[: panel.limit or 10]
    numeric = {c for c in columns if any(frames.number(r.get(c)) is not None for r in shown)}
    head = html.Thead(
        html.Tr(
            [
                html.Th(frames.label(c), className="text-end" if c in numeric else None)
                for c in columns
            ]
        )
    )
    unit = panel.unit if frames.is_percent(panel) else None
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(
                        frames.format_value(row.get(c), unit),
                        className="text-end font-monospace" if c in numeric else None,
                    )
                    for c in columns
                ]
            )
            for row in shown
        ]
    )
    return dbc.Table([head, body], striped=True, hover=True, size="sm", className="mb-0 sd-table")


def build(panel: DashboardPanel, rows: Sequence[Row]) -> Any:
    return stat(panel, rows) if panel.panel == "stat" else table(panel, rows)
