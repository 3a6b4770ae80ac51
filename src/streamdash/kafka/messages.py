"""A partition's messages -> engine chunks, dead letters, and the next offset.

Each value is decoded (`decode.ValueDecoder`), duplicates of retried requests are dropped
(`dedupe.RequestDedupe`), and the JSON is checked against the stream's schema in bulk, with
ingest's validator, so that an event is accepted or rejected for the same reasons whether
it came over HTTP or from someone else's producer. A message that is not an event becomes a
dead letter with its partition, offset and raw bytes; the consumer goes on.

A chunk is a run of consecutive offsets, each event with its message's timestamp
(`Chunk.ingest_times`): the engine's `_ingest_time` of an event is its message's timestamp
whatever the batching, so that a replay computes the same values as the first run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from streamdash.ingest.validate import EventValidator
from streamdash.kafka.decode import Undecodable, ValueDecoder
from streamdash.kafka.dedupe import RequestDedupe
from streamdash.log.base import Chunk
from streamdash.results import DeadLetter


@dataclass
class MessageBatch:
    chunks: list[Chunk] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    next_offset: int | None = None
    """One past the last message's offset (None: no message)."""
    messages: int = 0
    duplicates: int = 0


def message_time_us(message: Any) -> int:
    """The message's timestamp (broker or producer time, ms) in microseconds."""
    kind, ms = message.timestamp()
    return int(ms) * 1000 if kind and ms >= 0 else 0


def _chunk(stream: str, start: int, payload: bytes, times_us: npt.NDArray[np.int64]) -> Chunk:
    """The NDJSON `payload` of consecutive offsets from `start` as one chunk, each event
    with its message's time."""
    first = int(times_us[0])
    varied = bool((times_us != first).any())
    per_event = times_us.astype("<i8").tobytes() if varied else None
    return Chunk(stream, start, len(times_us), first, payload, per_event)


def _chunks(
    stream: str, lines: list[bytes], offsets: list[int], times: list[int], skip: set[int]
) -> list[Chunk]:
    """One chunk per run of consecutive offsets among the lines not in `skip`."""
    kept = [i for i in range(len(lines)) if i not in skip]
    chunks: list[Chunk] = []
    start = 0
    while start < len(kept):
        end = start + 1
        while end < len(kept) and offsets[kept[end]] == offsets[kept[end - 1]] + 1:
            end += 1
        run = kept[start:end]
        chunks.append(
            _chunk(
                stream,
                offsets[run[0]],
                b"\n".join([lines[i] for i in run]) + b"\n",
                np.array([times[i] for i in run], np.int64),
            )
        )
        start = end
    return chunks


def _fast(
    stream: str,
    messages: Sequence[Any],
    decoder: ValueDecoder,
    validator: EventValidator | None,
) -> MessageBatch | None:
    """The common batch — consecutive offsets, no headers, every value a one-line JSON
    event of the stream within the size limit — as one chunk, with no Python step per
    message beyond reading it (list comprehensions of C calls, C-level checks of the
    joined payload); None when the batch is not of that kind (the general path decides)."""
    n = len(messages)
    first = int(messages[0].offset())
    if decoder.avro is not None or int(messages[-1].offset()) - first + 1 != n:
        return None
    if [m.headers() for m in messages].count(None) != n:
        return None
    values = [m.value() for m in messages]
    if None in values or max(map(len, values)) > decoder.max_event_bytes:
        return None
    payload = b"\n".join(values) + b"\n"
    if payload.count(b"\n") != n or b"\r" in payload:  # a value of several lines
        return None
    if validator is not None and validator.rejections(values):
        return None
    # a message without a timestamp has -1 (librdkafka): time 0, as in `message_time_us`
    times = np.maximum(np.array([m.timestamp()[1] for m in messages], np.int64), 0) * 1000
    return MessageBatch(
        chunks=[_chunk(stream, first, payload, times)], next_offset=first + n, messages=n
    )


def split_messages(
    stream: str,
    partition: int,
    messages: Sequence[Any],
    decoder: ValueDecoder,
    validator: EventValidator | None,
    dedupe: RequestDedupe,
) -> MessageBatch:
    """`validator` None: the values are not events of a stream (dead-letter records).
    A pure function of the messages (and the dedupe state): however the partition is cut
    into batches, the same events are accepted with the same `_ingest_time`."""
    if not messages:
        return MessageBatch()
    fast = _fast(stream, messages, decoder, validator)
    if fast is not None:
        return fast
    batch = MessageBatch(messages=len(messages))
    lines: list[bytes] = []
    raws: list[bytes] = []
    offsets: list[int] = []
    times: list[int] = []
    duplicate = dedupe.duplicate
    for message in messages:
        offset = message.offset()
        time_us = message_time_us(message)
        if duplicate(message.headers(), time_us):
            batch.duplicates += 1
            continue
        value = message.value()
        try:
            line = decoder.line(value)
        except Undecodable as err:
            batch.dead_letters.append(
                DeadLetter(
                    stream,
                    err.reason,
                    f"partition {partition} offset {offset}: {err.detail}",
                    value or b"",
                    time_us,
                    offset=offset,
                    partition=partition,
                )
            )
            continue
        lines.append(line)
        raws.append(value or b"")
        offsets.append(offset)
        times.append(time_us)
    skip: set[int] = set()
    if validator is not None:
        for rejection in validator.rejections(lines):
            i = rejection.index
            skip.add(i)
            batch.dead_letters.append(
                DeadLetter(
                    stream,
                    rejection.reason,
                    f"partition {partition} offset {offsets[i]}: {rejection.detail}",
                    raws[i],
                    times[i],
                    offset=offsets[i],
                    partition=partition,
                )
            )
    batch.dead_letters.sort(key=lambda d: d.offset or 0)
    batch.chunks = _chunks(stream, lines, offsets, times, skip)
    batch.next_offset = int(messages[-1].offset()) + 1
    return batch
