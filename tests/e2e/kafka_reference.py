"""The batch computation over Kafka topics: every message of a stream's topic read back,
classified as the workers must classify it (decoded and validated like ingest validates an
HTTP body), and the built-in views computed with `batch_reference` — with watermarks per
partition, as each partition's engine keeps its own clock.

The classification uses streamdash's own decoder and validator (what a valid event is, is
tested elsewhere); everything after it — windows, keys, lateness, metrics — is the
independent computation of `batch_reference`.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from dataclasses import dataclass

import msgspec
import psycopg
from batch_reference import (
    EVENT_TIME,
    Event,
    ViewResult,
    builtin_views,
    compare_view,
    compute_view,
    demographics_by_id,
)
from confluent_kafka import Consumer, TopicPartition

from streamdash.ingest.validate import EventValidator
from streamdash.kafka.decode import Undecodable, ValueDecoder
from streamdash.kafka.headers import REQUEST_HEADER, SEQ_HEADER
from streamdash.spec.kafka import topic_of
from streamdash.spec.models import Pipeline

DeadLetterKey = tuple[str, str | None, str, bytes, int, int]
"""(stream, view, reason, raw, partition, offset)."""


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    value: bytes | None
    time_us: int
    request: tuple[bytes, bytes] | None = None
    """(Idempotency-Key, index in the request) from the ingest API's headers."""


def read_records(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[Record]:
    """Every message of `topic`, in (partition, offset) order: read until each partition's
    high watermark (from the fetch responses, not ListOffsets) is reached."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reference"})
    partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    got: list[Record] = []
    seen = dict.fromkeys(partitions, 0)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            for m in consumer.consume(10_000, 0.3):
                assert m.error() is None, m.error()
                headers = dict(m.headers() or ())
                request = None
                if REQUEST_HEADER in headers:
                    request = (headers[REQUEST_HEADER], headers[SEQ_HEADER])
                time_us = m.timestamp()[1] * 1000
                got.append(Record(m.partition(), m.offset(), m.value(), time_us, request))
                seen[m.partition()] = m.offset() + 1
            marks = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)[1]
                for p in partitions
            }
            if all(high >= 0 and seen[p] >= high for p, high in marks.items()):
                break
            assert time.monotonic() < deadline, f"{topic}: read {seen}, high watermarks {marks}"
    finally:
        consumer.close()
    return sorted(got, key=lambda r: (r.partition, r.offset))


def without_retries(records: list[Record]) -> list[Record]:
    """The records less the repeats of a retried request's events (same key and index, same
    partition), which the workers drop."""
    seen: set[tuple[int, bytes, bytes]] = set()
    out = []
    for r in records:
        if r.request is not None:
            if (r.partition, *r.request) in seen:
                continue
            seen.add((r.partition, *r.request))
        out.append(r)
    return out


def end_offsets(records: list[Record]) -> dict[int, int]:
    ends: dict[int, int] = {}
    for r in records:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    return ends


def classify(
    pipeline: Pipeline, stream: str, records: list[Record]
) -> tuple[list[Event], list[DeadLetterKey]]:
    spec = pipeline.streams[stream]
    decoder = ValueDecoder(max_event_bytes=spec.max_event_bytes)
    validator = EventValidator(stream, spec)
    events: list[Event] = []
    rejected: list[DeadLetterKey] = []
    lines: list[tuple[Record, bytes]] = []
    for r in without_retries(records):
        try:
            lines.append((r, decoder.line(r.value)))
        except Undecodable as err:
            rejected.append((stream, None, err.reason, r.value or b"", r.partition, r.offset))
    bad = {x.index: x for x in validator.rejections([line for _, line in lines])}
    for i, (r, line) in enumerate(lines):
        if i in bad:
            rejected.append((stream, None, bad[i].reason, r.value or b"", r.partition, r.offset))
            continue
        data = msgspec.json.decode(line)
        events.append(Event(r.offset, r.time_us, line, data, EVENT_TIME[stream](data), r.partition))
    return events, rejected


@dataclass
class KafkaVerdict:
    results: dict[str, ViewResult]
    problems: list[str]
    events: dict[str, int]
    rejected: dict[str, int]


def ingest_dead_letters(bootstrap: str, topic: str) -> list[DeadLetterKey]:
    """The dead-letter records ingest produced (retries' repeats left out)."""
    out: list[DeadLetterKey] = []
    for r in without_retries(read_records(bootstrap, topic)):
        record = msgspec.json.decode(r.value or b"{}")
        raw = record["raw"].encode() if "raw" in record else base64.b64decode(record["raw_b64"])
        out.append((record["stream"], None, record["reason"], raw, r.partition, r.offset))
    return out


def verify_kafka(
    database_url: str, bootstrap: str, pipeline: Pipeline, dead_letter_topic: str | None = None
) -> KafkaVerdict:
    """Every built-in view's table, the dead letters and the late counters against the
    batch computation over the topics (and over the dead-letter topic, if given)."""
    from psycopg.rows import dict_row

    per_stream: dict[str, list[Event]] = {}
    expected: Counter[DeadLetterKey] = Counter()
    rejected: dict[str, int] = {}
    for stream in pipeline.streams:
        events, bad = classify(
            pipeline, stream, read_records(bootstrap, topic_of(pipeline, stream))
        )
        per_stream[stream] = events
        expected.update(bad)
        rejected[stream] = len(bad)
    results = {
        view.name: compute_view(view, per_stream[view.stream])
        for view in builtin_views(demographics_by_id())
        if view.stream in per_stream
    }
    for name, result in results.items():
        for e in result.late:
            expected[(result.view.stream, name, "late", e.raw, e.partition, e.offset)] += 1
    if dead_letter_topic is not None:
        from_ingest = ingest_dead_letters(bootstrap, dead_letter_topic)
        expected.update(from_ingest)
        for letter in from_ingest:
            rejected[letter[0]] = rejected.get(letter[0], 0) + 1
    problems: list[str] = []
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        for name, result in sorted(results.items()):
            rows = conn.execute(f"SELECT * FROM {name}").fetchall()
            problems += compare_view(result, rows)
        letters = conn.execute(
            "SELECT stream, view, reason, raw, log_partition, log_offset FROM dead_letters"
        ).fetchall()
        counters = {
            (r["scope"], r["name"]): int(r["value"])
            for r in conn.execute("SELECT scope, name, value FROM streamdash_counters").fetchall()
        }
    actual: Counter[DeadLetterKey] = Counter(
        (r["stream"], r["view"], r["reason"], bytes(r["raw"]), r["log_partition"], r["log_offset"])
        for r in letters
    )
    for item, n in sorted((expected - actual).items(), key=repr)[:20]:
        problems.append(f"dead letter missing ({n}x): {item[:3]} {item[3][:100]!r} @{item[4:]}")
    for item, n in sorted((actual - expected).items(), key=repr)[:20]:
        problems.append(f"dead letter unexpected ({n}x): {item[:3]} {item[3][:100]!r} @{item[4:]}")
    for name, result in results.items():
        if counters.get((name, "late"), 0) != len(result.late):
            problems.append(f"counter {name}/late = {counters.get((name, 'late'))}")
    events = {s: counters.get((s, "events"), 0) for s in pipeline.streams}
    for stream, evs in per_stream.items():
        if events[stream] != len(evs):
            problems.append(f"counter {stream}/events = {events[stream]}, want {len(evs)}")
        if counters.get((stream, "rejected"), 0) != rejected[stream]:
            problems.append(f"counter {stream}/rejected = {counters.get((stream, 'rejected'))}")
    return KafkaVerdict(results, problems, events, rejected)
