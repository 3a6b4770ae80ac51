"""Pure parts of the store: type mapping, DDL text, mismatch messages, Arrow conformance,
JSON conversion and key parsing, URL redaction."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from streamdash.errors import Fatal
from streamdash.results import ViewSchema
from streamdash.store.connection import describe
from streamdash.store.reader import InvalidQueryError, _key_value, json_value
from streamdash.store.schema import (
    UniqueKey,
    create_table_sql,
    describe_mismatch,
    key_index_name,
    key_index_sql,
    pg_type,
    table_columns,
)
from streamdash.store.upsert import BatchRejected, conform

VIEW = ViewSchema(
    view="metrics",
    table="metrics",
    stream="s",
    window="tumbling",
    keys=(("app", pa.string()), ("shard", pa.int32())),
    metrics=(("n", pa.int64()), ("rate", pa.float64()), ("ok", pa.bool_())),
)
RUNNING = ViewSchema(
    view="totals", table="totals", stream="s", window="none", keys=(), metrics=(("n", pa.int64()),)
)


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.string(), "text"),
        (pa.int32(), "integer"),
        (pa.int64(), "bigint"),
        (pa.float64(), "double precision"),
        (pa.bool_(), "boolean"),
        (pa.timestamp("us", tz="UTC"), "timestamp with time zone"),
        (pa.timestamp("ms"), "timestamp with time zone"),
    ],
)
def test_pg_type(arrow_type: pa.DataType, expected: str) -> None:
    assert pg_type(arrow_type, "c") == expected


def test_unsupported_type_names_the_column() -> None:
    with pytest.raises(Fatal, match=r"'tags'.*expected one of"):
        pg_type(pa.list_(pa.string()), "tags")


def test_table_columns_in_contract_order() -> None:
    names = [name for name, _ in table_columns(VIEW)]
    assert names == [
        "window_start", "window_end", "app", "shard", "n", "rate", "ok", "final", "updated_at"
    ]  # fmt: skip


def test_ddl_has_nullable_keys_and_a_nulls_not_distinct_unique_index() -> None:
    windowed = create_table_sql(VIEW).as_string()
    assert "PRIMARY KEY" not in windowed
    assert '"window_start" timestamp with time zone NOT NULL' in windowed
    assert '"app" text,' in windowed  # a key from a left join may be NULL
    assert '"final" boolean NOT NULL' in windowed
    index = key_index_sql(VIEW)
    assert index is not None
    assert index.as_string() == (
        'CREATE UNIQUE INDEX IF NOT EXISTS "metrics_key" ON "metrics" '
        '("window_start", "app", "shard") NULLS NOT DISTINCT'
    )
    assert "PRIMARY KEY" not in create_table_sql(RUNNING).as_string()
    assert key_index_sql(RUNNING) is None


def test_key_index_name_fits_postgres_identifiers() -> None:
    assert key_index_name("metrics") == "metrics_key"
    long_a, long_b = "a" * 60 + "_x", "a" * 60 + "_y"
    assert len(key_index_name(long_a)) <= 63
    assert key_index_name(long_a) != key_index_name(long_b)


def test_mismatch_names_each_difference() -> None:
    expected_key = UniqueKey(VIEW.primary_key, primary=False, nulls_not_distinct=True)
    actual = dict(table_columns(VIEW))
    del actual["rate"]
    actual["extra"] = "text"
    actual["n"] = "integer"
    problems = describe_mismatch(VIEW, actual, [expected_key])
    assert "missing column rate double precision" in problems
    assert "unexpected column extra text" in problems
    assert "column n is integer, expected bigint" in problems
    columns = dict(table_columns(VIEW))
    shorter = UniqueKey(("window_start", "app"), primary=True, nulls_not_distinct=False)
    assert describe_mismatch(VIEW, columns, [shorter]) == [
        "no unique index (window_start, app, shard) NULLS NOT DISTINCT "
        "(found: primary key (window_start, app))"
    ]
    # NULLs distinct: a NULL key would make a new row at every commit
    plain = UniqueKey(VIEW.primary_key, primary=False, nulls_not_distinct=False)
    assert describe_mismatch(VIEW, columns, [plain]) != []
    assert describe_mismatch(VIEW, columns, []) != []
    assert describe_mismatch(VIEW, columns, [expected_key]) == []
    # tables made before keys became nullable keep working (their keys are never NULL)
    old = UniqueKey(VIEW.primary_key, primary=True, nulls_not_distinct=False)
    assert describe_mismatch(VIEW, columns, [old]) == []
    assert describe_mismatch(RUNNING, dict(table_columns(RUNNING)), []) == []


def test_conform_reorders_and_casts() -> None:
    target = pa.schema([("a", pa.int32()), ("b", pa.string())])
    table = pa.table({"b": ["x"], "a": pa.array([1], pa.int64())})
    assert conform(table, target, "t").schema == target


def test_conform_rejects_missing_extra_and_lossy_columns() -> None:
    target = pa.schema([("a", pa.int32())])
    with pytest.raises(BatchRejected, match=r"missing: \['a'\].*unexpected: \['z'\]"):
        conform(pa.table({"z": [1]}), target, "t")
    with pytest.raises(BatchRejected, match="cannot convert"):
        conform(pa.table({"a": pa.array([2**40], pa.int64())}), target, "t")


def test_json_value() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 1, 500000, tzinfo=timezone(timedelta(hours=2)))
    assert json_value(moment) == "2024-05-01T10:00:01.500000Z"
    assert json_value(math.nan) is None and json_value(math.inf) is None
    assert json_value(1.5) == 1.5 and json_value("x") == "x"


def test_key_values_are_typed_and_checked() -> None:
    assert _key_value(VIEW, "shard", "7") == 7
    assert _key_value(VIEW, "app", "a-1") == "a-1"
    with pytest.raises(InvalidQueryError, match="expects a int32 value, got 'x'"):
        _key_value(VIEW, "shard", "x")
    with pytest.raises(InvalidQueryError, match=r"no key column 'nope'.*\['app', 'shard'\]"):
        _key_value(VIEW, "nope", "1")


def test_describe_never_shows_the_password() -> None:
    text = describe("postgresql://user:s3cret@db.example:6543/results")
    assert text == "PostgreSQL db.example:6543/results"
    assert "s3cret" not in text


def test_utc_constant_is_used() -> None:
    assert json_value(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00Z"
