"""Decoding in the Python Kafka source (`source_decode.py`), on messages a real broker
(tansu) delivers, read by the source's own range reader: good events come out typed, each
hostile message becomes exactly one dead letter with its reason, stored with the stream's
counters once however often (and in whichever ranges) its messages are read, and a retried
request's repeated events are dropped — as the embedded engine's Kafka workers do it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import psycopg
import pyarrow as pa
import pytest

from streamdash.kafka.headers import REQUEST_HEADER, SEQ_HEADER
from streamdash.spark.kafka_source import KafkaRange, read_decoded
from streamdash.spark.range_ledger import create_stored_table, ledger_for
from streamdash.spark.source_decode import arrow_schema, parse_spec, spec_json
from streamdash.spec.loader import load_pipeline
from streamdash.store.postgres import PostgresSink
from streamdash.testing.kafka_feed import create_topic
from streamdash.testing.tansu import TansuBroker

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPEC = """
streams:
  orders:
    time: {field: at, unit: ms}
    max_event_bytes: 120
    schema:
      id: int64
      at: int64
      amount: float64?
      country: {type: string, enum: [DE, FR]}
      shipping: {type: struct, optional: true, fields: {city: string}}
views:
  per_country:
    from: orders
    window: {tumbling: 10s}
    group_by: [country]
    metrics: {n: count()}
