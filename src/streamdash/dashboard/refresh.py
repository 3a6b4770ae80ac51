"""The refresh of a page (twice a second): which components to fill, with what. Kept apart
from Dash's callback plumbing (`app.py`) so that it can be tested with plain ids and rows.

Every panel reads its view through the shared cache: a page with eight panels on one view,
opened by twenty viewers, costs one query per tick. What is drawn from those rows is shared
too: the figures of one page state (its components, range, filters and the generations of
the rows read) are built once, not once per viewer — building Plotly figures costs far more
CPU than the query. `Update.version` names that state, so a page that already shows it
skips the redraw.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streamdash.dashboard import alert_panels, figures, frames, overview, widgets
from streamdash.dashboard.cache import SharedCache
from streamdash.dashboard.data import CUSTOM, DEFAULT_RANGE, DashboardData, Period, now_us
from streamdash.dashboard.health import StreamHealth
from streamdash.dashboard.libs import themed
from streamdash.errors import StoreUnavailable
from streamdash.spec.dashboards import DashboardPanel

log = logging.getLogger(__name__)

ComponentId = Mapping[str, Any]
RENDERED_STATES = 16
"""Page states whose built figures are kept (pages x ranges x filter choices in use)."""


@dataclass(frozen=True)
class Update:
    """What one refresh returns, one entry per requested id (in the ids' order)."""

    figures: list[dict[str, Any]]
    """Plotly figures as JSON-ready dicts (`libs.themed`)."""
    html: list[Any]
    filter_options: list[list[dict[str, str]]]
    overview: list[Any]
    error: str | None
    banner: tuple[Any, bool, str] = (None, False, "warning")
    """The open-alerts banner: (children, is_open, colour)."""
    alert_lists: list[Any] = field(default_factory=list)
    version: str = ""
    """Names what this update shows: the same version, the same content."""


@dataclass(frozen=True)
class _Inputs:
    """What one refresh reads (each through the shared cache), and the generations of it."""

    rows: dict[str, list[frames.Row]]
    health: list[StreamHealth]
    alerts: list[dict[str, object]] | None
    generations: tuple[int, ...]


def _ids(ids: Sequence[ComponentId]) -> tuple[tuple[tuple[str, Any], ...], ...]:
    return tuple(tuple(sorted(cid.items())) for cid in ids)


@dataclass(frozen=True)
class Refresher:
    pages: Mapping[str, Sequence[DashboardPanel]]
    data: DashboardData
    rendered: SharedCache[Update] = field(
        default_factory=lambda: SharedCache(max_keys=RENDERED_STATES)
    )

    def _panel(self, cid: ComponentId) -> DashboardPanel:
        return self.pages[cid["page"]][cid["index"]]

    def _filter_panel(self, fid: ComponentId) -> DashboardPanel:
        column = str(fid["column"])
        return next(p for p in self.pages[fid["page"]] if p.panel == "filter" and p.by == column)

    def _read(
        self,
        panels: Sequence[DashboardPanel],
        with_health: bool,
        period: Period,
    ) -> _Inputs:
        rows: dict[str, list[frames.Row]] = {}
        generations: list[int] = []
        for view in sorted({panel.view for panel in panels}):
            rows[view], generation = self.data.rows_versioned(view, period)
            generations.append(generation)
        health: list[StreamHealth] = []
        if with_health:
            health, generation = self.data.stream_health_versioned()
            generations.append(generation)
        recent, generation = self.data.recent_alerts_versioned()
        return _Inputs(rows, health, recent, (*generations, generation))

    def refresh(
        self,
        graph_ids: Sequence[ComponentId],
        html_ids: Sequence[ComponentId],
        filter_ids: Sequence[ComponentId],
        filter_values: Sequence[Sequence[str] | None],
        overview_ids: Sequence[ComponentId],
        period: Period | str | None,
        alert_ids: Sequence[ComponentId] = (),
    ) -> Update:
        """Fill the requested components for `period` (or a preset range's key). Raises
        `StoreUnavailable` if the database is down (the caller keeps what is shown and
        raises the banner)."""
        if not isinstance(period, Period):
            period = Period(period or DEFAULT_RANGE)
        filters = {
            str(fid["column"]): list(values or [])
            for fid, values in zip(filter_ids, filter_values, strict=True)
        }
        panels = [self._panel(cid) for cid in (*graph_ids, *html_ids)]
        panels += [self._filter_panel(fid) for fid in filter_ids]
        inputs = self._read(panels, bool(overview_ids), period)
        state: Hashable = (
            _ids(graph_ids), _ids(html_ids), _ids(filter_ids), _ids(overview_ids),
            _ids(alert_ids), period, tuple(sorted((k, tuple(v)) for k, v in filters.items())),
            inputs.generations,
        )  # fmt: skip
        version = hashlib.sha1(repr(state).encode()).hexdigest()[:16]

        def build() -> Update:
            def rows(cid: ComponentId) -> list[frames.Row]:
                panel = self._panel(cid)
                return frames.select(inputs.rows[panel.view], panel, filters)

            graphs = [themed(figures.build(self._panel(cid), rows(cid))) for cid in graph_ids]
            cells = [widgets.build(self._panel(cid), rows(cid)) for cid in html_ids]
            options = [
                _options(inputs.rows[self._filter_panel(fid).view], str(fid["column"]))
                for fid in filter_ids
            ]
            boards = [overview.render(inputs.health, now_us()) for _ in overview_ids]
            lists = [alert_panels.alert_list(inputs.alerts) for _ in alert_ids]
            banner = alert_panels.banner(inputs.alerts or [])
            return Update(graphs, cells, options, boards, None, banner, lists, version)

        # built once per page state, whatever the number of viewers asking for it
        return self.rendered.get(state, build, math.inf)

    def safe_refresh(self, *args: Any) -> Update | str:
        """`refresh`, or the message for the error banner: the page never goes blank and
        never shows a traceback."""
        try:
            return self.refresh(*args)
        except StoreUnavailable as err:
            return f"Database unreachable — showing the last data received. {err}"
        except Exception as err:  # a bug must not take the page down with it
            log.exception("dashboard refresh failed")
            return f"The dashboard could not refresh: {type(err).__name__}: {err}"


def _options(rows: Sequence[frames.Row], column: str) -> list[dict[str, str]]:
    """The values a key filter offers: those present in the filter panel's view."""
    values = {row.get(column) for row in rows}
    ordered = sorted((v for v in values if v is not None), key=frames.sort_key)
    return [{"label": str(v), "value": str(v)} for v in ordered]


def period_of(
    range_key: str | None, since: str | None, until: str | None, now: datetime
) -> Period | str:
    """The viewer's period from the range picker, or what is wrong with the custom bounds."""
    if range_key != CUSTOM:
        return Period(range_key or DEFAULT_RANGE)
    try:
        return Period.custom(since, until, now)
    except ValueError as err:
        return str(err)


def updated_label() -> str:
    return datetime.now(UTC).strftime("updated %H:%M:%S UTC")
