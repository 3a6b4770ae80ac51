"""What a report is made of, as data: the result tables it reads, its sections (one SQL
query each, written once in the subset of SQL that DuckDB and Spark SQL both run), the
charts of its HTML form, and the notes that say how its numbers are derived.

The SQL of a section sees each table under its alias, already restricted to the period. Two
placeholders are filled at run time: `{bucket}`, the time bucket of a trend chart (see
`bucket_expression`), and `{limit}`, the number of worst windows listed.

What the common subset means here, learned the hard way: explicit CASTs on every sum and
ratio (DuckDB sums BIGINTs into HUGEINT, Spark into BIGINT); `NULLS LAST` written out (the
engines order NULLs differently by default); `NULLIF` for divisions; `date_trunc('hour',
t)` for buckets; no `quantile`/`percentile` (spelled differently in each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from streamdash.reports.period import Period

Format = Literal["text", "int", "float", "percent", "ms", "money", "time"]
"""How a column is shown in md and html (csv always has the raw value)."""


@dataclass(frozen=True)
class TableRequest:
    """A result table read for the period: `since <= window_start < until`."""

    table: str
    columns: tuple[str, ...]
    view: str
    """The view (and so the spec) that writes the table, for error messages."""
    stream: str
    time_column: str = "window_start"


@dataclass(frozen=True)
class Section:
    """One table of a report: a query, and how to show its columns."""

    name: str
    """Stable id: the `--table` of csv output, the anchor of the html section."""
    title: str
    sql: str
    formats: Mapping[str, Format]
    description: str = ""
    chart_only: bool = False
    """The data of charts (e.g. a trend): drawn in html, left out of md, csv on request."""


@dataclass(frozen=True)
class Chart:
    """A Plotly chart of one section's rows (html only)."""

    section: str
    kind: Literal["bar", "line"]
    x: str
    y: str
    title: str
    color: str | None = None
    """A column whose values become one trace each (line charts)."""


@dataclass(frozen=True)
class ReportDefinition:
    name: str
    description: str
    """One line, for `streamdash report --list`."""
    title: str
    tables: Mapping[str, TableRequest]
    """alias in the SQL -> the result table behind it."""
    sections: tuple[Section, ...]
    """The first one is the main table (csv's default)."""
    coverage_table: str
    """Alias whose rows the report's coverage line counts (final or not)."""
    charts: tuple[Chart, ...] = ()
    notes: tuple[str, ...] = ()
    """How the numbers are derived, printed with every report (approximations included)."""
    worst_limit: int = 10

    def section(self, name: str) -> Section:
        for section in self.sections:
            if section.name == name:
                return section
        known = ", ".join(s.name for s in self.sections)
        raise KeyError(f"report {self.name!r} has no table {name!r}; expected one of: {known}")

    def sql(self, section: Section, period: Period) -> str:
        return section.sql.format(bucket=bucket_expression(period), limit=self.worst_limit)


BUCKETS: tuple[tuple[timedelta, str], ...] = (
    (timedelta(hours=3), "window_start"),
    (timedelta(days=3), "date_trunc('minute', window_start)"),
    (timedelta(days=90), "date_trunc('hour', window_start)"),
)
"""Trend charts bucket windows so that a chart keeps to a few thousand points per line:
up to 3 h every window as stored, up to 3 days per minute, up to 90 days per hour, beyond
that per day."""


def bucket_expression(period: Period) -> str:
    for longest, expression in BUCKETS:
        if period.span <= longest:
            return expression
    return "date_trunc('day', window_start)"


def coverage_sql(alias: str) -> str:
    """How many rows (window x key) the period holds and how many of them are final."""
    return (
        "SELECT CAST(count(*) AS BIGINT) AS result_rows, "
        "CAST(sum(CASE WHEN final THEN 1 ELSE 0 END) AS BIGINT) AS final_rows, "
        f"min(window_start) AS first_window, max(window_end) AS last_window_end FROM {alias}"
    )
