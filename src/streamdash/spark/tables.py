"""Reference tables for Spark's stream-static joins, read from PostgreSQL over JDBC.

A table whose source is `postgres: SQL` is that query. A generated or CSV table is loaded
as the embedded engine loads it (`runtime/tables.py`) and stored in the result database as
`streamdash_ref_<name>` first, so every Spark executor reads the same rows from one place.
Spark re-reads a JDBC relation for every micro-batch: events always join the table's
current rows (for a `postgres:` table, that is its `refresh` at every batch).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from streamdash.errors import Fatal
from streamdash.runtime.tables import load_table
from streamdash.spec.models import Pipeline, TableSpec
from streamdash.store import pgbinary
from streamdash.store.schema import pg_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

REF_PREFIX = "streamdash_ref_"
JDBC_DRIVER = "org.postgresql.Driver"


def jdbc_options(database_url: str) -> dict[str, str]:
    """JDBC connection options for a libpq URL or key=value string (JDBC cannot use
    PostgreSQL's Unix sockets: the database must listen on TCP)."""
    params = {k: str(v) for k, v in conninfo_to_dict(database_url).items() if v is not None}
    host = params.get("host", "localhost")
    if host.startswith("/"):
        raise Fatal(
            f"the database is reached through the Unix socket {host}; Spark's JDBC driver "
            "needs a TCP host:port in STREAMDASH_DATABASE_URL"
        )
    url = f"jdbc:postgresql://{host}:{params.get('port', '5432')}/{params.get('dbname', '')}"
    options = {"url": url, "driver": JDBC_DRIVER}
    for libpq, jdbc in (("user", "user"), ("password", "password"), ("sslmode", "sslmode")):
        if libpq in params:
            options[jdbc] = params[libpq]
    return options


def store_reference(database_url: str, name: str, table: pa.Table) -> str:
    """Replace the rows of `streamdash_ref_<name>` with `table` (one transaction); return
    the table's name."""
    target = f"{REF_PREFIX}{name}"
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(pg_type(f.type, f.name)))
        for f in table.schema
    )
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(target)))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(target), columns))
        copy = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(target))
        with cur.copy(copy) as writer:
            for chunk in pgbinary.encode(table):
                writer.write(chunk)
    return target


def _query(name: str, spec: TableSpec, database_url: str, base_dir: Path) -> str:
    if spec.source.postgres is not None:
        return spec.source.postgres.strip().rstrip(";")
    rows = load_table(name, spec, base_dir=base_dir, database_url=database_url)
    return f'SELECT * FROM "{store_reference(database_url, name, rows)}"'


def reference_frames(
    spark: SparkSession, pipeline: Pipeline, database_url: str, base_dir: Path
) -> dict[str, DataFrame]:
    """A (static, JDBC) DataFrame per reference table that a view's stream joins."""
    used = {view.from_ for view in pipeline.views.values()}
    names = {j.table for s, spec in pipeline.streams.items() if s in used for j in spec.joins}
    options = jdbc_options(database_url)
    frames = {}
    for name in sorted(names):
        query = _query(name, pipeline.tables[name], database_url, base_dir)
        frames[name] = spark.read.format("jdbc").options(**options, query=query).load()
    return frames
