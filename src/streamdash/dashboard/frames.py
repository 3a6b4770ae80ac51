"""Row helpers shared by the figure and widget builders: filtering, reducing rows per
category, and formatting. Rows are what `ResultReader` returns: JSON-ready dicts, newest
first, timestamps as ISO-8601 strings ending in `Z`. Pure functions, no pandas: a page
shows at most a few thousand rows, and plain Python keeps the dependency list short."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streamdash.spec.dashboards import Aggregate, DashboardPanel

Row = dict[str, Any]

MISSING = "\u2013"
"""Shown for a value that is not there (an en dash)."""
Group = tuple[Any, ...]


def select(
    rows: Iterable[Row], panel: DashboardPanel, filters: Mapping[str, Sequence[str]]
) -> list[Row]:
    """The rows a panel shows: its own `where`, then the page's key filters (a filter on a
    column the view does not have leaves the panel alone)."""
    out = []
    for row in rows:
        if any(row.get(column) != value for column, value in panel.where.items()):
            continue
        if any(
            column in row and chosen and str(row[column]) not in chosen
            for column, chosen in filters.items()
        ):
            continue
        out.append(row)
    return out


def time_column(rows: Sequence[Row]) -> str:
    return "window_start" if rows and "window_start" in rows[0] else "updated_at"


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return None


def _reduce_values(values: list[float | None], agg: Aggregate) -> float | None:
    if agg == "count":
        return float(len(values))
    present = [v for v in values if v is not None]
    if agg == "last":
        return values[0] if values else None  # rows come newest first
    if not present:
        return None
    if agg == "sum":
        return sum(present)
    if agg == "avg":
        return sum(present) / len(present)
    return max(present) if agg == "max" else min(present)


def reduce(
    rows: Sequence[Row], groups: Sequence[str], column: str, agg: Aggregate
) -> dict[Group, float | None]:
    """`column` reduced per combination of the `groups` columns, in order of first
    appearance. With `last`, rows must be newest first (as the reader returns them)."""
    collected: dict[Group, list[float | None]] = {}
    for row in rows:
        key = tuple(row.get(group) for group in groups)
        value = 1.0 if agg == "count" else number(row.get(column))
        collected.setdefault(key, []).append(value)
    return {key: _reduce_values(values, agg) for key, values in collected.items()}


def sort_key(value: Any) -> tuple[int, Any]:
    """Sorts mixed/None category values without a TypeError (None last)."""
    if value is None:
        return (2, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def short(value: Any, length: int = 12) -> str:
    """A category for a legend: long ids (device UUIDs) cut to their first characters."""
    text = str(value)
    return text if len(text) <= length else text[: length - 4] + "\u2026"


def plot_time(value: Any) -> Any:
    """`2024-06-01T12:00:00.5Z` -> `2024-06-01 12:00:00.5`: Plotly reads that as a date
    (axes are labelled UTC); it does not accept the `Z` suffix everywhere."""
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        return value[:-1].replace("T", " ")
    return value


def label(column: str) -> str:
    """A column name fit for a legend: `p95_latency_ms` -> `p95 latency ms`."""
    return column.replace("_", " ")


def is_percent(panel: DashboardPanel) -> bool:
    return panel.unit == "%"


def format_value(value: Any, unit: str | None) -> str:
    """A number for a stat card or table cell: thousands separators, sensible decimals,
    `%` units for fractions."""
    if isinstance(value, str):
        # Times to the second: a table cell has no room for microseconds.
        return plot_time(value)[:19] if value.endswith("Z") else value
    num = number(value)
    if num is None:
        return MISSING
    if unit == "%":
        return f"{num * 100:,.1f} %"
    if isinstance(value, int) or (num.is_integer() and abs(num) >= 1):
        text = f"{num:,.0f}"
    elif abs(num) >= 100:
        text = f"{num:,.1f}"
    else:
        text = f"{num:,.3g}" if abs(num) < 1 else f"{num:,.2f}"
    return text


def groups(rows: Sequence[Row], by: str | None) -> list[tuple[Any, list[Row]]]:
    """Rows split by the `by` column's value, groups in sorted order (one group: None)."""
    if by is None:
        return [(None, list(rows))]
    out: dict[Any, list[Row]] = {}
    for row in rows:
        out.setdefault(row.get(by), []).append(row)
    return sorted(out.items(), key=lambda item: sort_key(item[0]))
