"""Decoding in the Python Kafka source (`source_decode.py`), on messages a real broker
(tansu) delivers, read by the source's own range reader: good events come out typed, each
hostile message becomes exactly one problem row with its reason, and a retried request's
repeated events are dropped — as the embedded engine's Kafka workers do it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from streamdash.log.kafka import REQUEST_HEADER, SEQ_HEADER
from streamdash.spark.kafka_source import KafkaRange, read_range, source_decoder
from streamdash.spark.source_decode import arrow_schema, spec_json
from streamdash.spec.loader import load_pipeline
from streamdash.testing.kafka_feed import create_topic
from streamdash.testing.tansu import TansuBroker

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


def _read(broker: TansuBroker, shape: str, end: int) -> pa.Table:
    spec = load_pipeline(SPEC).streams["orders"]
    options = {
        "bootstrap": broker.bootstrap,
        "topic": "orders",
        "decode": shape,
        "stream": "orders",
        "spec": spec_json(spec),
        "dedupeWindowUs": str(600_000_000),
    }
    decoder = source_decoder(options)
    dedupe = decoder.new_dedupe()

    def build(part: KafkaRange, messages: list[Any], offsets: list[int]) -> pa.RecordBatch:
        return decoder.batch(part.topic, part.partition, messages, dedupe)

    batches: Iterator[pa.RecordBatch] = read_range(options, KafkaRange("orders", 0, 0, end), build)
    table = pa.Table.from_batches(list(batches), schema=decoder.schema)
    assert table.schema == arrow_schema(spec, shape)  # type: ignore[arg-type]
    return table


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
    events = _read(kafka_broker, "events", topic).to_pylist()
    assert [e["id"] for e in events] == [1, 2, 3, 10]
    assert [e["_t"] for e in events] == [(T0 + i) * 1000 for i in (0, 1, 2, 3)]
    assert events[0]["amount"] == 2.5 and events[1]["amount"] is None
    assert events[1]["shipping"] == {"city": "Lyon"} and events[0]["shipping"] is None
    assert [e["_offset"] for e in events] == [0, 1, 2, len(GOOD) + len(HOSTILE)]
    assert {(e["_topic"], e["_partition"]) for e in events} == {("orders", 0)}
    assert all(e["_ingest_time"].year >= 2026 for e in events)  # the broker's timestamps


def test_each_hostile_message_is_one_problem_with_its_reason(
    kafka_broker: TansuBroker, topic: int
) -> None:
    rows = _read(kafka_broker, "problems", topic).to_pylist()
    assert sum(r["_good"] for r in rows) == len(GOOD) + 1  # the retried event once
    bad = {r["_offset"]: r for r in rows if r["_problem"] is not None}
    assert all(r["_good"] == 0 for r in bad.values())
    assert sorted(bad) == list(range(len(GOOD), len(GOOD) + len(HOSTILE)))
    for offset, (value, reason, words) in enumerate(HOSTILE, start=len(GOOD)):
        problem = bad[offset]["_problem"]
        assert problem["reason"] == reason, (value, problem)
        assert words in problem["detail"], (value, problem)
        assert problem["detail"].startswith(f"partition 0 offset {offset}: ")
        assert bad[offset]["_raw"] == (value or b"")


def test_the_source_names_its_decoded_columns_and_refuses_an_unknown_shape() -> None:
    """What Spark asks the source for when a reader gives no schema of its own."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from streamdash.spark.kafka_source import KafkaDataSource

    spec = load_pipeline(SPEC).streams["orders"]
    options = {"bootstrap": "-", "topic": "orders", "stream": "orders", "spec": spec_json(spec)}
    for shape in ("events", "problems"):
        schema = KafkaDataSource({**options, "decode": shape}).schema()
        assert schema == from_arrow_schema(arrow_schema(spec, shape))
    with pytest.raises(ValueError, match=r"decode shape 'jvm' is unknown; expected one of"):
        KafkaDataSource({**options, "decode": "jvm"}).schema()
    with pytest.raises(ValueError, match=r"needs the option\(s\) \['spec'\]"):
        KafkaDataSource({"decode": "events", "stream": "orders"}).schema()
