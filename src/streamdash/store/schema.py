"""DDL: result tables from `ViewSchema`s, the internal `streamdash_*` tables, and the check
that an existing result table still matches its view (we never alter a user's table)."""

from __future__ import annotations

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
    replayed_at timestamptz
);
CREATE INDEX IF NOT EXISTS dead_letters_stream_reason_id ON dead_letters (stream, reason, id);
"""


class SchemaMismatch(Fatal):
    """A result table exists but its columns or primary key differ from its view."""


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
    """CREATE TABLE IF NOT EXISTS for the view. A running view without keys has exactly one
    row and no primary key: each commit replaces it."""
    primary = set(schema.primary_key)
    definitions = []
    for name, type_name in table_columns(schema):
        not_null = name in primary or name in ("window_end", FINAL, UPDATED_AT)
        default = " DEFAULT now()" if name == UPDATED_AT else ""
        definitions.append(
            sql.SQL("{} {}{}{}").format(
                sql.Identifier(name),
                sql.SQL(type_name),
                sql.SQL(" NOT NULL" if not_null else ""),
                sql.SQL(default),
            )
        )
    if schema.primary_key:
        definitions.append(
            sql.SQL("PRIMARY KEY ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, schema.primary_key))
            )
        )
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        sql.Identifier(schema.table), sql.SQL(", ").join(definitions)
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


def existing_primary_key(conn: psycopg.Connection[tuple[object, ...]], table: str) -> list[str]:
    rows = conn.execute(
        """SELECT a.attname
           FROM pg_index i
           JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           WHERE i.indrelid = to_regclass(%s) AND i.indisprimary
           ORDER BY k.n""",
        (sql.Identifier(table).as_string(conn),),
    ).fetchall()
    return [str(name) for (name,) in rows]


def describe_mismatch(
    schema: ViewSchema, actual: dict[str, str], actual_pk: list[str]
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
    if not problems and list(schema.primary_key) != actual_pk:
        problems.append(
            f"primary key is ({', '.join(actual_pk)}), expected ({', '.join(schema.primary_key)})"
        )
    return problems


def create_or_check(conn: psycopg.Connection[tuple[object, ...]], schema: ViewSchema) -> None:
    """Create the view's table, or raise SchemaMismatch if one with other columns exists."""
    actual = existing_columns(conn, schema.table)
    if not actual:
        conn.execute(create_table_sql(schema))
        return
    problems = describe_mismatch(schema, actual, existing_primary_key(conn, schema.table))
    if problems:
        raise SchemaMismatch(
            f"table {schema.table!r} of view {schema.view!r} does not match the view: "
            + "; ".join(problems)
            + ". streamdash never alters an existing table: drop or rename it (or give the "
            "view another `table:`) to let it be recreated"
        )
