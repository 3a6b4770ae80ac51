"""The once-a-second refresh: which components to fill, with what. Kept apart from Dash's
callback plumbing (`callbacks.py`) so that it can be tested with plain ids and rows.

Every panel reads its view through `DashboardData.rows`, i.e. the shared cache: a page
with eight panels on one view, opened by twenty viewers, costs one query per tick.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streamdash.dashboard import alert_panels, figures, frames, overview, widgets
from streamdash.dashboard.data import CUSTOM, DEFAULT_RANGE, DashboardData, Period, now_us
from streamdash.errors import StoreUnavailable
from streamdash.spec.dashboards import DashboardPanel

log = logging.getLogger(__name__)

ComponentId = Mapping[str, Any]


@dataclass(frozen=True)
class Update:
    """What one refresh returns, one entry per requested id (in the ids' order)."""

    figures: list[Any]
    html: list[Any]
    filter_options: list[list[dict[str, str]]]
    overview: list[Any]
    error: str | None
    banner: tuple[Any, bool, str] = (None, False, "warning")
    """The open-alerts banner: (children, is_open, colour)."""
    alert_lists: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Refresher:
    pages: Mapping[str, Sequence[DashboardPanel]]
    data: DashboardData

    def _rows(
        self, page: str, index: int, period: Period, filters: Mapping[str, Sequence[str]]
    ) -> list[frames.Row]:
        panel = self.pages[page][index]
        return frames.select(self.data.rows(panel.view, period), panel, filters)

    def _options(self, page: str, column: str, period: Period) -> list[dict[str, str]]:
        """The values a key filter offers: those present in the filter panel's view."""
        panel = next(p for p in self.pages[page] if p.panel == "filter" and p.by == column)
        values = {row.get(column) for row in self.data.rows(panel.view, period)}
        ordered = sorted((v for v in values if v is not None), key=frames.sort_key)
        return [{"label": str(v), "value": str(v)} for v in ordered]

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
        graphs = [
            figures.build(
                self.pages[cid["page"]][cid["index"]],
                self._rows(cid["page"], cid["index"], period, filters),
            )
            for cid in graph_ids
        ]
        cells = [
            widgets.build(
                self.pages[cid["page"]][cid["index"]],
                self._rows(cid["page"], cid["index"], period, filters),
            )
            for cid in html_ids
        ]
        options = [self._options(fid["page"], str(fid["column"]), period) for fid in filter_ids]
        boards = [overview.render(self.data.stream_health(), now_us()) for _ in overview_ids]
        recent = self.data.recent_alerts()
        lists = [alert_panels.alert_list(recent) for _ in alert_ids]
        return Update(
            graphs, cells, options, boards, None, alert_panels.banner(recent or []), lists
        )

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
