"""Result tables of a period, read from PostgreSQL: checked against what a report needs,
then copied out in one `COPY ... TO STDOUT (FORMAT csv)` and parsed by Arrow's CSV reader.

Why CSV COPY: the rows leave PostgreSQL in one stream and are typed column by column by
Arrow (no Python object per value); timestamps travel as integer microseconds since the
epoch, so no time zone or text format is involved. NULL is written as an unquoted `\\N` and
every text value is quoted, which keeps a NULL key apart from an empty string.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from streamdash.reports.definitions import TableRequest
from streamdash.reports.engine import ReportError
from streamdash.reports.period import Period
from streamdash.results import arrow_timestamp
from streamdash.store.connection import connect, describe, first_line

_ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "character varying": pa.string(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "numeric": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp with time zone": arrow_timestamp(),
}
NULL = "\\N"


@dataclass(frozen=True)
class TableExtent:
    """All windows of a table, whatever the period: where the data is, for a hint when a
    period holds none."""

    rows: int
    first_window: datetime | None
    last_window: datetime | None


def column_types(
    conn: psycopg.Connection[tuple[object, ...]], request: TableRequest, where: str
) -> dict[str, pa.DataType]:
    """The Arrow type of each requested column; ReportError if the table or a column is
    missing (naming the view and stream that write it) or has a type no report reads."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        (request.table,),
    ).fetchall()
    if not rows:
        raise ReportError(
            f"table {request.table!r} does not exist in {where}: it is written by view "
            f"{request.view!r} of stream {request.stream!r} (run the pipeline with "
            f"`streamdash run` or `streamdash demo` until {request.stream} events arrive)"
        )
    present = {str(name): str(kind) for name, kind in rows}
    missing = [c for c in request.columns if c not in present]
    if missing:
        raise ReportError(
            f"table {request.table!r} in {where} has no column(s) {', '.join(missing)}: it was "
            f"created by a spec whose view {request.view!r} differs from the built-in one"
        )
    types: dict[str, pa.DataType] = {}
    for column in request.columns:
        kind = present[column]
        if kind not in _ARROW_TYPES:
            raise ReportError(
                f"column {request.table}.{column} has type {kind}; expected one of: "
                f"{', '.join(sorted(_ARROW_TYPES))}"
            )
        types[column] = _ARROW_TYPES[kind]
    return types


def period_query(request: TableRequest, types: dict[str, pa.DataType]) -> sql.Composed:
    """SELECT of the requested columns for `%s <= time < %s`, timestamps as epoch us."""
    selected: list[sql.Composable] = []
    for column in request.columns:
        name = sql.Identifier(column)
        if pa.types.is_timestamp(types[column]):
            # extract() is numeric (exact) since PostgreSQL 14: no rounding of microseconds
            selected.append(
                sql.SQL("(extract(epoch FROM {}) * 1000000)::bigint AS {}").format(name, name)
            )
        else:
            selected.append(name)
    return sql.SQL("SELECT {} FROM {} WHERE {} >= %s AND {} < %s").format(
        sql.SQL(", ").join(selected),
        sql.Identifier(request.table),
        sql.Identifier(request.time_column),
        sql.Identifier(request.time_column),
    )


def _copy_statement(query: sql.Composed, types: dict[str, pa.DataType]) -> sql.Composed:
    text_columns = [sql.Identifier(c) for c, t in types.items() if pa.types.is_string(t)]
    options = sql.SQL("FORMAT csv, NULL {}").format(sql.Literal(NULL))
    if text_columns:
        options = sql.SQL("{}, FORCE_QUOTE ({})").format(options, sql.SQL(", ").join(text_columns))
    return sql.SQL("COPY ({}) TO STDOUT WITH ({})").format(query, options)


def _parse(data: bytes, types: dict[str, pa.DataType]) -> pa.Table:
    wire = {c: pa.int64() if pa.types.is_timestamp(t) else t for c, t in types.items()}
    if not data:
        return pa.schema(list(types.items())).empty_table()
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=list(types)),
        convert_options=pacsv.ConvertOptions(
            column_types=wire,
            null_values=[NULL],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    return table.cast(pa.schema(list(types.items())))


def fetch_table(database_url: str, request: TableRequest, period: Period) -> pa.Table:
    """The rows of `request.table` whose time column lies in the period, as Arrow."""
    where = describe(database_url)
    try:
        with connect(database_url) as conn:
            types = column_types(conn, request, where)
            statement = _copy_statement(period_query(request, types), types)
            buffer = io.BytesIO()
            with (
                conn.cursor() as cursor,
                cursor.copy(statement, (period.since, period.until)) as copy,
            ):
                for block in copy:
                    buffer.write(block)
    except psycopg.Error as err:
        raise ReportError(
            f"reading {request.table!r} from {where} failed: {first_line(err)}"
        ) from err
    return _parse(buffer.getvalue(), types)


def table_extent(database_url: str, request: TableRequest) -> TableExtent:
    """How many windows the table holds in all, and the first and last window start."""
    query = sql.SQL("SELECT count(*), min({}), max({}) FROM {}").format(
        sql.Identifier(request.time_column),
        sql.Identifier(request.time_column),
        sql.Identifier(request.table),
    )
    try:
        with connect(database_url) as conn:
            row = conn.execute(query).fetchone()
    except psycopg.Error as err:
        raise ReportError(
            f"reading {request.table!r} from {describe(database_url)} failed: {first_line(err)}"
        ) from err
    assert row is not None
    count, first, last = row
    assert isinstance(count, int)
    return TableExtent(
        count,
        first if isinstance(first, datetime) else None,
        last if isinstance(last, datetime) else None,
    )
