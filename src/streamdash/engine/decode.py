"""NDJSON chunks -> one Arrow table per batch, decoded by DuckDB against the spec's schema.

Each chunk's payload becomes one chunk of an Arrow string column without a copy: a
vectorised newline scan gives the line offsets, the payload bytes are the data buffer
(concatenating the payloads first cost a copy of the whole batch into fresh memory).
`json_transform` decodes only the fields the pipeline reads (measured ~2x faster than
pyarrow's JSON reader on app_logs, and it projects away unused fields). A batch with a
malformed line falls back to checking each line, and only the undecodable ones become dead
letters — the rest of the batch goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from streamdash.engine.identifiers import quote
from streamdash.log.base import Chunk
from streamdash.results import DeadLetter
from streamdash.spec.models import FieldSpec, StreamSpec

_JSON_TYPES = {
    "string": "VARCHAR",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "VARCHAR",
    "json": "JSON",
}
_UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1}


@dataclass(frozen=True)
class Lines:
    """The raw events of a batch in log order."""

    text: pa.ChunkedArray
    offsets: npt.NDArray[np.int64]
    ingest_us: npt.NDArray[np.int64]

    def raw(self, row: int) -> bytes:
        # the bytes as logged, even if they are not valid UTF-8
        raw = self.text[row].as_buffer()
        return b"" if raw is None else raw.to_pybytes().rstrip(b"\n")

    def binary(self) -> list[bytes]:
        return [r.rstrip(b"\n") for r in self.text.cast(pa.binary()).to_pylist()]

    def row_of(self, offset: int) -> int:
        return int(np.searchsorted(self.offsets, offset))


@dataclass(frozen=True)
class Decoded:
    events: pa.Table
    """Decoded fields plus `_t` (event time, epoch us), `_offset` and `_ingest_us`."""
    lines: Lines
    dead_letters: list[DeadLetter]


def _structure(fields: dict[str, FieldSpec]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, field in fields.items():
        if field.type == "struct":
            assert field.fields is not None
            out[name] = _structure(field.fields)
        else:
            out[name] = _JSON_TYPES[field.type]
    return out


def _floor_div(value: str, divisor: int) -> str:
    """`floor(value / divisor)` in integers: DuckDB's `//` truncates toward zero, which would
    put times before 1970 one microsecond too late."""
    return f"({value} // {divisor} - CASE WHEN {value} % {divisor} < 0 THEN 1 ELSE 0 END)"


def _exact_us(value: str, unit: str) -> str:
    """Epoch microseconds of an integral `value` in `unit`, exact. Floating point is not:
    1717171709999999999 ns / 1000 as a double is ...710000000 us, not ...709999999 us, which
    moves an event across a window edge. HUGEINT arithmetic cannot overflow either, and an
    out-of-range result becomes NULL (an invalid event) instead of an error that would stop
    the batch."""
    whole = f"TRY_CAST({value} AS HUGEINT)"
    us = _floor_div(whole, 1_000) if unit == "ns" else f"{whole} * {_UNIT_US[unit]}"
    return f"TRY_CAST({us} AS BIGINT)"


def event_time_sql(spec: StreamSpec) -> str:
    """Epoch microseconds of the spec'd time field (NULL when absent or unparseable)."""
    field = quote(spec.time.field)
    kind = spec.schema_[spec.time.field].type if spec.time.field in spec.schema_ else "int64"
    unit = spec.time.unit
    if unit == "iso8601" or kind in ("string", "timestamp"):
        return f"epoch_us(TRY_CAST({field} AS TIMESTAMPTZ))"
    if kind != "float64":
        return _exact_us(field, unit)
    # A double holding a whole number (every double above 2^53 does) converts exactly
    # through HUGEINT, like an integer field; only fractional values (float seconds,
    # typically) are rounded in floating point.
    scale = _UNIT_US.get(unit, 1)
    fraction = f"floor({field} / 1000)" if unit == "ns" else f"round({field} * {scale})"
    return (
        f"CASE WHEN {field} = trunc({field}) THEN {_exact_us(field, unit)} "
        f"ELSE TRY_CAST({fraction} AS BIGINT) END"
    )


def decode_sql(spec: StreamSpec, fields: list[str]) -> str:
    """The query turning table `_lines(line, _offset, _ingest_us)` into events."""
    wanted = {name: spec.schema_[name] for name in fields}
    structure = json.dumps(_structure(wanted)).replace("'", "''")
    required = [quote(n) for n, f in wanted.items() if not f.optional]
    valid = " AND ".join(["_t IS NOT NULL", *(f"{c} IS NOT NULL" for c in required)])
    return (
        f"SELECT *, {valid} AS _valid FROM ("
        f"SELECT *, {event_time_sql(spec)} AS _t FROM ("
        f"SELECT unnest(json_transform(line, '{structure}')), _offset, _ingest_us FROM _lines))"
    )


