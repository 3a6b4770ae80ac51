"""DDL: result tables from `ViewSchema`s, the internal `streamdash_*` tables, and the check
that an existing result table still matches its view (we never alter a user's table).

Requires PostgreSQL >= 15. A result row is identified by (window_start, keys...), but a key
may be NULL (a LEFT JOIN to a reference table without the event's row gives NULL columns),
so key columns are nullable and the row identity is a UNIQUE index with NULLS NOT DISTINCT
(new in PostgreSQL 15) instead of a PRIMARY KEY; the upsert's ON CONFLICT infers it. The
embedded server is PostgreSQL 18.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import cast

import psycopg
import pyarrow as pa
from psycopg import sql

from streamdash.errors import Fatal
from streamdash.results import ViewSchema

FINAL = "final"
UPDATED_AT = "updated_at"

# Names as PostgreSQL's format_type() spells them, so that existing tables compare equal.
_SCALARS: tuple[tuple[pa.DataType, str], ...] = (
    (pa.string(), "text"),
    (pa.large_string(), "text"),
    (pa.int16(), "smallint"),
    (pa.int32(), "integer"),
    (pa.int64(), "bigint"),
    (pa.float32(), "real"),
    (pa.float64(), "double precision"),
    (pa.bool_(), "boolean"),
)
TIMESTAMPTZ = "timestamp with time zone"

INTERNAL_DDL = """
CREATE TABLE IF NOT EXISTS streamdash_offsets (
    consumer text NOT NULL,
    stream text NOT NULL,
    next_offset bigint,
    watermark_us bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, stream)
);
CREATE TABLE IF NOT EXISTS streamdash_checkpoints (
    consumer text PRIMARY KEY,
    offsets jsonb NOT NULL,
    state bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS streamdash_counters (
    scope text NOT NULL,
    name text NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (scope, name)
);
-- The token of the last committed batch per consumer: lets a retry after a lost COMMIT
-- acknowledgement detect that its batch is already in (see postgres.PostgresSink.commit).
CREATE TABLE IF NOT EXISTS streamdash_commits (
    consumer text PRIMARY KEY,
    token uuid NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id bigserial PRIMARY KEY,
    stream text NOT NULL,
    view text,
    reason text NOT NULL,
    detail text NOT NULL,
    raw bytea NOT NULL,
    raw_text text NOT NULL,
    event_time timestamptz,
    received_at timestamptz NOT NULL,
    log_offset bigint,
    replayed_at timestamptz,
    log_partition integer
);
CREATE INDEX IF NOT EXISTS dead_letters_stream_reason_id ON dead_letters (stream, reason, id);
"""


def upgrade_internal_tables(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Columns added to the internal tables since the first release, added to tables made
    by it. Only when missing: ALTER TABLE takes an exclusive lock even when it has nothing
    to do, which would queue every reader of the table behind any open transaction."""
    if "log_partition" not in existing_columns(conn, "dead_letters"):
        # the Kafka partition of log_offset (NULL on the embedded log)
        conn.execute("ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS log_partition integer")


class SchemaMismatch(Fatal):
    """A result table exists but its columns or unique key differ from its view."""


def key_index_name(table: str) -> str:
    """Name of the unique index on a result table's row identity. PostgreSQL truncates names
    beyond 63 bytes, so long table names get a digest to stay unique."""
    name = f"{table}_key"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha256(table.encode()).hexdigest()[:12]
    return f"{table.encode()[:40].decode(errors='ignore')}_{digest}_key"


def pg_type(arrow_type: pa.DataType, column: str) -> str:
    """The PostgreSQL type of a result column."""
    if pa.types.is_timestamp(arrow_type):
        return TIMESTAMPTZ
    for known, name in _SCALARS:
        if arrow_type == known:
            return name
    supported = "string, int16, int32, int64, float32, float64, bool, timestamp"
    raise Fatal(f"column {column!r} has Arrow type {arrow_type}; expected one of: {supported}")


def table_columns(schema: ViewSchema) -> list[tuple[str, str]]:
    """(column, PostgreSQL type) of the view's table, in table order."""
    columns = [(f.name, pg_type(f.type, f.name)) for f in schema.arrow_schema]
    return [*columns, (UPDATED_AT, TIMESTAMPTZ)]


def create_table_sql(schema: ViewSchema) -> sql.Composed:
    """CREATE TABLE IF NOT EXISTS for the view (its key index: `key_index_sql`)."""
    definitions = []
    for name, type_name in table_columns(schema):
        # key columns stay nullable: a key from a left join may be NULL
        not_null = name in ("window_start", "window_end", FINAL, UPDATED_AT)
        default = " DEFAULT now()" if name == UPDATED_AT else ""
        definitions.append(
            sql.SQL("{} {}{}{}").format(
                sql.Identifier(name),
                sql.SQL(type_name),
                sql.SQL(" NOT NULL" if not_null else ""),
                sql.SQL(default),
            )
        )
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        sql.Identifier(schema.table), sql.SQL(", ").join(definitions)
    )


