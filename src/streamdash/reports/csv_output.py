"""A report as CSV: one table, its raw values (full float precision, rates as fractions,
times as ISO-8601 UTC, NULL as an empty field). By default the report's main table — the
first section (`applications` of app-health, `campaigns` of campaigns); `--table` picks
another section."""

from __future__ import annotations

import csv
import io

from streamdash.reports.build import Report
from streamdash.reports.cells import raw


def render_csv(report: Report, table: str | None = None) -> str:
    result = report.result(table) if table is not None else report.sections[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = result.rows.column_names
    writer.writerow(names)
    for row in result.rows.to_pylist():
        writer.writerow([raw(row[name]) for name in names])
    return out.getvalue()
