"""One value of a report table as text: for people (md, html) by the column's format, and
raw for machines (csv: full precision, rates as fractions, times as ISO-8601 UTC)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from streamdash.reports.definitions import Format

MISSING = "—"
"""Shown for NULL: no value (e.g. a country the demographics table does not know)."""


def display(value: object, fmt: Format) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _number(value, fmt)
    return str(value)


def _number(value: float, fmt: Format) -> str:
    if not math.isfinite(value):
        return str(value)
    if fmt == "int":
        return f"{int(value):,}"
    if fmt == "percent":
        return f"{value * 100:.2f} %"
    if fmt == "ms":
        return f"{value:,.1f}"
    if fmt == "money":
        return f"{value:,.2f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}"
    return f"{int(value):,}"


def raw(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)
