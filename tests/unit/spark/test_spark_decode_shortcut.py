"""The dead-letter query's shortcut (`validator_decides`): where it skips the engine's
decode, it finds the same bad messages and counts the same good events as the decode does,
whatever the messages hold."""

from __future__ import annotations

import functools
import json
from typing import Any

from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdash.spark.source_decode import (
    SourceDecoder,
    parse_spec,
    spec_json,
    validator_decides,
)
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


def _problems(decoder: SourceDecoder, values: list[bytes]) -> tuple[int, list[tuple[int, str]]]:
    rows = decoder.batch("orders", 0, _messages(values), decoder.new_dedupe()).to_pylist()
    bad = [(r["_offset"], r["_problem"]["reason"]) for r in rows if r["_problem"] is not None]
    return sum(r["_good"] for r in rows), bad


@functools.cache
def _decoders() -> tuple[SourceDecoder, SourceDecoder, SourceDecoder]:
    """The shortcut, the decode it stands for, and the events the view queries get."""
    spec = load_pipeline(SPEC).streams["orders"]
    assert validator_decides(spec)
    shortcut = SourceDecoder("orders", spec, "problems", 0)
    decoding = SourceDecoder("orders", spec, "problems", 0)
    decoding._decode_problems = True  # the path of a spec the validator does not decide
    return shortcut, decoding, SourceDecoder("orders", spec, "events", 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(message, min_size=1, max_size=30))
def test_the_shortcut_finds_what_the_decode_finds(values: list[bytes]) -> None:
    shortcut, decoding, events = _decoders()
    good, bad = _problems(shortcut, values)
    assert (good, bad) == _problems(decoding, values)
    kept = events.batch("orders", 0, _messages(values), events.new_dedupe()).num_rows
    assert good == kept and good + len(bad) == len(values)


def test_specs_the_validator_does_not_decide() -> None:
    iso = SPEC.replace("{field: at, unit: ms}", "{field: at, unit: iso8601}")
    iso = iso.replace("at: int64", "at: timestamp")
    required_json = SPEC.replace("tags: json?", "tags: json")
    for text in (iso, required_json):
        spec = load_pipeline(text).streams["orders"]
        assert not validator_decides(spec)
        assert SourceDecoder("orders", spec, "problems", 0)._decode_problems
    spec = load_pipeline(required_json).streams["orders"]
    line = b'{"id": 1, "at": 1700000000000, "country": "DE", "tags": null}'
    good, bad = _problems(SourceDecoder("orders", spec, "problems", 0), [line])
    assert (good, [reason for _, reason in bad]) == (0, ["invalid"])  # as the engine drops it
    assert parse_spec(spec_json(spec)) == spec  # the spec travels to the tasks as JSON
