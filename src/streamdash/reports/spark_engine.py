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

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pyarrow as pa
from psycopg.conninfo import conninfo_to_dict

from streamdash.errors import MissingExtra
from streamdash.reports.definitions import TableRequest
from streamdash.reports.engine import ReportError
from streamdash.reports.period import Period
from streamdash.reports.result_tables import column_types, period_query
from streamdash.store.connection import connect, describe, first_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ENV_JDBC_JAR = "STREAMDASH_JDBC_JAR"
DEBIAN_JDBC_JAR = Path("/usr/share/java/postgresql.jar")
"""Debian's `libpostgresql-jdbc-java` (no Maven Central here to fetch the driver from)."""
MASTER = "local[2]"


def jdbc_jar() -> Path:
    """The PostgreSQL JDBC driver: $STREAMDASH_JDBC_JAR, else Debian's; ReportError if none."""
    given = os.environ.get(ENV_JDBC_JAR)
    jar = Path(given) if given else DEBIAN_JDBC_JAR
    if not jar.is_file():
        raise ReportError(
            f"the PostgreSQL JDBC driver {jar} is missing: install Debian's "
            f"libpostgresql-jdbc-java, or set {ENV_JDBC_JAR} to the driver's jar"
        )
    return jar


def jdbc_options(database_url: str) -> dict[str, str]:
    """Spark's JDBC options for a libpq URL or conninfo (password as an option, never in
    the JDBC URL that Spark may log)."""
    params = conninfo_to_dict(database_url)
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or "5432")
    options = {
        "url": f"jdbc:postgresql://{host}:{port}/{params.get('dbname') or 'postgres'}",
        "driver": "org.postgresql.Driver",
        "user": str(params.get("user") or os.environ.get("USER", "postgres")),
    }
    if params.get("password"):
        options["password"] = str(params["password"])
    if params.get("sslmode"):
        options["sslmode"] = str(params["sslmode"])
    return options


def _session() -> SparkSession:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise MissingExtra("pyspark (for --engine spark)", "spark") from None
    builder: Any = SparkSession.builder
    conf = {
        "spark.jars": str(jdbc_jar()),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        # local mode needs no network: the driver stays on loopback (and skips the hostname
        # lookup that warns on every start)
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        # Python workers (none are needed by SQL, but a UDF would) run this interpreter
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session: SparkSession = builder.master(MASTER).appName("streamdash-report").getOrCreate()
    except _spark_errors() as err:
        raise ReportError(
            f"Spark did not start (it needs Java 17 on PATH): {_reason(err)}"
        ) from err
    return session


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