def key_index_sql(schema: ViewSchema) -> sql.Composed | None:
    """The unique index on (window_start, keys...) that the upsert's ON CONFLICT targets;
    NULLS NOT DISTINCT makes a NULL key one group, as in the engine's GROUP BY. None for a
    key-less running view."""
    if not schema.primary_key:
        return None
    return sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({}) NULLS NOT DISTINCT").format(
        sql.Identifier(key_index_name(schema.table)),
        sql.Identifier(schema.table),
        sql.SQL(", ").join(map(sql.Identifier, schema.primary_key)),
    )


def existing_columns(conn: psycopg.Connection[tuple[object, ...]], table: str) -> dict[str, str]:
    rows = conn.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod)
           FROM pg_attribute a
           WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attnum""",
        (sql.Identifier(table).as_string(conn),),
    ).fetchall()
    return {str(name): str(type_name) for name, type_name in rows}


@dataclass(frozen=True, slots=True)
class UniqueKey:
    """A unique index of an existing table (expression and partial indexes are left out:
    ON CONFLICT cannot use them for our key)."""

    columns: tuple[str, ...]
    primary: bool
    nulls_not_distinct: bool

    def describe(self) -> str:
        kind = "primary key" if self.primary else "unique index"
        nulls = " NULLS NOT DISTINCT" if self.nulls_not_distinct else ""
        return f"{kind} ({', '.join(self.columns)}){nulls}"

    def identifies_rows_of(self, schema: ViewSchema) -> bool:
        """A primary key (from streamdash before nullable keys) still works, as long as no
        key is NULL; a plain unique index would let NULL keys duplicate rows."""
        return self.columns == schema.primary_key and (self.primary or self.nulls_not_distinct)


def existing_unique_keys(
    conn: psycopg.Connection[tuple[object, ...]], table: str
) -> list[UniqueKey]:
    rows = conn.execute(
        """SELECT i.indisprimary, i.indnullsnotdistinct,
                  array_agg(a.attname::text ORDER BY k.n)
           FROM pg_index i
           JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           WHERE i.indrelid = to_regclass(%s) AND i.indisunique
             AND i.indpred IS NULL AND i.indexprs IS NULL
           GROUP BY i.indexrelid, i.indisprimary, i.indnullsnotdistinct
           ORDER BY i.indexrelid""",
        (sql.Identifier(table).as_string(conn),),
    ).fetchall()
    return [
        UniqueKey(tuple(str(c) for c in cast(list[object], columns)), bool(primary), bool(nnd))
        for primary, nnd, columns in rows
    ]


def describe_mismatch(
    schema: ViewSchema, actual: dict[str, str], unique_keys: list[UniqueKey]
) -> list[str]:
    """Human-readable differences between the view's table and the existing one ([]: same)."""
    expected = dict(table_columns(schema))
    problems = [f"missing column {n} {t}" for n, t in expected.items() if n not in actual]
    problems += [f"unexpected column {n} {t}" for n, t in actual.items() if n not in expected]
    problems += [
        f"column {n} is {actual[n]}, expected {t}"
        for n, t in expected.items()
        if n in actual and actual[n] != t
    ]
    wanted = schema.primary_key
    if not problems and wanted and not any(k.identifies_rows_of(schema) for k in unique_keys):
        found = "; ".join(k.describe() for k in unique_keys) or "none"
        problems.append(
            f"no unique index ({', '.join(wanted)}) NULLS NOT DISTINCT (found: {found})"
        )
    return problems


def create_or_check(conn: psycopg.Connection[tuple[object, ...]], schema: ViewSchema) -> None:
    """Create the view's table, or raise SchemaMismatch if one with other columns exists."""
    actual = existing_columns(conn, schema.table)
    if not actual:
        conn.execute(create_table_sql(schema))
        index = key_index_sql(schema)
        if index is not None:
            conn.execute(index)
        return
    problems = describe_mismatch(schema, actual, existing_unique_keys(conn, schema.table))
    if problems:
        raise SchemaMismatch(
            f"table {schema.table!r} of view {schema.view!r} does not match the view: "
            + "; ".join(problems)
            + ". streamdash never alters an existing table: drop or rename it (or give the "
            "view another `table:`) to let it be recreated"
        )
