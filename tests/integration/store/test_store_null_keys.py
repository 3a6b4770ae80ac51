"""NULL group keys (a LEFT JOIN to a reference table without the event's row) against a real
PostgreSQL: one row per NULL key, updated in place, deletable; older tables keep working."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from streamdash.engine import Processor
from streamdash.log.base import Chunk
from streamdash.results import CommitBatch, ViewSchema, ViewUpdate
from streamdash.spec.models import Pipeline
from streamdash.store import BatchRejected, PostgresSink, SchemaMismatch

S = 1_000_000
CAMPAIGNS = ViewSchema(
    view="campaign_metrics",
    table="campaign_metrics",
    stream="user_events",
    window="tumbling",
    keys=(("campaign_id", pa.string()), ("country", pa.string())),
    metrics=(("events", pa.int64()),),
)
SESSIONS = ViewSchema(
    view="sessions",
    table="sessions",
    stream="user_events",
    window="session",
    keys=(("country", pa.string()),),
    metrics=(("events", pa.int64()),),
)
BY_COUNTRY = ViewSchema(
    view="by_country",
    table="by_country",
    stream="user_events",
    window="none",
    keys=(("country", pa.string()),),
    metrics=(("events", pa.int64()),),
)


def rows(schema: ViewSchema, *values: tuple[Any, ...]) -> pa.Table:
    """Rows from tuples (window start s, keys..., metrics...); final is False."""
    columns: dict[str, list[Any]] = {f.name: [] for f in schema.arrow_schema}
    size = 30 if schema.window == "session" else 10
    for value in values:
        rest = list(value)
        if schema.windowed:
            start = rest.pop(0)
            columns["window_start"].append(start * S)
            columns["window_end"].append((start + size) * S)
        for name, _ in (*schema.keys, *schema.metrics):
            columns[name].append(rest.pop(0))
        columns["final"].append(False)
    return pa.table(columns, schema=schema.arrow_schema)


def fetch(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_null_keys_are_one_row_each_updated_in_place(pg_db: str) -> None:
    with PostgresSink(pg_db) as sink:
        sink.open([CAMPAIGNS])
        first = rows(CAMPAIGNS, (0, "c1", "FR", 2), (0, "c1", None, 3), (0, None, None, 1))
        sink.commit("e", CommitBatch(updates=[ViewUpdate(CAMPAIGNS.view, first)]))
        # the same NULL keys again (and twice in one batch: the last row wins)
        later = rows(CAMPAIGNS, (0, "c1", None, 4), (0, None, None, 5), (0, None, None, 6))
        sink.commit("e", CommitBatch(updates=[ViewUpdate(CAMPAIGNS.view, later)]))
        sink.commit("e", CommitBatch(updates=[ViewUpdate(CAMPAIGNS.view, later)]))  # replay
    query = (
        "SELECT extract(epoch FROM window_start)::int, campaign_id, country, events "
        "FROM campaign_metrics ORDER BY campaign_id NULLS LAST, country NULLS LAST"
    )
    assert fetch(pg_db, query) == [(0, "c1", "FR", 2), (0, "c1", None, 4), (0, None, None, 6)]


def test_deleted_sessions_match_null_keys(pg_db: str) -> None:
    with PostgresSink(pg_db) as sink:
        sink.open([SESSIONS])
        both = rows(SESSIONS, (100, None, 1), (200, None, 1), (200, "FR", 1))
        sink.commit("e", CommitBatch(updates=[ViewUpdate(SESSIONS.view, both)]))
        merged = rows(SESSIONS, (100, None, 3))
        deleted = rows(SESSIONS, (200, None, 1)).select(["window_start", "country"])
        update = ViewUpdate(SESSIONS.view, merged, deleted=deleted)
        sink.commit("e", CommitBatch(updates=[update]))
    query = (
        "SELECT extract(epoch FROM window_start)::int, country, events FROM sessions "
        "ORDER BY 1, 2 NULLS LAST"
    )
    assert fetch(pg_db, query) == [(100, None, 3), (200, "FR", 1)]


def test_running_view_with_a_null_key(pg_db: str) -> None:
    with PostgresSink(pg_db) as sink:
        sink.open([BY_COUNTRY])
        for n in (1, 2):
            batch = rows(BY_COUNTRY, (None, n), ("FR", n))
            sink.commit("e", CommitBatch(updates=[ViewUpdate(BY_COUNTRY.view, batch)]))
    query = "SELECT country, events FROM by_country ORDER BY 1 NULLS LAST"
    assert fetch(pg_db, query) == [("FR", 2), (None, 2)]


def test_table_from_before_nullable_keys_still_works(pg_db: str) -> None:
    """Tables created with a PRIMARY KEY are accepted (never altered): non-NULL keys upsert
    as before; a NULL key is refused by the database, not written twice."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE campaign_metrics (window_start timestamptz NOT NULL, "
            "window_end timestamptz NOT NULL, campaign_id text NOT NULL, country text NOT NULL, "
            "events bigint, final boolean NOT NULL, "
            "updated_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (window_start, campaign_id, country))"
        )
    with PostgresSink(pg_db) as sink:
        sink.open([CAMPAIGNS])
        for n in (1, 2):
            batch = rows(CAMPAIGNS, (0, "c1", "FR", n))
            sink.commit("e", CommitBatch(updates=[ViewUpdate(CAMPAIGNS.view, batch)]))
        with pytest.raises(BatchRejected):
            batch = rows(CAMPAIGNS, (0, "c1", None, 1))
            sink.commit("e", CommitBatch(updates=[ViewUpdate(CAMPAIGNS.view, batch)]))
    assert fetch(pg_db, "SELECT campaign_id, country, events FROM campaign_metrics") == [
        ("c1", "FR", 2)
    ]


