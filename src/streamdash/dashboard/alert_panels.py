"""Alerts on the dashboard: a banner with the open alerts on every page, and the list of
recent alerts on the overview. Both are drawn from ONE shared query per tick (the newest
alerts from the `alerts` table, through the dashboard's cache)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import html

from streamdash.dashboard.libs import dbc

BANNER_ID = "alerts-banner"
LIST_ID = {"kind": "alerts", "page": "overview", "index": 0}
SHOWN_IN_BANNER = 5

Alert = Mapping[str, Any]
_SEVERITY_COLOR = {"critical": "danger", "warning": "warning", "info": "info"}


def _key(alert: Alert) -> str:
    key = alert.get("key") or {}
    return ", ".join(f"{k}={v}" for k, v in key.items()) or "all"


def _when(text: object) -> str:
    """`2024-05-01T12:00:03.123Z` -> `2024-05-01 12:00:03`."""
    return "" if not isinstance(text, str) else text.replace("T", " ")[:19]


def open_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    return [a for a in alerts if a.get("state") == "open"]


def banner(alerts: Sequence[Alert]) -> tuple[Any, bool, str]:
    """(children, is_open, colour) of the banner shown on every page."""
    current = open_alerts(alerts)
    if not current:
        return None, False, "warning"
    critical = any(a.get("severity") == "critical" for a in current)
    items = [
        html.Li(
            [html.Strong(f"{a['rule']} "), f"({_key(a)}): {a.get('message') or ''}"],
            className="sd-alert-item",
        )
        for a in current[:SHOWN_IN_BANNER]
    ]
    more = len(current) - SHOWN_IN_BANNER
    if more > 0:
        items.append(html.Li(html.A(f"… and {more} more", href="/")))
    noun = "alert" if len(current) == 1 else "alerts"
    children = [html.Div(f"{len(current)} open {noun}"), html.Ul(items, className="mb-0")]
    return children, True, "danger" if critical else "warning"


def _row(alert: Alert) -> html.Tr:
    state = str(alert.get("state"))
    severity = str(alert.get("severity"))
    badge = dbc.Badge(severity, color=_SEVERITY_COLOR.get(severity, "secondary"))
    status = dbc.Badge(state, color="danger" if state == "open" else "success", pill=True)
    cells = [status, badge, alert.get("rule"), _key(alert), alert.get("message"),
             _when(alert.get("opened_at")), _when(alert.get("resolved_at"))]  # fmt: skip
    return html.Tr([html.Td(cell) for cell in cells], className=f"sd-alert-{state}")


def alert_list(alerts: Sequence[Alert] | None) -> Any:
    """The overview's table: open alerts first, then the recently resolved ones."""
    if alerts is None:
        return html.Span("Alerts are not available here.", className="text-muted")
    if not alerts:
        return html.Span("No alerts so far.", className="text-muted")
    ordered = open_alerts(alerts) + [a for a in alerts if a.get("state") != "open"]
    head = html.Thead(
        html.Tr(
            [html.Th(h) for h in ("", "severity", "rule", "key", "message", "opened", "resolved")]
        )
    )
    return dbc.Table(
        [head, html.Tbody([_row(a) for a in ordered])],
        size="sm", hover=True, responsive=True, className="mb-0",
    )  # fmt: skip


def list_section() -> Any:
    """The overview's alerts card (filled by the refresh callback)."""
    return dbc.Card(
        [dbc.CardHeader(html.Span("Alerts", className="fw-bold")),
         dbc.CardBody(html.Div(id=LIST_ID, children="Waiting for data…"))],
        className="sd-panel mt-3", id="alerts",
    )  # fmt: skip
