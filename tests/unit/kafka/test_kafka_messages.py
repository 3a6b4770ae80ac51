"""Message values -> event lines and dead letters: tombstones, oversized values, non-UTF-8
bytes, pretty-printed JSON, Avro framing on a JSON stream, events that fail the schema; and
the dedupe of retried requests' events, which must survive a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest

from streamdash.ingest.validate import EventValidator
from streamdash.kafka.decode import Undecodable, ValueDecoder
from streamdash.kafka.dedupe import RequestDedupe
from streamdash.kafka.headers import REQUEST_HEADER, SEQ_HEADER
from streamdash.kafka.messages import split_messages
from streamdash.spec.loader import load_builtin

GOOD = b'{"user_id": 1, "item_id": 2, "interaction_type": "click", "timestamp": 1717000000.5}'


@dataclass
class Message:
    """What split_messages reads of a confluent_kafka.Message (which has no constructor)."""

    _offset: int
    _value: bytes | None
    _time_ms: int = 1_717_000_000_000
    _headers: list[tuple[str, bytes]] | None = None

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, self._time_ms)

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers


def test_value_decoder_reasons() -> None:
    decoder = ValueDecoder(max_event_bytes=100)
    assert decoder.line(GOOD[:60] + b"}") == GOOD[:60] + b"}"
    assert decoder.line(b'{\n  "a": 1,\n  "b": "x"\n}') == b'{"a":1,"b":"x"}'
    cases = {
        None: ("malformed", "tombstone"),
        b"x" * 101: ("too_large", "101 bytes"),
        b"\x00\x00\x00\x00\x01rest": ("malformed", "Avro"),
        b'{\n"a": [1,\n': ("malformed", "not valid JSON"),
    }
    for value, (reason, detail) in cases.items():
        with pytest.raises(Undecodable) as err:
            decoder.line(value)
        assert err.value.reason == reason and detail in err.value.detail


def test_split_messages_dead_letters_keep_partition_offset_and_raw_bytes() -> None:
    pipeline = load_builtin("interactions")
    spec = pipeline.streams["interactions"]
    validator = EventValidator("interactions", spec)
    decoder = ValueDecoder(max_event_bytes=spec.max_event_bytes)
    pretty = msgspec.json.format(GOOD, indent=2)
    messages = [
        Message(10, GOOD),
        Message(11, None),  # tombstone
        Message(12, b"not json"),
        Message(13, b'{"user_id": "x"}'),  # wrong type, missing fields
        Message(14, b'{"user_id": "\xff"}'),  # not UTF-8
        Message(15, pretty),
        Message(16, GOOD, _time_ms=1_717_000_000_001),
        Message(18, GOOD, _time_ms=1_717_000_000_001),  # an offset gap
    ]
    batch = split_messages("interactions", 3, messages, decoder, validator, RequestDedupe(10**9))
    assert batch.next_offset == 19
    assert [(d.offset, d.reason) for d in batch.dead_letters] == [
        (11, "malformed"),
        (12, "malformed"),
        (13, "invalid"),
        (14, "malformed"),
    ]
    assert all(d.partition == 3 and f"offset {d.offset}" in d.detail for d in batch.dead_letters)
    assert batch.dead_letters[3].raw == b'{"user_id": "\xff"}'
    # runs of consecutive offsets, every line one event with its own message's time
    assert [(c.start, c.count, c.ingest_us) for c in batch.chunks] == [
        (10, 1, 1_717_000_000_000_000),
        (15, 2, 1_717_000_000_000_000),
        (18, 1, 1_717_000_000_001_000),
    ]
    assert [batch.chunks[1].ingest_time_of(i) for i in range(2)] == [
        1_717_000_000_000_000,
        1_717_000_000_001_000,
    ]
    assert batch.chunks[0].ingest_times is None  # one time for the whole chunk
    assert batch.chunks[1].payload == msgspec.json.format(GOOD, indent=-1) + b"\n" + GOOD + b"\n"


def _retry(request: bytes, seq: int) -> list[tuple[str, bytes]]:
    return [(REQUEST_HEADER, request), (SEQ_HEADER, str(seq).encode())]


def test_dedupe_drops_only_events_seen_and_survives_a_checkpoint() -> None:
    dedupe = RequestDedupe(window_us=60_000_000)
    t = 1_000_000_000
    assert not dedupe.duplicate(_retry(b"r1", 0), t)
    assert not dedupe.duplicate(_retry(b"r1", 2), t)  # seq 1 was lost in the first attempt
    copy = RequestDedupe(window_us=60_000_000)
    copy.restore(dedupe.snapshot())
    for d in (dedupe, copy):
        assert d.duplicate(_retry(b"r1", 0), t + 1)
        assert not d.duplicate(_retry(b"r1", 1), t + 1)  # taken from the retry
        assert d.duplicate(_retry(b"r1", 2), t + 1)
        assert not d.duplicate(None, t) and not d.duplicate([("other", b"x")], t)
        # forgotten once the message time is a window past the request's first event
        assert not d.duplicate(_retry(b"r1", 0), t + 60_000_001)
