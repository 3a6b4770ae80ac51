"""What the Python Kafka source's decoder tallies beside the events it gives Spark: every
message is exactly one event or one dead letter (with its partition and offset), whatever
the messages hold — also where the engine's decode, not ingest's validator, rejects."""

from __future__ import annotations

import functools
import json
from typing import Any

from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdash.spark.source_decode import RangeTally, SourceDecoder, parse_spec, spec_json
from streamdash.spec.loader import load_pipeline

SPEC = """
streams:
  orders:
    time: {field: at, unit: ms}
    schema:
      id: int64
      at: int64
      amount: float64?
      small: int32?
      country: {type: string, enum: [DE, FR]}
      tags: json?
      shipping: {type: struct, optional: true, fields: {city: string}}
views:
  n:
    from: orders
    metrics: {n: count()}
"""
T0 = 1_700_000_000_000
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from(["DE", "FR", "2024-05-01T12:00:00Z"]),
    st.lists(st.integers(), max_size=2),
    st.fixed_dictionaries({"city": st.one_of(st.text(max_size=3), st.integers())}),
)
times = st.one_of(
    st.integers(min_value=T0 - 10, max_value=T0 + 10),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.none(),
)
valid = st.fixed_dictionaries(
    {
        "id": st.integers(0, 100),
        "at": st.integers(min_value=T0 - 10, max_value=T0 + 10),
        "country": st.sampled_from(["DE", "FR"]),
    },
    optional={
        "amount": st.floats(allow_nan=False, allow_infinity=False),
        "small": st.integers(-(2**31), 2**31 - 1),
        "tags": st.lists(st.integers(), max_size=2),
        "shipping": st.fixed_dictionaries({"city": st.text(max_size=3)}),
    },
)
KEYS = ["id", "at", "amount", "small", "country", "tags", "shipping"]


def _mutated(event: dict[str, Any], changes: dict[str, Any], drop: list[str]) -> dict[str, Any]:
    changed = {**event, **changes}
    return {k: v for k, v in changed.items() if k not in drop}


mutated = st.builds(
    _mutated,
    valid,
    st.dictionaries(st.sampled_from(KEYS), values, max_size=2),
    st.lists(st.sampled_from(KEYS), max_size=1),
)
event = st.one_of(valid, mutated, st.fixed_dictionaries({"at": times}))
message = st.one_of(
    event.map(lambda e: json.dumps(e).encode()),
    st.binary(max_size=20),
    st.just(b"[]"),
    st.just(b'{"at": 1700000000000'),
)


def _messages(values: list[bytes]) -> list[Any]:
    return [
        Message(topic="orders", partition=0, offset=i, value=v, timestamp=(1, T0))
        for i, v in enumerate(values)
    ]


def _decoded(decoder: SourceDecoder, values: list[bytes]) -> tuple[list[int], RangeTally]:
    tally = RangeTally()
    offsets = list(range(len(values)))
    rows = decoder.batch("orders", 3, _messages(values), offsets, decoder.new_dedupe(), tally)
    return rows.column("_offset").to_pylist(), tally


def _spec(text: str = SPEC) -> SourceDecoder:
    return SourceDecoder("orders", load_pipeline(text).streams["orders"], 0)


@functools.cache
def _decoders() -> tuple[SourceDecoder, SourceDecoder]:
    """A spec whose validator rejects all the decode would, and one where it does not (an
    event time parsed from ISO-8601 strings by DuckDB)."""
    iso = SPEC.replace("{field: at, unit: ms}", "{field: at, unit: iso8601}")
    return _spec(), _spec(iso.replace("at: int64", "at: timestamp"))


@settings(max_examples=300, deadline=None)
@given(st.lists(message, min_size=1, max_size=30), st.booleans())
def test_every_message_is_one_event_or_one_dead_letter(values: list[bytes], iso: bool) -> None:
    decoder = _decoders()[iso]
    offsets, tally = _decoded(decoder, values)
    bad = [d.offset for d in tally.dead_letters]
    assert sum(len(e) for e in tally.events) == len(offsets)
    assert sorted(offsets + bad) == list(range(len(values)))  # type: ignore[type-var]
    assert all(d.partition == 3 and d.stream == "orders" for d in tally.dead_letters)
    assert bad == sorted(bad)  # type: ignore[type-var]
    assert tally.counters("orders").get(("orders", "rejected"), 0) == len(bad)
    assert tally.counters("orders").get(("orders", "events"), 0) == len(offsets)
    assert ("orders", "duplicates") not in tally.counters("orders")
    tail = len(values) // 2  # what a range holds from an offset on
    assert tally.letters_from(tail) == [d for d in tally.dead_letters if d.offset >= tail]  # type: ignore[operator]
    counted = tally.counters("orders", tail)
    assert counted.get(("orders", "events"), 0) == sum(o >= tail for o in offsets)
    assert counted.get(("orders", "rejected"), 0) == len(tally.letters_from(tail))


def test_a_required_json_null_is_rejected_by_the_decode_and_counted() -> None:
    decoder = _spec(SPEC.replace("tags: json?", "tags: json"))
    line = b'{"id": 1, "at": 1700000000000, "country": "DE", "tags": null}'
    offsets, tally = _decoded(decoder, [line, line.replace(b"null", b"[1]")])
    assert offsets == [1]
    assert [(d.reason, d.offset, d.partition) for d in tally.dead_letters] == [("invalid", 0, 3)]
    assert tally.counters("orders") == {("orders", "events"): 1, ("orders", "rejected"): 1}
    spec = load_pipeline(SPEC).streams["orders"]
    assert parse_spec(spec_json(spec)) == spec  # the spec travels to the tasks as JSON
