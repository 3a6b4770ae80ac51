"""The window edges and aggregate rules of docs/semantics.md on Spark, against the embedded
engine, on hand-made events that sit exactly on the edges: an event at a window's end
belongs to the next window, hopping windows hold each event size/every times, sessions
split at exactly one gap, first/last pick by event time, NULLs are skipped; and bad
messages become dead letters with their reason and raw bytes — whether the events are
decoded in the Python Kafka source (by the embedded engine's decoder) or by Spark SQL (the
path of Spark's own Kafka connector)."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg.rows import dict_row

from streamdash.engine import Processor
from streamdash.log.base import Chunk
from streamdash.spark.runner import Decode, SparkRunOptions, run_spark
from streamdash.spec.loader import load_pipeline
from streamdash.store.postgres import PostgresSink
from streamdash.testing.kafka_feed import create_topic, produce
from streamdash.testing.tansu import TansuBroker

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPEC = """
streams:
  clicks:
    time: {field: at, unit: ms}
    key: user
    lateness: 5s
    max_event_bytes: 200
    schema:
      user: string
      at: int64
      amount: float64?
      kind: {type: string, enum: [a, b]}
views:
  per_10s:
    from: clicks
    window: {tumbling: 10s}
    group_by: [user]
    metrics:
      n: count()
      amounts: count(amount)
      total: sum(amount)
      mean: avg(amount)
      low: min(amount)
      first_kind: first(kind)
      last_kind: last(kind)
      median: quantile(amount, 0.5)
      kinds: count_distinct(kind)
      a_count: count_if(kind = 'a')
      share_a: a_count / n
  sliding:
    from: clicks
    window: {hopping: {size: 20s, every: 10s}}
    metrics:
      n: count()
  sessions:
    from: clicks
    window: {session: {gap: 5s}}
    group_by: [user]
    metrics:
      n: count()
      total: sum(amount)
  totals:
    from: clicks
    group_by: [kind]
    where: amount IS NOT NULL
    metrics:
      n: count()
      last_seen: max(_event_time)
