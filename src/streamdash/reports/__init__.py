"""Reports over stored results: `streamdash report NAME --since --until --format md|csv|html`.

A report (`definitions.ReportDefinition`) is data: the result tables it reads and SQL
sections written once in the subset DuckDB and Spark SQL share. An engine (`engine.
ReportEngine`: DuckDB in-process, or Spark over JDBC) loads the tables for the period and runs
the SQL; `build` collects the answers; `markdown`, `csv_output` and `html` render them.
"""

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