def _line_array(payload: bytes, count: int) -> pa.StringArray | None:
    """The lines of one chunk's payload as a zero-copy Arrow array; None if the payload does
    not hold exactly `count` lines (a chunk that breaks the log contract)."""
    ends = np.flatnonzero(np.frombuffer(payload, dtype=np.uint8) == 10) + 1
    if payload and not payload.endswith(b"\n"):
        ends = np.append(ends, len(payload))  # a last line without its newline
    if len(ends) != count:
        return None
    bounds = np.zeros(count + 1, dtype=np.int32)
    bounds[1:] = ends
    return pa.StringArray.from_buffers(count, pa.py_buffer(bounds), pa.py_buffer(payload))


def split_lines(chunks: list[Chunk]) -> tuple[Lines, list[DeadLetter]]:
    """Cut the chunks' payloads into lines, one per event, with their log offsets; a chunk
    whose line count is not its event count becomes one `invalid` dead letter."""
    arrays: list[pa.StringArray] = []
    kept: list[Chunk] = []
    dead: list[DeadLetter] = []
    for chunk in chunks:
        array = _line_array(chunk.payload, chunk.count)
        times = chunk.ingest_times
        if array is None or (times is not None and len(times) != 8 * chunk.count):
            dead.append(_broken_chunk(chunk))
        elif chunk.count:
            arrays.append(array)
            kept.append(chunk)
    counts = np.fromiter((c.count for c in kept), dtype=np.int64, count=len(kept))
    starts = np.fromiter((c.start for c in kept), dtype=np.int64, count=len(kept))
    first_row = np.cumsum(counts) - counts
    total = int(counts.sum())
    offsets = np.repeat(starts - first_row, counts) + np.arange(total, dtype=np.int64)
    text = pa.chunked_array(arrays, pa.string())
    return Lines(text, offsets, _ingest_times(kept, counts)), dead


def _ingest_times(chunks: list[Chunk], counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each event's ingest time: its chunk's, or its own where the chunk carries them."""
    if all(c.ingest_times is None for c in chunks):
        ingest = np.fromiter((c.ingest_us for c in chunks), dtype=np.int64, count=len(chunks))
        return np.repeat(ingest, counts)
    return np.concatenate(
        [
            np.full(c.count, c.ingest_us, np.int64)
            if c.ingest_times is None
            else np.frombuffer(c.ingest_times, "<i8").astype(np.int64)
            for c in chunks
        ]
    )


def _broken_chunk(chunk: Chunk) -> DeadLetter:
    lines = chunk.payload.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    detail = f"chunk at offset {chunk.start} has {len(lines)} lines for {chunk.count}"
    if len(lines) == chunk.count and chunk.ingest_times is not None:
        times = len(chunk.ingest_times) // 8
        detail = f"chunk at offset {chunk.start} has {times} ingest times for {chunk.count}"
    return DeadLetter(
        chunk.stream,
        "invalid",
        detail,
        chunk.payload,
        chunk.ingest_us,
        offset=chunk.start,
    )


def _decodable(line: bytes) -> bool:
    try:
        return isinstance(msgspec.json.decode(line), dict)
    except msgspec.DecodeError:
        return False


def decode(con: duckdb.DuckDBPyConnection, stream: str, sql: str, chunks: list[Chunk]) -> Decoded:
    """Decode a batch; undecodable lines and events without a valid time or a required
    field become `invalid` dead letters."""
    lines, dead = split_lines(chunks)
    table = pa.table({"line": lines.text, "_offset": lines.offsets, "_ingest_us": lines.ingest_us})
    try:
        events = _query(con, sql, table)
    except (duckdb.InvalidInputException, duckdb.ConversionException):
        good = np.fromiter((_decodable(b) for b in lines.binary()), dtype=bool, count=len(table))
        for row in np.flatnonzero(~good):
            dead.append(_dead(stream, lines, int(row), "not a JSON object"))
        events = _query(con, sql, table.filter(pa.array(good)))
    valid = events.column("_valid").to_numpy(zero_copy_only=False)
    if not valid.all():
        for off in events.column("_offset").to_numpy()[~valid]:
            at = lines.row_of(int(off))
            dead.append(_dead(stream, lines, at, "missing event time or required field"))
        events = events.filter(pa.array(valid))
    return Decoded(events.drop_columns(["_valid"]), lines, dead)


def _query(con: duckdb.DuckDBPyConnection, sql: str, table: pa.Table) -> pa.Table:
    con.register("_lines", table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("_lines")


def _dead(stream: str, lines: Lines, row: int, detail: str) -> DeadLetter:
    return DeadLetter(
        stream,
        "invalid",
        detail,
        lines.raw(row),
        int(lines.ingest_us[row]),
        offset=int(lines.offsets[row]),
    )
