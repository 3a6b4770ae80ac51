"""Reports over stored results: `streamdash report NAME --since --until --format md|csv|html`.

A report (`definitions.ReportDefinition`) is data: the result tables it reads and SQL
sections written once in the subset DuckDB and Spark SQL share. An engine (`engine.
ReportEngine`: DuckDB in-process, or Spark over JDBC) loads the tables for the period and runs
the SQL; `build` collects the answers; `markdown`, `csv_output` and `html` render them.

The names load on first use (`streamdash.lazy_exports`): every process imports the CLI,
which registers `report`, and only that command needs pyarrow and the engines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamdash.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from streamdash.reports.build import Report, build_report
    from streamdash.reports.catalog import REPORTS, find_report
    from streamdash.reports.engine import ReportEngine, ReportError, open_engine
    from streamdash.reports.period import Period, PeriodError, parse_period

__all__ = [
    "REPORTS",
    "Period",
    "PeriodError",
    "Report",
    "ReportEngine",
    "ReportError",
    "build_report",
    "find_report",
    "open_engine",
    "parse_period",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "Report": "build",
        "build_report": "build",
        "REPORTS": "catalog",
        "find_report": "catalog",
        "ReportEngine": "engine",
        "ReportError": "engine",
        "open_engine": "engine",
        "Period": "period",
        "PeriodError": "period",
        "parse_period": "period",
    },
)
