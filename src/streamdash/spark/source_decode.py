"""Kafka messages -> decoded events inside the tasks of streamdash's Kafka source on Spark.

With the Python Kafka source the events are decoded where they are read, in the source's
Python workers, by the very functions the embedded engine's Kafka workers run:
`kafka.messages.split_messages` (ValueDecoder, the retried-request dedupe, ingest's
validator, with its dead-letter reasons and details) and the engine's DuckDB decode
(`engine.decode`). So an event is accepted or rejected, and its fields and event time come
out, exactly as with `streamdash run` on Kafka; Spark receives typed Arrow columns and
never parses JSON. (With Spark's own Kafka connector the JVM decodes: `decode.py`.)

Two shapes, one per query that reads a stream:
- `events`: the good events: the schema's fields, `_t` (event time, epoch us),
  `_ingest_time` (the message timestamp), `_offset`, `_partition`, `_topic`;
- `problems`: a row per bad message, without the fields: `_problem` (reason, detail) and
  `_raw` (the value as sent), and per record batch one row whose `_good` counts its good
  events (the stream's `events` counter) — the dead-letter query's whole input, a few rows
  per 20,000 messages instead of one each.

Retried-request duplicates are recognised within one task's offset range (a replayed batch
reads the same range, so drops the same messages), not across micro-batches.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

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

Shape = Literal["events", "problems"]
SHAPES: tuple[Shape, ...] = ("events", "problems")
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
PROBLEM = pa.struct([("reason", pa.string()), ("detail", pa.string())])
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


def arrow_schema(spec: StreamSpec, shape: Shape) -> pa.Schema:
    """The columns the source gives for `shape` (Spark's schema is derived from it)."""
    if shape == "events":
        return pa.schema([*((n, arrow_type(f)) for n, f in spec.schema_.items()), *_META])
    return pa.schema([*_META, ("_raw", pa.binary()), ("_problem", PROBLEM), ("_good", pa.int64())])


def validator_decides(spec: StreamSpec) -> bool:
    """Whether every event ingest's validator accepts is one the engine's decode keeps.

    The decode drops an event whose event time or a required field comes out NULL. The
    validator already demands every required field non-null and a numeric event time within
    1970..2200 — except a required `json` field (JSON `null` passes as raw JSON) and a time
    parsed from a string (DuckDB's timestamp parser is not msgspec's). Where neither occurs
    the dead-letter query need not run the decode only to count the good events."""
    kind = spec.schema_[spec.time.field].type
    numeric_time = spec.time.unit != "iso8601" and kind in ("int32", "int64", "float64")
    required_json = any(f.type == "json" and not f.optional for f in spec.schema_.values())
    return numeric_time and not required_json


class SourceDecoder:
    """Decodes the messages of one stream into record batches of one shape. Built once per
    Python worker process (`decoder_for`): the validator's types and DuckDB are not cheap."""

    def __init__(self, stream: str, spec: StreamSpec, shape: Shape, dedupe_window_us: int):
        self.stream = stream
        self.shape = shape
        self.dedupe_window_us = dedupe_window_us
        self.schema = arrow_schema(spec, shape)
        self._values = ValueDecoder(max_event_bytes=spec.max_event_bytes)
        self._validator = EventValidator(stream, spec)
        self._sql = decode_sql(spec, list(spec.schema_))
        self._con = duckdb.connect(config={"threads": 1})  # one Spark task per core already
        self._decode_problems = shape == "problems" and not validator_decides(spec)

    def new_dedupe(self) -> RequestDedupe:
        return RequestDedupe(self.dedupe_window_us)

    def batch(
        self, topic: str, partition: int, messages: list[Any], dedupe: RequestDedupe
    ) -> pa.RecordBatch:
        split = split_messages(
            self.stream, partition, messages, self._values, self._validator, dedupe
        )
        if self.shape == "events":
            events = decode(self._con, self.stream, self._sql, split.chunks).events
            meta = _meta(topic, partition, events.column("_offset"), events.column("_ingest_us"))
            fields = {name: events.column(name) for name in self.schema.names[: -len(_META)]}
            table = pa.table({**fields, **meta, "_t": events.column("_t")})
        else:
            bad = split.dead_letters
            good_count = sum(chunk.count for chunk in split.chunks)
            if self._decode_problems:
                decoded = decode(self._con, self.stream, self._sql, split.chunks)
                bad = sorted(bad + decoded.dead_letters, key=lambda d: d.offset or 0)
                good_count = decoded.events.num_rows
            good = pa.table(
                {
                    **_meta(topic, partition, [None], [None]),
                    "_raw": pa.nulls(1, pa.binary()),
                    "_problem": pa.nulls(1, PROBLEM),
                    "_good": pa.array([good_count], pa.int64()),
                }
            )
            table = pa.concat_tables([good, _letters(topic, partition, bad)])
        table = table.select(self.schema.names).cast(self.schema)
        batches = table.combine_chunks().to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=self.schema)


def _meta(topic: str, partition: int, offsets: Any, ingest_us: Any) -> dict[str, Any]:
    count = len(offsets)
    return {
        "_t": pa.nulls(count, pa.int64()),
        "_ingest_time": _column(ingest_us, pa.int64()).cast(_TIME),
        "_offset": _column(offsets, pa.int64()),
        "_partition": pa.array(np.full(count, partition, dtype=np.int32)),
        "_topic": pa.array([topic] * count, pa.string()),
    }


def _column(values: Any, kind: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.cast(kind)
    return pa.array(values, kind)


def _letters(topic: str, partition: int, bad: list[DeadLetter]) -> pa.Table:
    """The rows of the rejected messages: `_problem` and the bytes as sent."""
    meta = _meta(topic, partition, [d.offset for d in bad], [d.received_us for d in bad])
    return pa.table(
        {
            **meta,
            "_raw": pa.array([d.raw for d in bad], pa.binary()),
            "_problem": pa.array([{"reason": d.reason, "detail": d.detail} for d in bad], PROBLEM),
            "_good": pa.array([0] * len(bad), pa.int64()),
        }
    )


def check_shape(shape: str) -> Shape:
    if shape not in SHAPES:
        raise ValueError(f"decode shape {shape!r} is unknown; expected one of {SHAPES}")
    return shape


def parse_spec(spec_json: str) -> StreamSpec:
    return StreamSpec.model_validate(msgspec.json.decode(spec_json))


def spec_json(spec: StreamSpec) -> str:
    """The stream's spec as a source option (`parse_spec` reads it back)."""
    return spec.model_dump_json(by_alias=True)


@functools.lru_cache(maxsize=8)
def decoder_for(stream: str, spec: str, shape: str, dedupe_window_us: int) -> SourceDecoder:
    return SourceDecoder(stream, parse_spec(spec), check_shape(shape), dedupe_window_us)