"""
T0 = 1_700_000_000_000  # ms, a multiple of 10 s
EVENTS: list[dict[str, Any]] = [  # in log order; none is late (docs/semantics.md)
    {"user": "u1", "at": T0, "amount": 1.0, "kind": "a"},
    {"user": "u2", "at": T0 + 3_000, "amount": 2.5, "kind": "b"},
    {
        "user": "u2",
        "at": T0 + 8_000,
        "amount": 7.5,
        "kind": "a",
    },  # exactly a gap later: new session
    {"user": "u1", "at": T0 + 9_999, "amount": None, "kind": "b"},  # last ms of the window
    {"user": "u1", "at": T0 + 10_000, "amount": 4.0, "kind": "b"},  # the next window's first
    {"user": "u2", "at": T0 + 12_999, "amount": 1.5, "kind": "a"},  # under a gap: same session
    {"user": "u3", "at": T0 + 9_000, "amount": 3.0, "kind": "a"},  # out of order, not late
    {"user": "u3", "at": T0 + 25_000, "amount": 10.0, "kind": "b"},
    {"user": "u1", "at": T0 + 120_000, "amount": 0.0, "kind": "a"},  # moves the watermark on
]
BAD = [
    b"definitely not json",
    b"[1, 2, 3]",
    b'{"user": "u9", "at": "yesterday", "kind": "a"}',
    b'{"user": "u9", "at": 1700000000000, "kind": "c"}',
    b'{"user": "u9", "kind": "a"}',
    b'{"user": "u9", "at": 99999999999999999, "kind": "a"}',
    b'{"user": "u9", "at": 1700000000000, "kind": "a", "note": "%s"}' % (b"x" * 200),
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _rows(url: str, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    out = {}
    for row in rows:
        row.pop("updated_at")
        key = tuple(v for k, v in row.items() if k in ("window_start", "user", "kind"))
        out[key] = row
    return out


def _close(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel)
    return bool(a == b)


@pytest.mark.parametrize("decode", ["source", "spark"])
def test_edges_and_aggregates_as_the_embedded_engine(
    spark_session: SparkSession,
    kafka_broker: TansuBroker,
    pg_db: str,
    tmp_path: Path,
    decode: Decode,
) -> None:
    pipeline = load_pipeline(SPEC)
    lines = [json.dumps(e).encode() for e in EVENTS]
    processor = Processor(pipeline)
    payload = b"".join(line + b"\n" for line in lines)
    with PostgresSink(pg_db) as sink:
        sink.open(processor.schemas())
        batch = processor.process("clicks", [Chunk("clicks", 0, len(lines), 0, payload)], 0)
        sink.commit("engine", batch)
    processor.close()
    assert batch.counters == {("clicks", "events"): len(EVENTS)}  # no event is late
    embedded = {v: _rows(pg_db, v) for v in pipeline.views}

    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    create_topic(kafka_broker.bootstrap, "clicks", 2)
    produce(kafka_broker.bootstrap, "clicks", [*lines[:-1], *BAD], "user")
    produce(kafka_broker.bootstrap, "clicks", lines[-1:], "user")  # the last, as in the log
    checkpoints = str(tmp_path / "checkpoints")
    options = SparkRunOptions(kafka_broker.bootstrap, checkpoints, once=True, decode=decode)
    run_spark(pipeline, pg_db, options, spark=spark_session)

    for view in pipeline.views:
        spark = _rows(pg_db, view)
        want = embedded[view]
        if view == "sessions":  # Spark writes closed sessions only
            want = {k: r for k, r in want.items() if r["final"]}
        assert spark.keys() == want.keys(), view
        for key, row in want.items():
            for column, value in row.items():
                # the embedded median is a DDSketch bucket: within 1 % of the true median
                rel = 0.0101 if column == "median" else 1e-12
                assert _close(spark[key][column], value, rel), (view, key, column)
    start = EPOCH + timedelta(milliseconds=T0)
    sessions = _rows(pg_db, "sessions")
    assert sessions[(start + timedelta(seconds=3), "u2")]["n"] == 1
    assert sessions[(start + timedelta(seconds=8), "u2")]["n"] == 2
    assert _rows(pg_db, "per_10s")[(start, "u1")]["last_kind"] == "b"

    with psycopg.connect(pg_db, row_factory=dict_row) as conn:
        letters = conn.execute("SELECT reason, detail, raw FROM dead_letters").fetchall()
        counters = conn.execute("SELECT scope, name, value FROM streamdash_counters").fetchall()
    reasons = {bytes(d["raw"]): (d["reason"], d["detail"]) for d in letters}
    assert len(letters) == len(BAD)
    assert [reasons[bad][0] for bad in BAD] == [*["malformed"] + ["invalid"] * 5, "too_large"]
    assert "JSON object" in reasons[BAD[1]][1]
    if decode == "source":  # the embedded engine's Kafka workers' words (ingest's validator)
        assert "Expected `int`, got `str` - at `$.at`" in reasons[BAD[2]][1]
        assert "at `$.kind`; expected one of a, b" in reasons[BAD[3]][1]
        assert "missing required field `at`" in reasons[BAD[4]][1]
        assert "`at` must be epoch milliseconds" in reasons[BAD[5]][1]
        assert re.fullmatch(r"partition [01] offset \d+: .*", reasons[BAD[0]][1])
        assert all(detail.startswith("partition ") for _, detail in reasons.values())
    else:
        assert "type" in reasons[BAD[2]][1]
        assert "`kind` is c, expected one of a, b" in reasons[BAD[3]][1]
        assert "`at` is missing" in reasons[BAD[4]][1]
        assert "out of range" in reasons[BAD[5]][1] or "missing" in reasons[BAD[5]][1]
        assert all("Kafka clicks[" in detail for _, detail in reasons.values())
    assert "260 bytes" in reasons[BAD[6]][1] and "200 (max_event_bytes)" in reasons[BAD[6]][1]
    counted = {(c["scope"], c["name"]): c["value"] for c in counters}
    assert counted == {("clicks", "events"): len(EVENTS), ("clicks", "rejected"): len(BAD)}
