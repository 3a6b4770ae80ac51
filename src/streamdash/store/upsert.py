"""Write one `ViewUpdate` into its result table: COPY into a staging table, then one
set-based statement. One statement per batch (not per row) is what makes 200k-row updates
cheap; Arrow is encoded to binary COPY by `pgbinary` (numpy), no Python object per row.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import psycopg
import pyarrow as pa
from psycopg import sql

from streamdash.errors import Fatal
from streamdash.results import ViewSchema, ViewUpdate
from streamdash.store import pgbinary
from streamdash.store.schema import UPDATED_AT, pg_type

_ORDER = "_sd_order"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BatchRejected(Fatal):
    """The database refused a batch's content (a type or constraint error): retrying the
    same batch cannot succeed, and nothing of it was written."""


def conform(table: pa.Table, target: pa.Schema, what: str) -> pa.Table:
    """`table` with exactly the `target` columns, in order and cast to their types."""
    names = set(table.column_names)
    missing = [f.name for f in target if f.name not in names]
    extra = sorted(names - set(target.names))
    if missing or extra:
        raise BatchRejected(
            f"{what}: columns differ from the view's schema (missing: {missing or 'none'}, "
            f"unexpected: {extra or 'none'}); expected {target.names}"
        )
    try:
        return table.select(target.names).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise BatchRejected(f"{what}: cannot convert to the view's column types: {err}") from err


def _identifiers(names: tuple[str, ...] | list[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _staging(
    cur: psycopg.Cursor[tuple[object, ...]], schema: pa.Schema, kind: str
) -> sql.Identifier:
    """A temporary table for `schema`, emptied at every commit. Its name depends on the
    columns, so a changed view never reuses a stale staging table on a long-lived connection."""
    columns = [(f.name, pg_type(f.type, f.name)) for f in schema]
    digest = hashlib.sha256(repr((kind, columns)).encode()).hexdigest()[:20]
    name = sql.Identifier(f"_sd_{kind}_{digest}")
    definitions: list[sql.Composable] = [
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns
    ]
    # _sd_order numbers rows in COPY order: the last row of a key in a batch wins
    definitions.append(sql.SQL(f"{_ORDER} bigint GENERATED ALWAYS AS IDENTITY"))
    cur.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
            name, sql.SQL(", ").join(definitions)
        )
    )
    return name


def _copy(cur: psycopg.Cursor[tuple[object, ...]], stage: sql.Identifier, table: pa.Table) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        stage, _identifiers(table.column_names)
    )
    with cur.copy(statement) as copy:
        for chunk in pgbinary.encode(table):
            copy.write(chunk)


def _delete(cur: psycopg.Cursor[tuple[object, ...]], schema: ViewSchema, deleted: pa.Table) -> None:
    target = sql.Identifier(schema.table)
    if not schema.primary_key:  # the single row of a key-less running view
        cur.execute(sql.SQL("DELETE FROM {}").format(target))
        return
    keys = conform(
        deleted.select([n for n in deleted.column_names if n in schema.primary_key]),
        pa.schema([schema.arrow_schema.field(n) for n in schema.primary_key]),
        f"view {schema.view!r}: deleted rows",
    )
    stage = _staging(cur, keys.schema, "delete")
    _copy(cur, stage, keys)
    # keys may be NULL (see schema.py): match them as the unique index does, NULL = NULL;
    # window_start is never NULL, and `=` on it lets the index's leading column find rows
    match = sql.SQL(" AND ").join(
        sql.SQL(
            "t.{0} = s.{0}" if k == "window_start" else "t.{0} IS NOT DISTINCT FROM s.{0}"
        ).format(sql.Identifier(k))
        for k in schema.primary_key
    )
    cur.execute(sql.SQL("DELETE FROM {} t USING {} s WHERE {}").format(target, stage, match))


def _upsert(cur: psycopg.Cursor[tuple[object, ...]], schema: ViewSchema, rows: pa.Table) -> None:
    stage = _staging(cur, rows.schema, "upsert")
    _copy(cur, stage, rows)
    target = sql.Identifier(schema.table)
    columns = rows.column_names
    if not schema.primary_key:  # key-less running view: keep the batch's last row only
        cur.execute(sql.SQL("DELETE FROM {}").format(target))
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY {} DESC LIMIT 1").format(
                target, _identifiers(columns), _identifiers(columns), stage, sql.Identifier(_ORDER)
            )
        )
        return
    pk = schema.primary_key
    others = [c for c in columns if c not in pk]
    assignments = [sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others]
    assignments.append(sql.SQL("{} = now()").format(sql.Identifier(UPDATED_AT)))
    # Unchanged rows are not rewritten: replaying a batch leaves even updated_at as it was.
    changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(
        sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in others),
        sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in others),
    )
    # DISTINCT ON and the NULLS NOT DISTINCT unique index that ON CONFLICT infers from
    # (window_start, keys...) both take NULL keys as equal, like the engine's GROUP BY.
    statement = sql.SQL(
        "INSERT INTO {target} AS t ({columns}) "
        "SELECT DISTINCT ON ({pk}) {columns} FROM {stage} ORDER BY {pk}, {order} DESC "
        "ON CONFLICT ({pk}) DO UPDATE SET {assignments} WHERE {changed}"
    ).format(
        target=target,
        columns=_identifiers(columns),
        pk=_identifiers(pk),
        stage=stage,
        order=sql.Identifier(_ORDER),
        assignments=sql.SQL(", ").join(assignments),
        changed=changed,
    )
    cur.execute(statement)


def write_update(
    cur: psycopg.Cursor[tuple[object, ...]], schema: ViewSchema, update: ViewUpdate
) -> None:
    """Apply one view's changes inside the caller's transaction.

    Deletes run before the upsert: a key both deleted and upserted in one batch ends up with
    the upserted row, since `rows` is the view's state after the batch.
    """
    rows = conform(update.rows, schema.arrow_schema, f"view {schema.view!r}: rows")
    if update.deleted is not None and update.deleted.num_rows:
        _delete(cur, schema, update.deleted)
    if rows.num_rows:
        _upsert(cur, schema, rows)


def mark_final(
    cur: psycopg.Cursor[tuple[object, ...]], schema: ViewSchema, watermark_us: int
) -> None:
    """Flag the windows that ended at or before `watermark_us` final (running views have no
    windows: nothing to do). Rows already final are not rewritten."""
    if not schema.windowed:
        return
    cur.execute(
        sql.SQL(
            "UPDATE {} SET final = true, {} = now() WHERE window_end <= %s AND NOT final"
        ).format(sql.Identifier(schema.table), sql.Identifier(UPDATED_AT)),
        (_EPOCH + timedelta(microseconds=watermark_us),),
    )
