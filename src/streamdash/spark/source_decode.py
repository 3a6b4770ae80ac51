"""Kafka messages -> decoded events inside the tasks of streamdash's Kafka source on Spark.

With the Python Kafka source the events are decoded where they are read, in the source's
Python workers, by the very functions the embedded engine's Kafka workers run:
`kafka.messages.split_messages` (ValueDecoder, the retried-request dedupe, ingest's
validator, with its dead-letter reasons and details) and the engine's DuckDB decode
(`engine.decode`). So an event is accepted or rejected, and its fields and event time come
out, exactly as with `streamdash run` on Kafka; Spark receives typed Arrow columns and
never parses JSON. (With Spark's own Kafka connector the JVM decodes: `decode.py`.)

The source gives the good events: the schema's fields, `_t` (event time, epoch us),
`_ingest_time` (the message timestamp), `_offset`, `_partition`, `_topic`. What the rows
cannot carry — the rejected messages, the count of good events and of dropped duplicates —
is gathered per task in a `RangeTally`, which `range_ledger.py` stores once per message.

Retried-request duplicates are recognised within one task's offset range (a replayed batch
reads the same range, so drops the same messages), not across micro-batches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import msgspec
import numpy as np
import pyarrow as pa

from streamdash.engine.decode import decode, decode_sql
from streamdash.ingest.validate import EventValidator
from streamdash.kafka.decode import ValueDecoder
from streamdash.kafka.dedupe import RequestDedupe
from streamdash.kafka.messages import split_messages
from streamdash.results import DeadLetter
from streamdash.spec.models import FieldSpec, StreamSpec

DECODED = "events"
"""The value of the source's `decode` option: the good events, decoded (the only form)."""
_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.string(),
    "json": pa.string(),
}
_TIME = pa.timestamp("us", tz="UTC")
_META = [
    ("_t", pa.int64()),
    ("_ingest_time", _TIME),
    ("_offset", pa.int64()),
    ("_partition", pa.int32()),
    ("_topic", pa.string()),
]


def arrow_type(spec: FieldSpec) -> pa.DataType:
    if spec.type == "struct":
        assert spec.fields is not None
        return pa.struct([(name, arrow_type(f)) for name, f in spec.fields.items()])
    return _ARROW_TYPES[spec.type]


def arrow_schema(spec: StreamSpec) -> pa.Schema:
    """The columns the source gives (Spark's schema is derived from it)."""
    return pa.schema([*((n, arrow_type(f)) for n, f in spec.schema_.items()), *_META])


@dataclass
class RangeTally:
    """What one task's offset range held besides the events it gave Spark: the offsets of
    its messages and of its good events, and its rejected messages (reason, detail naming
    partition and offset, the bytes as sent) — from which the stream's counters follow, as
    the embedded engine's Kafka workers count them, for the whole range or any tail of it."""

    messages: list[np.ndarray] = field(default_factory=list)
    events: list[np.ndarray] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def add(self, messages: list[int], events: np.ndarray, letters: list[DeadLetter]) -> None:
        self.messages.append(np.asarray(messages, dtype=np.int64))
        self.events.append(events)
        self.dead_letters += letters

    def letters_from(self, first: int) -> list[DeadLetter]:
        """The dead letters of the messages at `first` and after."""
        return [d for d in self.dead_letters if d.offset is not None and d.offset >= first]

    def counters(self, stream: str, first: int = 0) -> dict[tuple[str, str], int]:
        """`events`, `rejected`, `duplicates` (the messages neither) from offset `first` on."""
        messages = sum(int(np.count_nonzero(m >= first)) for m in self.messages)
        events = sum(int(np.count_nonzero(e >= first)) for e in self.events)
        rejected = len(self.letters_from(first))
        counts = {
            (stream, "events"): events,
            (stream, "rejected"): rejected,
            (stream, "duplicates"): messages - events - rejected,
        }
        return {key: value for key, value in counts.items() if value}


class SourceDecoder:
    """Decodes the messages of one stream into record batches of its events. Built once per
    Python worker process (`decoder_for`): the validator's types and DuckDB are not cheap."""

    def __init__(self, stream: str, spec: StreamSpec, dedupe_window_us: int):
        self.stream = stream
        self.dedupe_window_us = dedupe_window_us
        self.schema = arrow_schema(spec)
        self._values = ValueDecoder(max_event_bytes=spec.max_event_bytes)
        self._validator = EventValidator(stream, spec)
        self._sql = decode_sql(spec, list(spec.schema_))
        self._con = duckdb.connect(config={"threads": 1})  # one Spark task per core already

    def new_dedupe(self) -> RequestDedupe:
        return RequestDedupe(self.dedupe_window_us)

    def batch(
        self,
        topic: str,
        partition: int,
        messages: list[Any],
        offsets: list[int],
        dedupe: RequestDedupe,
        tally: RangeTally | None = None,
    ) -> pa.RecordBatch:
        """The events among `messages` (at `offsets`); what else they held is added to
        `tally`."""
        split = split_messages(
            self.stream, partition, messages, self._values, self._validator, dedupe
        )
        decoded = decode(self._con, self.stream, self._sql, split.chunks)
        events = decoded.events
        if tally is not None:
            located = (replace(d, partition=partition) for d in decoded.dead_letters)
            letters = sorted([*split.dead_letters, *located], key=lambda d: d.offset or 0)
            tally.add(offsets, events.column("_offset").to_numpy().astype(np.int64), letters)
        meta = _meta(topic, partition, events.column("_offset"), events.column("_ingest_us"))
        fields = {name: events.column(name) for name in self.schema.names[: -len(_META)]}
        table = pa.table({**fields, **meta, "_t": events.column("_t")})
        table = table.select(self.schema.names).cast(self.schema)
        batches = table.combine_chunks().to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=self.schema)


def _meta(
    topic: str, partition: int, offsets: pa.ChunkedArray, ingest_us: pa.ChunkedArray
) -> dict[str, Any]:
    count = len(offsets)
    return {
        "_t": pa.nulls(count, pa.int64()),
        "_ingest_time": ingest_us.cast(pa.int64()).cast(_TIME),
        "_offset": offsets.cast(pa.int64()),
        "_partition": pa.array(np.full(count, partition, dtype=np.int32)),
        "_topic": pa.array([topic] * count, pa.string()),
    }


def check_decoded(value: str) -> None:
    if value != DECODED:
        raise ValueError(f"decode {value!r} is unknown; expected {DECODED!r}")


def parse_spec(spec_json: str) -> StreamSpec:
    return StreamSpec.model_validate(msgspec.json.decode(spec_json))


def spec_json(spec: StreamSpec) -> str:
    """The stream's spec as a source option (`parse_spec` reads it back)."""
    return spec.model_dump_json(by_alias=True)


@functools.lru_cache(maxsize=8)
def decoder_for(stream: str, spec: str, dedupe_window_us: int) -> SourceDecoder:
    return SourceDecoder(stream, parse_spec(spec), dedupe_window_us)