def test_unique_index_that_treats_nulls_as_distinct_is_a_mismatch(pg_db: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE by_country (country text, events bigint, final boolean NOT NULL, "
            "updated_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("CREATE UNIQUE INDEX by_country_u ON by_country (country)")
    with PostgresSink(pg_db) as sink, pytest.raises(SchemaMismatch, match="NULLS NOT DISTINCT"):
        sink.open([BY_COUNTRY])


def test_engine_rows_with_null_join_keys_reach_postgres(pg_db: str) -> None:
    """campaign_id, country from a LEFT JOIN: users missing from the table give NULL
    countries; every batch updates the same rows, and the totals add up."""
    pipeline = Pipeline.model_validate(
        {
            "streams": {
                "clicks": {
                    "time": {"field": "ts", "unit": "ms"},
                    "schema": {"ts": "int64", "user_id": "int64", "campaign_id": "string?"},
                    "joins": [{"table": "users", "on": "user_id"}],
                }
            },
            "tables": {
                "users": {
                    "key": "id",
                    "schema": {"id": "int64", "country": "string"},
                    "source": {"generator": "users"},
                }
            },
            "views": {
                "campaign_metrics": {
                    "from": "clicks",
                    "window": {"tumbling": "10s"},
                    "group_by": ["campaign_id", "country"],
                    "metrics": {"clicks": "count()"},
                }
            },
        }
    )
    processor = Processor(pipeline, {"users": pa.table({"id": [1], "country": ["FR"]})})
    events = [
        {"ts": 1_700_000_000_000 + i * 100, "user_id": i % 3, "campaign_id": [None, "c1"][i % 2]}
        for i in range(60)
    ]
    lines = [json.dumps(e).encode() + b"\n" for e in events]
    with PostgresSink(pg_db) as sink:
        sink.open(processor.schemas())
        for start in range(0, len(lines), 7):
            part = lines[start : start + 7]
            chunk = Chunk("clicks", start, len(part), 0, b"".join(part))
            sink.commit("e", processor.process("clicks", [chunk], now_us=0))
    result = fetch(
        pg_db,
        "SELECT campaign_id, country, clicks FROM campaign_metrics "
        "ORDER BY campaign_id NULLS LAST, country NULLS LAST",
    )
    expected: dict[tuple[Any, Any], int] = {}
    for e in events:
        key = (e["campaign_id"], "FR" if e["user_id"] == 1 else None)
        expected[key] = expected.get(key, 0) + 1
    assert {(c, k): n for c, k, n in result} == expected
    assert len(result) == 4