"""
T0 = 1_700_000_000_000
GOOD = [
    b'{"id": 1, "at": 1700000000000, "amount": 2.5, "country": "DE"}',
    b'{"id": 2, "at": 1700000000001, "country": "FR", "shipping": {"city": "Lyon"}}',
    b'{\n  "id": 3,\n  "at": 1700000000002,\n  "country": "DE"\n}',  # pretty-printed
]
HOSTILE: list[tuple[bytes | None, str, str]] = [  # value, reason, words of the detail
    (None, "malformed", "tombstone"),
    (b"\xff\xfe not utf-8", "malformed", "not valid JSON"),
    (b'{"id": "4", "at": 1700000000000, "country": "DE"}', "invalid", "Expected `int`"),
    (b'{"id": 5, "at": 1700000000000, "country": "XX"}', "invalid", "expected one of DE, FR"),
    (b'{"id": 6, "at": -5, "country": "DE"}', "invalid", "`at` must be epoch milliseconds"),
    (
        b'{"id": 7, "at": 1700000000000, "country": "DE", "pad": "' + b"x" * 100 + b'"}',
        "too_large",
        "the stream's limit is 120",
    ),
    (b'[{"id": 8}]', "invalid", "expected a JSON object"),
    (
        b'{"id": 9, "at": 1700000000000, "country": "DE", "shipping": {"city": 3}}',
        "invalid",
        "at `$.shipping.city`",
    ),
]
RETRIED = b'{"id": 10, "at": 1700000000003, "country": "FR"}'


Message = tuple[bytes | None, list[tuple[str, str | bytes | None]]]


def _produce(bootstrap: str, messages: list[Message]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for value, headers in messages:
        producer.produce("orders", value=value, partition=0, headers=headers or None)
    assert producer.flush(30) == 0


def _options(broker: TansuBroker, ledger: str | None = None) -> dict[str, str]:
    spec = load_pipeline(SPEC).streams["orders"]
    options = {
        "bootstrap": broker.bootstrap,
        "topic": "orders",
        "decode": "events",
        "stream": "orders",
        "spec": spec_json(spec),
        "dedupewindowus": str(600_000_000),
    }
    if ledger is not None:
        options["ledgerurl"] = ledger
    return options


def _read(options: dict[str, str], start: int, end: int) -> pa.Table:
    batches: Iterator[pa.RecordBatch] = read_decoded(options, KafkaRange("orders", 0, start, end))
    table = pa.Table.from_batches(list(batches), schema=arrow_schema(parse_spec(options["spec"])))
    assert table.schema == arrow_schema(load_pipeline(SPEC).streams["orders"])
    return table


def _stored(url: str) -> tuple[list[dict[str, Any]], dict[str, int], list[tuple[Any, ...]]]:
    """(dead letters, the stream's counters, the offsets stored until per partition)."""
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        letters = cur.execute(
            "SELECT reason, detail, raw, log_offset, log_partition FROM dead_letters ORDER BY id"
        ).fetchall()
        counted = cur.execute("SELECT name, value FROM streamdash_counters").fetchall()
        until = cur.execute(
            "SELECT stream, topic, kafka_partition, stored_until FROM streamdash_spark_stored"
        ).fetchall()
    counters = {str(r["name"]): int(r["value"]) for r in counted}
    return letters, counters, [tuple(r.values()) for r in until]


@pytest.fixture
def store(pg_db: str) -> Iterator[str]:
    with PostgresSink(pg_db) as sink:
        sink.open([])
    with psycopg.connect(pg_db, autocommit=True) as conn:
        create_stored_table(conn)
    yield pg_db
    ledger_for(pg_db).close()  # the connection a Python worker would keep across its tasks


@pytest.fixture
def topic(kafka_broker: TansuBroker) -> int:
    """The messages in partition 0 of `orders`; their count."""
    create_topic(kafka_broker.bootstrap, "orders", 1)
    request: list[tuple[str, str | bytes | None]] = [(REQUEST_HEADER, b"req-1"), (SEQ_HEADER, b"0")]
    messages: list[Message] = [(v, []) for v in GOOD] + [(v, []) for v, _, _ in HOSTILE]
    messages += [(RETRIED, request), (RETRIED, request)]  # a retry produced it again
    _produce(kafka_broker.bootstrap, messages)
    return len(messages)


def test_good_events_come_out_typed_and_a_retried_request_once(
    kafka_broker: TansuBroker, topic: int
) -> None:
    events = _read(_options(kafka_broker), 0, topic).to_pylist()
    assert [e["id"] for e in events] == [1, 2, 3, 10]
    assert [e["_t"] for e in events] == [(T0 + i) * 1000 for i in (0, 1, 2, 3)]
    assert events[0]["amount"] == 2.5 and events[1]["amount"] is None
    assert events[1]["shipping"] == {"city": "Lyon"} and events[0]["shipping"] is None
    assert [e["_offset"] for e in events] == [0, 1, 2, len(GOOD) + len(HOSTILE)]
    assert {(e["_topic"], e["_partition"]) for e in events} == {("orders", 0)}
    assert all(e["_ingest_time"].year >= 2026 for e in events)  # the broker's timestamps


def test_each_hostile_message_is_one_dead_letter_stored_once(
    kafka_broker: TansuBroker, topic: int, store: str
) -> None:
    options = _options(kafka_broker, store)
    first = _read(options, 0, topic)
    assert _read(options, 0, topic) == first  # a replay: the same events...
    letters, counters, until = _stored(store)  # ... and nothing stored twice
    assert counters == {"events": len(GOOD) + 1, "rejected": len(HOSTILE), "duplicates": 1}
    assert [d["log_offset"] for d in letters] == list(range(len(GOOD), len(GOOD) + len(HOSTILE)))
    for letter, (value, reason, words) in zip(letters, HOSTILE, strict=True):
        assert letter["reason"] == reason, (value, letter)
        assert words in letter["detail"], (value, letter)
        assert letter["detail"].startswith(f"partition 0 offset {letter['log_offset']}: ")
        assert bytes(letter["raw"]) == (value or b"") and letter["log_partition"] == 0
    assert until == [("orders", "orders", 0, topic)]

    # another view's query reads further in one range: only what is new is stored
    _produce(kafka_broker.bootstrap, [(GOOD[0], []), (HOSTILE[1][0], [])])
    _read(options, 0, topic + 2)
    _read(options, topic, topic + 2)  # and a third, behind: nothing
    letters, counters, until = _stored(store)
    assert counters == {"events": len(GOOD) + 2, "rejected": len(HOSTILE) + 1, "duplicates": 1}
    assert [d["log_offset"] for d in letters][-2:] == [len(GOOD) + len(HOSTILE) - 1, topic + 1]
    assert until == [("orders", "orders", 0, topic + 2)]


def test_without_ledger_options_nothing_is_stored(
    kafka_broker: TansuBroker, topic: int, store: str
) -> None:
    assert _read(_options(kafka_broker), 0, topic).num_rows == len(GOOD) + 1
    assert _stored(store) == ([], {}, [])


def test_the_source_names_its_decoded_columns_and_refuses_unknown_decoding() -> None:
    """What Spark asks the source for when a reader gives no schema of its own."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from streamdash.spark.kafka_source import KafkaDataSource

    spec = load_pipeline(SPEC).streams["orders"]
    options = {"bootstrap": "-", "topic": "orders", "stream": "orders", "spec": spec_json(spec)}
    schema = KafkaDataSource({**options, "decode": "events"}).schema()
    assert schema == from_arrow_schema(arrow_schema(spec))
    with pytest.raises(ValueError, match=r"decode 'problems' is unknown; expected 'events'"):
        KafkaDataSource({**options, "decode": "problems"}).schema()
    with pytest.raises(ValueError, match=r"needs the option\(s\) \['spec'\]"):
        KafkaDataSource({"decode": "events", "stream": "orders"}).schema()


def test_the_database_url_is_redacted_in_the_plan(spark_session: SparkSession) -> None:
    """The ledger's database URL (with its password) travels to the tasks as an option;
    Spark shows options in plans and its UI, but redacts those named like *url*."""
    from streamdash.spark.source import decoded_frame, register_python_source

    register_python_source(spark_session)
    stream = ("orders", load_pipeline(SPEC).streams["orders"])
    url = "postgresql://streamdash:hunter2@db.internal/results"
    frame = decoded_frame(spark_session, "127.0.0.1:9", "orders", stream, ledger_url=url)
    plan = frame._jdf.queryExecution().toString()
    assert "ledgerUrl=*********(redacted)" in plan and "hunter2" not in plan
    assert "topic=orders" in plan  # the other options are shown
    # a task per core at most (kafka_source.group_ranges)
    parallelism = spark_session.sparkContext.defaultParallelism
    assert f"maxTasksPerBatch={parallelism}" in plan
