"""Typed dashboard panels (the spec's `dashboards:` section) and their cross-checks.

`dashboards:` maps a stream name to a list of panels; the dashboard app builds one page
per stream from them, with no code. A panel names a view and columns of that view's
result table (window_start/window_end, its group_by keys, its metrics, updated_at).

This module owns no Pipeline import cycle: `models.py` can import `DashboardPanel`
from here. `dashboard_problems` returns every problem as (yaml path, message) like
`validation.validate`, so `streamdash check` shows them with the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PanelType = Literal[
    "line", "bar", "gauge", "table", "stat", "heatmap", "scatter", "histogram", "map", "filter"
]
Aggregate = Literal["last", "sum", "avg", "max", "min", "count"]
Scalar = str | int | float | bool

TIME_COLUMNS = ("window_start", "window_end")

# What each panel type needs: a panel missing one of these cannot be drawn.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "line": ("y",),
    "bar": ("y",),
    "gauge": ("value",),
    "stat": ("value",),
    "table": (),
    "heatmap": ("x", "y", "value"),
    "scatter": ("x", "y"),
    "histogram": ("x",),
    "map": ("x", "y"),
    "filter": ("by",),
}
_SINGLE_Y = frozenset({"heatmap", "scatter", "histogram", "map"})


class DashboardPanel(BaseModel):
    """One panel of a stream's page. Which fields mean what per type: docs/dashboard.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    panel: PanelType
    view: str
    x: str | None = None
    y: list[str] = Field(default_factory=list)
    """One column or a list; YAML may give a plain string."""
    by: str | None = None
    """Group/colour column: one trace (or gauge) per value; for `filter`, the key to pick."""
    value: str | None = None
    where: dict[str, Scalar] = Field(default_factory=dict)
    """Equality filters on columns, e.g. `{sensor: accelerometer}`."""
    agg: Aggregate | None = None
    """How the rows in range are reduced per category (bar, gauge, stat, heatmap; line per
    x): `last` = the newest row, `count` = the number of rows."""
    title: str | None = None
    unit: str | None = None
    """Shown on axes and hovers; `%` means the values are fractions shown as percent."""
    limit: int | None = Field(default=None, gt=0)
    sort: str | None = None
    """A column to sort by (tables); a leading `-` sorts descending."""
    range: tuple[float, float] | None = None
    """Gauge scale (default 0..1 for `%`, else 0..max seen)."""
    trend: bool = False
    """Scatter: add a smoothed trend line (moving average over x)."""
    width: int = Field(default=6, ge=1, le=12)
    """Share of the page width in twelfths (Bootstrap grid)."""

    @field_validator("y", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def heading(self) -> str:
        if self.title:
            return self.title
        what = self.value or ", ".join(self.y) or self.x or self.by or self.view
        return f"{what} ({self.view})"

    @property
    def reducer(self) -> Aggregate:
        return self.agg or "last"

    def columns(self) -> list[tuple[str, str]]:
        """(field name, column) of every column the panel reads."""
        named = [("x", self.x), ("by", self.by), ("value", self.value)]
        out = [(name, column) for name, column in named if column is not None]
        out += [("y", column) for column in self.y]
        out += [("where", column) for column in self.where]
        if self.sort is not None:
            out.append(("sort", self.sort.removeprefix("-")))
        return out


def view_columns(view: Any) -> list[str]:
    """Columns of a view's result table, from its spec alone (no I/O). `view` is a
    `models.ViewSpec` (typed loosely to keep this module free of an import cycle)."""
    columns = list(TIME_COLUMNS) if view.window is not None else []
    return [*columns, *view.group_by, *view.metrics, "updated_at"]


def parse_panel(raw: object) -> DashboardPanel:
    return raw if isinstance(raw, DashboardPanel) else DashboardPanel.model_validate(raw)


def parse_dashboards(pipeline: Any) -> dict[str, list[DashboardPanel]]:
    """The typed panels of every stream; raises `ValidationError` on a malformed panel
    (`streamdash check` reports those first, so a running app never sees one)."""
    return {
        name: [parse_panel(raw) for raw in panels] for name, panels in pipeline.dashboards.items()
    }


def _path(*parts: str | int) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _panel_problems(
    base: tuple[str | int, ...], panel: DashboardPanel, views: Mapping[str, Any]
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if panel.view not in views:
        names = ", ".join(sorted(views)) or "there are none"
        return [(_path(*base, "view"), f"unknown view {panel.view!r}; expected one of: {names}")]
    for need in _REQUIRED[panel.panel]:
        if not getattr(panel, need):
            problems.append((_path(*base, need), f"a {panel.panel} panel needs `{need}`"))
    if panel.panel in _SINGLE_Y and len(panel.y) > 1:
        problems.append((_path(*base, "y"), f"a {panel.panel} panel takes one `y` column"))
    view = views[panel.view]
    known = view_columns(view)
    for field, column in panel.columns():
        if column not in known:
            problems.append(
                (
                    _path(*base, field),
                    f"view {panel.view!r} has no column {column!r}; expected one of: "
                    + ", ".join(known),
                )
            )
    if panel.panel == "line" and panel.x is None and view.window is None:
        problems.append(
            (
                _path(*base, "x"),
                f"view {panel.view!r} is not windowed: give `x` (the default is window_start)",
            )
        )
    return problems


def dashboard_problems(pipeline: Any) -> list[tuple[str, str]]:
    """Every problem of `pipeline.dashboards` as (yaml path, message); [] if none.
    `pipeline` is a `models.Pipeline` whose dashboards are raw mappings or panels."""
    problems: list[tuple[str, str]] = []
    dashboards: Mapping[str, Sequence[object]] = pipeline.dashboards
    for name, panels in dashboards.items():
        if name not in pipeline.streams:
            known = ", ".join(sorted(pipeline.streams))
            problems.append(
                (_path("dashboards", name), f"unknown stream {name!r}; expected one of: {known}")
            )
        for index, raw in enumerate(panels):
            base: tuple[str | int, ...] = ("dashboards", name, index)
            try:
                panel = parse_panel(raw)
            except ValidationError as err:
                for error in err.errors():
                    loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
                    problems.append((_path(*base, *loc), error["msg"]))
                continue
            problems += _panel_problems(base, panel, pipeline.views)
    return problems


__all__ = [
    "DashboardPanel",
    "PanelType",
    "dashboard_problems",
    "parse_dashboards",
    "parse_panel",
    "view_columns",
]
