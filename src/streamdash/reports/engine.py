"""The contract every report engine keeps, and how one is chosen by name.

An engine runs a report's SQL (written once, in the subset DuckDB and Spark SQL share) over
result tables it loads itself from PostgreSQL for the report's period: DuckDB copies them
into an in-memory database, Spark reads them over JDBC. Loading is the engine's business
because it is where engines differ most (an Arrow copy in-process vs. a distributed read);
what is loaded, and the PostgreSQL query that selects it, is shared (`result_tables`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import pyarrow as pa

from streamdash.errors import Fatal
from streamdash.reports.definitions import TableRequest
from streamdash.reports.period import Period

ENGINES = ("duckdb", "spark")


class ReportError(Fatal):
    """A report cannot be made: unknown report, missing table, failing query, ..."""


class ReportEngine(Protocol):
    name: str

    def query(self, sql: str, tables: Mapping[str, TableRequest]) -> pa.Table:
        """Run `sql`, in which each alias of `tables` names that result table restricted to
        the engine's period; each table is loaded at most once per engine."""
        ...

    def close(self) -> None: ...


def check_engine(name: str) -> None:
    """ReportError for an unknown engine, MissingExtra when its packages are not installed:
    before any database is opened."""
    if name not in ENGINES:
        raise ReportError(f"--engine {name!r} is unknown; expected one of: {', '.join(ENGINES)}")
    if name == "spark":
        import importlib.util

        from streamdash.errors import MissingExtra

        if importlib.util.find_spec("pyspark") is None:
            raise MissingExtra("pyspark (for --engine spark)", "spark")
        from streamdash.reports.spark_engine import jdbc_jar

        jdbc_jar()


def open_engine(name: str, database_url: str, period: Period) -> ReportEngine:
    """The engine called `name` over the database at `database_url`, for `period`."""
    if name == "duckdb":
        from streamdash.reports.duckdb_engine import DuckDBEngine

        return DuckDBEngine(database_url, period)
    if name == "spark":
        from streamdash.reports.spark_engine import SparkEngine

        return SparkEngine(database_url, period)
    raise ReportError(f"--engine {name!r} is unknown; expected one of: {', '.join(ENGINES)}")
