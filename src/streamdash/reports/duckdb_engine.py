"""The default report engine: the period's result tables copied from PostgreSQL into an
in-memory DuckDB (as Arrow, no copy into DuckDB's own storage), the report's SQL run there.
Result tables are small (one row per window and key), so one process is plenty."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

from streamdash.reports.definitions import TableRequest
from streamdash.reports.engine import ReportError
from streamdash.reports.period import Period
from streamdash.reports.result_tables import fetch_table


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, database_url: str, period: Period) -> None:
        self.database_url = database_url
        self.period = period
        self._con = duckdb.connect(":memory:")
        # date_trunc of a TIMESTAMPTZ truncates in the session zone: buckets are UTC
        self._con.execute("SET TimeZone = 'UTC'")
        self._loaded: dict[str, tuple[TableRequest, pa.Table]] = {}

    def _load(self, alias: str, request: TableRequest) -> None:
        loaded = self._loaded.get(alias)
        if loaded is not None and loaded[0] == request:
            return
        table = fetch_table(self.database_url, request, self.period)
        # the dict keeps the Arrow table alive as long as DuckDB may scan it
        self._loaded[alias] = (request, table)
        self._con.register(alias, table)

    def query(self, sql: str, tables: Mapping[str, TableRequest]) -> pa.Table:
        for alias, request in tables.items():
            self._load(alias, request)
        try:
            return self._con.sql(sql).to_arrow_table()
        except duckdb.Error as err:
            raise ReportError(f"report query failed in DuckDB: {err}") from err

    def close(self) -> None:
        self._con.close()
        self._loaded.clear()
