"""The Dash app and `serve_dashboard`, the entry point of `streamdash dashboard`.

Everything the browser loads comes from this server: Dash's own JS bundles
(`serve_locally`), the Bootswatch DARKLY CSS vendored in `assets/` (see
scripts/fetch_assets.sh) and our small stylesheet. No CDN, so it works offline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dash
from dash import ALL, MATCH, Dash, Input, Output, State, ctx
from flask import jsonify
from werkzeug.serving import BaseWSGIServer, make_server

from streamdash.config import Settings
from streamdash.dashboard import alert_panels, layout, overview
from streamdash.dashboard.data import DashboardData
from streamdash.dashboard.health import HealthTracker
from streamdash.dashboard.refresh import Refresher, Update, period_of, updated_label
from streamdash.spec.dashboards import DashboardPanel, parse_dashboards
from streamdash.spec.models import Pipeline

ASSETS = Path(__file__).parent / "assets"
STATS_PATH = "/_streamdash/stats"

log = logging.getLogger(__name__)


def _pattern(kind: str, last: str = "index") -> dict[str, Any]:
    return {"kind": kind, "page": ALL, last: ALL}


def _register(app: Dash, pages: Mapping[str, Sequence[DashboardPanel]], pipeline: Pipeline,
              refresher: Refresher) -> None:  # fmt: skip
    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def render_page(path: str | None) -> Any:
        path = (path or "/").rstrip("/") or "/"
        if path == "/":
            return overview.page()
        stream = path.removeprefix("/streams/")
        if stream in pipeline.streams:
            spec = pipeline.streams[stream]
            return layout.stream_page(stream, spec.description, pages.get(stream, []))
        return layout.not_found(path, pipeline.streams)

    @app.callback(
        Output(_pattern("graph"), "figure"),
        Output(_pattern("html"), "children"),
        Output(_pattern("filter", "column"), "options"),
        Output(_pattern("overview"), "children"),
        Output("db-error", "children"),
        Output("db-error", "is_open"),
        Output("updated", "children"),
        Output(alert_panels.BANNER_ID, "children"),
        Output(alert_panels.BANNER_ID, "is_open"),
        Output(alert_panels.BANNER_ID, "color"),
        Output(_pattern("alerts"), "children"),
        Output(layout.SHOWN_ID, "data"),
        Input("tick", "n_intervals"),
        Input({"kind": "range", "page": ALL}, "value"),
        Input(_pattern("filter", "column"), "value"),
        Input({"kind": "custom-from", "page": ALL}, "value"),
        Input({"kind": "custom-to", "page": ALL}, "value"),
        State(layout.SHOWN_ID, "data"),
    )
    def refresh(_tick: int | None, ranges: list[str], filter_values: list[list[str] | None],
                since: list[str | None], until: list[str | None],
                shown: str | None) -> Any:  # fmt: skip
        # The ids Dash asks for are those on the viewer's current page.
        graph_ids, html_ids, filter_ids, overview_ids = (
            [item["id"] for item in ctx.outputs_list[i]] for i in range(4)
        )
        alert_ids = [item["id"] for item in ctx.outputs_list[10]]
        period = period_of(
            ranges[0] if ranges else None, since[0] if since else None,
            until[0] if until else None, datetime.now(UTC),
        )  # fmt: skip
        # Pattern outputs need one "no update" per component.
        keep = [[dash.no_update] * len(ids)
                for ids in (graph_ids, html_ids, filter_ids, overview_ids)]  # fmt: skip

        def rest(updated: Any, shown_now: Any) -> tuple[Any, ...]:
            """The outputs after the error banner: the "updated" label, the alerts banner
            and lists unchanged, the version shown."""
            no_alerts = [dash.no_update] * len(alert_ids)
            return (updated, dash.no_update, dash.no_update, dash.no_update, no_alerts, shown_now)

        if isinstance(period, str):
            # Bad custom bounds: keep what is shown (the box under the picker says why).
            return (*keep, dash.no_update, False, *rest(dash.no_update, dash.no_update))
        result = refresher.safe_refresh(
            graph_ids, html_ids, filter_ids, filter_values, overview_ids, period, alert_ids,
        )  # fmt: skip
        if isinstance(result, str):
            # Keep what is shown; forget its version so that recovery redraws everything.
            return (*keep, result, True, *rest(dash.no_update, None))
        assert isinstance(result, Update)
        # Only a refresh that read something may claim the page is up to date.
        read = any((graph_ids, html_ids, overview_ids))
        label = updated_label() if read else dash.no_update
        if result.version == shown:  # the page shows exactly this already: no redraw
            return (*keep, dash.no_update, dash.no_update, *rest(label, dash.no_update))
        return (result.figures, result.html, result.filter_options, result.overview,
                None, False, label, *result.banner, result.alert_lists,
                result.version)  # fmt: skip


def _register_custom_range(app: Dash) -> None:
    @app.callback(
        Output({"kind": "custom-box", "page": MATCH}, "style"),
        Output({"kind": "custom-problem", "page": MATCH}, "children"),
        Input({"kind": "range", "page": MATCH}, "value"),
        Input({"kind": "custom-from", "page": MATCH}, "value"),
        Input({"kind": "custom-to", "page": MATCH}, "value"),
    )
    def show_custom(range_key: str | None, since: str | None, until: str | None) -> Any:
        period = period_of(range_key, since, until, datetime.now(UTC))
        return layout.custom_style(range_key), period if isinstance(period, str) else ""


def create_app(pipeline: Pipeline, data: DashboardData) -> Dash:
    pages = parse_dashboards(pipeline)
    app = Dash(
        __name__,
        assets_folder=str(ASSETS),
        serve_locally=True,
        title="streamdash",
        update_title="",  # no "Updating..." flicker in the tab title
        suppress_callback_exceptions=True,  # page components appear after the first load
    )
    app.layout = layout.shell(list(pipeline.streams))
    _register(app, pages, pipeline, Refresher(pages, data))
    _register_custom_range(app)

    def stats() -> Any:
        """How many loads the shared cache made: database load per tick, not per viewer."""
        return jsonify({"loads": data.queries})

    app.server.add_url_rule(STATS_PATH, "streamdash_stats", stats)

    return app


def build_server(app: Dash, host: str, port: int) -> BaseWSGIServer:
    """A threaded WSGI server (one thread per request; the cache serialises the queries)."""
    return make_server(host, port, app.server, threaded=True)


def serve_dashboard(pipeline: Pipeline, settings: Settings) -> None:
    """Run the dashboard on `settings.host:settings.dashboard_port` until killed."""
    from streamdash.alerts.reader import AlertReader
    from streamdash.log.sqlite import SqliteLog
    from streamdash.runtime.queries import view_schemas
    from streamdash.store.reader import ResultReader

    if settings.database_url is None:
        raise ValueError("the dashboard needs STREAMDASH_DATABASE_URL (set by `run`/`demo`)")
    reader = ResultReader(settings.database_url)
    # The log's end offsets give "received" counts; only readable when it is local.
    log_ = SqliteLog(settings.log_dir) if settings.log_dir.is_dir() else None
    data = DashboardData(
        view_schemas(pipeline, settings.database_url),
        reader,
        HealthTracker(pipeline, reader, log_),
        alerts=AlertReader(settings.database_url),
    )
    server = build_server(create_app(pipeline, data), settings.host, settings.dashboard_port)
    log.info("dashboard on http://%s:%d", settings.host, settings.dashboard_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        reader.close()
        if data.alerts is not None:
            data.alerts.close()
