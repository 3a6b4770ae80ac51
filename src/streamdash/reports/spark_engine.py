"""The Spark report engine: the period's result tables read over JDBC into Spark, the same
report SQL run by Spark SQL, the answer brought back as Arrow. For result tables too large
for one process, or to run reports where Spark already runs (`local[2]` here).

Each table is read by the PostgreSQL query DuckDB's loader uses (`result_tables.
period_query`, its parameters bound client-side by psycopg into literal SQL), so both
engines see exactly the same rows; timestamps arrive as epoch microseconds and become
Spark timestamps with `timestamp_micros`. The session runs in UTC (`date_trunc` buckets are
UTC, as in DuckDB) with as many shuffle partitions as local cores.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pyarrow as pa

from streamdash.errors import MissingExtra
from streamdash.reports.definitions import TableRequest
from streamdash.reports.engine import ReportError
from streamdash.reports.period import Period
from streamdash.reports.result_tables import column_types, period_query
from streamdash.store.connection import connect, describe, first_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MASTER = "local[2]"
_QUIET = {
    "spark.log.level": "ERROR",
    # local mode needs no network: the driver stays on loopback (and skips the hostname
    # lookup that warns on every start)
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


def jdbc_jar() -> Path:
    """The PostgreSQL JDBC driver (`spark.session.jdbc_jar`); ReportError if there is none."""
    from streamdash.spark.session import DEBIAN_JDBC_JAR, ENV_JDBC_JAR
    from streamdash.spark.session import jdbc_jar as find_jar

    jar = find_jar()
    if jar is None or not jar.is_file():
        raise ReportError(
            f"the PostgreSQL JDBC driver {jar or DEBIAN_JDBC_JAR} is missing: install "
            f"Debian's libpostgresql-jdbc-java, or set {ENV_JDBC_JAR} to the driver's jar"
        )
    return jar


def _session() -> SparkSession:
    """The streaming runner's session (UTC, shuffle partitions = local cores, the JDBC
    driver on the classpath), without its UI and quieter."""
    try:
        from streamdash.spark.session import build_session
    except ImportError:
        raise MissingExtra("pyspark (for --engine spark)", "spark") from None
    jdbc_jar()
    try:
        return build_session(MASTER, app_name="streamdash-report", conf=_QUIET, ui=False)
    except _spark_errors() as err:
        raise ReportError(
            f"Spark did not start (it needs Java 17 on PATH): {_reason(err)}"
        ) from err


def _spark_errors() -> tuple[type[Exception], ...]:
    """What pyspark raises: its own errors, and Java exceptions passed through py4j."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


def _reason(err: Exception) -> str:
    """The first line of the Java exception (the rest is a JVM stack trace)."""
    java = getattr(err, "java_exception", None)
    if java is None:
        return first_line(err)
    lines = str(java.toString()).strip().splitlines()
    return lines[0] if lines else type(err).__name__


class SparkEngine:
    name = "spark"

    def __init__(self, database_url: str, period: Period) -> None:
        self.database_url = database_url
        self.period = period
        from streamdash.spark.tables import jdbc_options

        self._jdbc = jdbc_options(database_url)
        self._spark = _session()
        self._loaded: dict[str, TableRequest] = {}

    def _read(self, request: TableRequest) -> DataFrame:
        from pyspark.sql import functions

        where = describe(self.database_url)
        try:
            with connect(self.database_url) as conn:
                types = column_types(conn, request, where)  # same clear errors as DuckDB's
                query = period_query(request, types)
                text = psycopg.ClientCursor(conn).mogrify(
                    query, (self.period.since, self.period.until)
                )
        except psycopg.Error as err:
            raise ReportError(
                f"reading {request.table!r} from {where} failed: {first_line(err)}"
            ) from err
        reader: Any = self._spark.read.format("jdbc")
        for key, value in {**self._jdbc, "query": text}.items():
            reader = reader.option(key, value)
        try:
            frame: DataFrame = reader.load()  # reads the schema: fails fast if unreachable
        except _spark_errors() as err:
            raise ReportError(
                f"Spark cannot read {request.table!r} from {where}: {_reason(err)}"
            ) from err
        for column, kind in types.items():
            if pa.types.is_timestamp(kind):
                frame = frame.withColumn(column, functions.timestamp_micros(column))
        # a report runs several queries over the same table: read it over JDBC once
        return frame.cache()

    def query(self, sql: str, tables: Mapping[str, TableRequest]) -> pa.Table:
        for alias, request in tables.items():
            if self._loaded.get(alias) != request:
                self._read(request).createOrReplaceTempView(alias)
                self._loaded[alias] = request
        try:
            return self._spark.sql(sql).toArrow()
        except _spark_errors() as err:
            raise ReportError(f"report query failed in Spark SQL: {_reason(err)}") from err

    def close(self) -> None:
        self._spark.stop()
