"""A worker consuming topics that other producers write: JSON and Confluent-framed Avro
(the seed's `UserEvent` schema, ids resolved from a schema directory). Poison messages —
not JSON, not UTF-8, a tombstone, too large, an unknown schema id, a truncated record —
become dead letters with their partition, offset and raw bytes, and consumption goes on
past them. A request retried with the same Idempotency-Key is counted once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from confluent_kafka import Producer
from kafka_support import create_topic, read_topic

from streamdash.kafka.avro import builtin_schema_text, encode_framed
from streamdash.kafka.settings import KafkaSettings
from streamdash.kafka.worker import Worker
from streamdash.log.kafka import KafkaLog
from streamdash.sources.generators import generate
from streamdash.spec.loader import load_builtin
from streamdash.spec.models import Pipeline
from streamdash.testing.tansu import TansuBroker

START_US = 1_717_000_000_000_000
OFFSETS = "SELECT next_offset FROM streamdash_offsets WHERE consumer LIKE 'kafka:%'"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(log=tmp_path / "tansu.log") as running:
        yield running


def _run_worker(pipeline: Pipeline, bootstrap: str, db: str, until: Any) -> None:
    settings = KafkaSettings.for_pipeline(pipeline, bootstrap)
    stop = threading.Event()
    worker = Worker(pipeline, settings, db, batch_messages=50)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 90
        while not until():
            assert thread.is_alive(), "the worker stopped"
            assert time.monotonic() < deadline, "the worker did not get there"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(60)


def _rows(db: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        try:
            return conn.execute(sql).fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def _counter(db: str, scope: str, name: str) -> int:
    rows = _rows(
        db, f"SELECT value FROM streamdash_counters WHERE scope = '{scope}' AND name = '{name}'"
    )
    return int(rows[0][0]) if rows else 0


def test_json_poison_becomes_dead_letters_and_consumption_goes_on(
    broker: TansuBroker, pg_db: str
) -> None:
    base = load_builtin("interactions")
    pipeline = base.model_copy(update={"kafka": base.kafka.model_copy(update={"dlq_topic": "dlq"})})
    create_topic(broker.bootstrap, "user_interactions", 1)
    good = list(generate("interactions", count=20, seed=2, start_us=START_US))
    poison = [
        b"this is not json",
        b'{"user_id": 1, "item_id": "\xff\xfe"}',
        None,  # a tombstone
        b'{"user_id": 1, "pad": "' + b"x" * (2 << 20) + b'"}',  # over max_event_bytes
        b'{"user_id": "one"}',  # JSON, not an event of the schema
        b"[1, 2, 3]",
    ]
    pretty = msgspec.json.format(good[0], indent=4)  # line breaks: still one event
    values: list[bytes | None] = [*good[:10], *poison, pretty, *good[10:]]
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 8 << 20})
    for value in values:
        producer.produce("user_interactions", value, b"k", partition=0)
    assert producer.flush(30) == 0
    end = len(values)

    def done() -> bool:
        rows = _rows(
            pg_db, "SELECT next_offset FROM streamdash_offsets WHERE consumer LIKE 'kafka:%'"
        )
        return any(r[0] == end for r in rows)

    _run_worker(pipeline, broker.bootstrap, pg_db, done)
    letters = _rows(
        pg_db,
        "SELECT log_partition, log_offset, reason, raw, detail FROM dead_letters "
        "ORDER BY log_offset",
    )
    assert [(p, o, r) for p, o, r, _, _ in letters] == [
        (0, 10, "malformed"),
        (0, 11, "malformed"),
        (0, 12, "malformed"),
        (0, 13, "too_large"),
        (0, 14, "invalid"),
        (0, 15, "invalid"),
    ]
    assert bytes(letters[1][3]) == poison[1]  # the raw bytes, not a decoded copy
    assert "tombstone" in letters[2][4] and "offset 12" in letters[2][4]
    # every good message before and after the poison counted, the pretty one too
    assert _counter(pg_db, "interactions", "events") == 21
    assert _counter(pg_db, "interactions", "rejected") == 6
    total = _rows(pg_db, "SELECT sum(total_interactions) FROM user_aggregations")[0][0]
    assert total == 21
    copies = read_topic(broker.bootstrap, "dlq", 6)  # the optional copy, with its origin
    sources = sorted(dict(m.headers)["streamdash-source"] for m in copies)
    assert sources == [f"user_interactions:0:{o}".encode() for o in range(10, 16)]
    assert copies[0].value in poison or copies[0].value == b""


def _avro_pipeline(schema_dir: Path) -> Pipeline:
    base = load_builtin("user_events")
    streams = {"user_events": base.streams["user_events"].model_copy(update={"format": "avro"})}
    return Pipeline.model_validate(
        {
            "streams": streams,
            "tables": base.tables,
            "views": base.views,
            "kafka": {"schema_dir": str(schema_dir)},
        }
    )


def test_avro_records_by_schema_id_and_avro_poison(
    broker: TansuBroker, pg_db: str, tmp_path: Path
) -> None:
    schema = builtin_schema_text()
    (tmp_path / "7.avsc").write_text(schema)
    pipeline = _avro_pipeline(tmp_path)
    create_topic(broker.bootstrap, "user_events", 2)
    events = [
        msgspec.json.decode(e) for e in generate("user_events", count=40, seed=4, start_us=START_US)
    ]
    for event in events:  # the Avro map holds strings
        event["metadata"] = {k: str(v) for k, v in event["metadata"].items()}
    framed = [encode_framed(7, schema, e) for e in events]
    poison = {
        "unknown id": encode_framed(99, schema, events[0]),
        "truncated": framed[1][: len(framed[1]) // 2],
        "plain json": msgspec.json.encode(events[2]),
        "extra bytes": framed[3] + b"\x00\x01",
    }
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i, value in enumerate(framed[:20]):
        producer.produce("user_events", value, b"u", partition=i % 2)
    for value in poison.values():
        producer.produce("user_events", value, b"u", partition=0)
    for i, value in enumerate(framed[20:]):
        producer.produce("user_events", value, b"u", partition=i % 2)
    assert producer.flush(30) == 0

    def done() -> bool:
        rows = _rows(
            pg_db, "SELECT next_offset FROM streamdash_offsets WHERE consumer LIKE 'kafka:%'"
        )
        return sorted(r[0] for r in rows if r[0] is not None) == [20, 24]

    _run_worker(pipeline, broker.bootstrap, pg_db, done)
    letters = _rows(pg_db, "SELECT log_partition, log_offset, reason, detail FROM dead_letters")
    found = {(p, o): (r, d) for p, o, r, d in letters}
    assert found[(0, 10)][0] == "invalid" and "unknown Avro schema id 99" in found[(0, 10)][1]
    assert found[(0, 11)][0] == "malformed" and "does not decode" in found[(0, 11)][1]
    assert found[(0, 12)][0] == "malformed" and "magic byte" in found[(0, 12)][1]
    assert found[(0, 13)][0] == "malformed" and "after the Avro record" in found[(0, 13)][1]
    assert len(found) == 4
    assert _counter(pg_db, "user_events", "events") == 40
    counted = _rows(pg_db, "SELECT sum(event_count) FROM event_type_metrics")[0][0]
    assert counted == 40


def test_a_retried_request_is_counted_once(broker: TansuBroker, pg_db: str) -> None:
    pipeline = load_builtin("interactions")
    create_topic(broker.bootstrap, "user_interactions", 2)
    settings = KafkaSettings.for_pipeline(pipeline, broker.bootstrap)
    log = KafkaLog(pipeline, settings)
    lines = list(generate("interactions", count=30, seed=8, start_us=START_US))
    payload = b"\n".join(lines) + b"\n"
    log.append("interactions", [(payload, 30)], ["request-1"])
    log.append("interactions", [(payload, 30)], ["request-1"])  # the retry
    log.append("interactions", [(payload, 30)])  # no key: a new request, counted again
    log.close()

    def done() -> bool:
        rows = _rows(
            pg_db, "SELECT next_offset FROM streamdash_offsets WHERE consumer LIKE 'kafka:%'"
        )
        return sum(r[0] or 0 for r in rows) == 90

    _run_worker(pipeline, broker.bootstrap, pg_db, done)
    assert _counter(pg_db, "interactions", "events") == 60
    assert _counter(pg_db, "interactions", "duplicates") == 30
