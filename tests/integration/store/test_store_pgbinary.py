"""The numpy binary COPY encoder, checked by PostgreSQL itself (a round trip)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from streamdash.store import pgbinary

TS = pa.timestamp("us", tz="UTC")
COLUMNS = "t text, i integer, b bigint, f double precision, ok boolean, at timestamptz"


def _round_trip(url: str, table: pa.Table) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TEMP TABLE rt (n serial, {COLUMNS})")
        with conn.cursor().copy("COPY rt (t, i, b, f, ok, at) FROM STDIN (FORMAT binary)") as cp:
            for chunk in pgbinary.encode(table):
                cp.write(chunk)
        return conn.execute("SELECT t, i, b, f, ok, at FROM rt ORDER BY n").fetchall()


def _table(rows: list[tuple[Any, ...]], text_type: pa.DataType | None = None) -> pa.Table:
    names = ["t", "i", "b", "f", "ok", "at"]
    types = [text_type or pa.string(), pa.int32(), pa.int64(), pa.float64(), pa.bool_(), TS]
    return pa.table(
        {
            n: pa.array([r[k] for r in rows], t)
            for k, (n, t) in enumerate(zip(names, types, strict=True))
        }
    )


ROWS: list[tuple[Any, ...]] = [
    ("a", 1, 2**40, 0.1 + 0.2, True, datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
    (None, None, None, None, None, None),
    ("", -(2**31), -(2**63), -0.0, False, datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ('ünï "q",\n€', 2**31 - 1, 0, math.inf, True, datetime(1999, 1, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string()])
def test_every_type_with_nulls_round_trips(pg_db: str, text_type: pa.DataType) -> None:
    assert _round_trip(pg_db, _table(ROWS, text_type)) == ROWS


def test_nan_and_sliced_chunked_input(pg_db: str) -> None:
    table = pa.concat_tables([_table(ROWS), _table(ROWS)]).slice(3, 3)  # offsets != 0
    back = _round_trip(pg_db, table)
    assert back == [ROWS[3], ROWS[0], ROWS[1]]
    nan = _round_trip(pg_db, _table([("x", 1, 1, math.nan, True, None)]))
    assert math.isnan(nan[0][3])


def test_many_rows_span_several_chunks(pg_db: str) -> None:
    n = pgbinary.CHUNK_ROWS + 10
    table = _table([(f"k{i}", i, i, i / 2, i % 2 == 0, None) for i in range(n)])
    back = _round_trip(pg_db, table)
    assert len(back) == n and back[-1] == (f"k{n - 1}", n - 1, n - 1, (n - 1) / 2, False, None)


def test_unsupported_type_is_named() -> None:
    with pytest.raises(TypeError, match="list<item: string>"):
        list(pgbinary.encode(pa.table({"x": pa.array([["a"]])})))
