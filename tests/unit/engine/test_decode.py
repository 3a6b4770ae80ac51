"""Cutting log chunks into lines: zero-copy per chunk, with log offsets, and a chunk that
breaks the log contract (line count != event count) dead-lettered on its own; event times
in every unit converted exactly, window edges included."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import numpy as np
import pytest

from streamdash.engine import Processor
from streamdash.engine.decode import event_time_sql, split_lines
from streamdash.log.base import Chunk
from streamdash.spec.models import Pipeline, StreamSpec


def test_lines_keep_offsets_ingest_times_and_raw_bytes() -> None:
    chunks = [
        Chunk("s", 10, 2, 100, b'{"a":1}\n{"a":2}\n'),
        Chunk("s", 12, 1, 200, b'{"a":3}'),  # the last line may lack its newline
        Chunk("s", 13, 2, 300, b'{"a":"\xff"}\n{}\n'),  # not UTF-8: kept as logged
    ]
    lines, dead = split_lines(chunks)
    assert dead == []
    assert lines.offsets.tolist() == [10, 11, 12, 13, 14]
    assert lines.ingest_us.tolist() == [100, 100, 200, 300, 300]
    assert [lines.raw(i) for i in range(5)] == [
        b'{"a":1}',
        b'{"a":2}',
        b'{"a":3}',
        b'{"a":"\xff"}',
        b"{}",
    ]
    assert lines.row_of(13) == 3
    assert lines.binary()[2] == b'{"a":3}'


def test_a_chunk_with_the_wrong_line_count_is_one_dead_letter() -> None:
    chunks = [
        Chunk("s", 0, 1, 1, b"{}\n"),
        Chunk("s", 1, 3, 2, b"{}\n{}\n"),
        Chunk("s", 4, 1, 3, b'{"b":1}\n'),
    ]
    lines, dead = split_lines(chunks)
    assert lines.offsets.tolist() == [0, 4]
    assert [lines.raw(i) for i in range(2)] == [b"{}", b'{"b":1}']
    assert [(d.offset, d.reason, d.raw) for d in dead] == [(1, "invalid", b"{}\n{}\n")]
    assert "has 2 lines for 3" in dead[0].detail


def test_a_chunk_may_carry_each_events_ingest_time() -> None:
    times = np.array([500, 600, 700], "<i8").tobytes()
    chunks = [
        Chunk("s", 0, 1, 100, b"{}\n"),
        Chunk("s", 1, 3, 500, b"{}\n{}\n{}\n", times),
        Chunk("s", 4, 2, 800, b"{}\n{}\n", times),  # 3 times for 2 events
    ]
    lines, dead = split_lines(chunks)
    assert lines.offsets.tolist() == [0, 1, 2, 3]
    assert lines.ingest_us.tolist() == [100, 500, 600, 700]
    assert [chunks[1].ingest_time_of(i) for i in range(3)] == [500, 600, 700]
    assert [(d.offset, d.reason) for d in dead] == [(4, "invalid")]
    assert "has 3 ingest times for 2" in dead[0].detail


def test_no_chunks() -> None:
    lines, dead = split_lines([])
    assert len(lines.offsets) == 0 and len(lines.text) == 0 and dead == []


# The last representable instant before 2024-05-31T16:08:30Z (a window edge for any window
# of up to 10 s) and the edge itself, in each unit.
EDGE_S = 1_717_171_710
EDGES = {
    "s": (EDGE_S - 1, EDGE_S),
    "ms": (EDGE_S * 10**3 - 1, EDGE_S * 10**3),
    "us": (EDGE_S * 10**6 - 1, EDGE_S * 10**6),
    "ns": (EDGE_S * 10**9 - 1, EDGE_S * 10**9),
}


def _event_times(unit: str, kind: str, values: list[Any]) -> list[int | None]:
    spec = StreamSpec.model_validate({"time": {"field": "t", "unit": unit}, "schema": {"t": kind}})
    sql_type = "DOUBLE" if kind == "float64" else "BIGINT"
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT {event_time_sql(spec)} FROM (SELECT unnest(?::{sql_type}[]) AS t)", [values]
    ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_integer_times_are_exact_at_a_window_edge(unit: str) -> None:
    before, edge = EDGES[unit]
    us_before = EDGE_S * 1_000_000 - (1_000_000 if unit == "s" else 1000 if unit == "ms" else 1)
    # 1 ns before the edge is still in the microsecond before it (floor, never rounding up)
    assert _event_times(unit, "int64", [before, edge]) == [us_before, EDGE_S * 1_000_000]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_events_just_before_an_edge_stay_in_the_earlier_window(unit: str) -> None:
    """End to end: the event 1 unit before the edge lands in the window that ends there."""
    pipeline = Pipeline.model_validate(
        {
            "streams": {
                "s": {"time": {"field": "t", "unit": unit}, "schema": {"t": "int64", "k": "string"}}
            },
            "views": {
                "v": {"from": "s", "window": {"tumbling": "10s"}, "metrics": {"n": "count()"}}
            },
        }
    )
    before, edge = EDGES[unit]
    lines = [json.dumps({"t": t, "k": "a"}).encode() for t in (before, edge, edge)]
    chunk = Chunk("s", 0, 3, 0, b"".join(line + b"\n" for line in lines))
    rows = Processor(pipeline).process("s", [chunk], now_us=0).updates[0].rows.to_pylist()
    counts = {int(r["window_start"].timestamp()): r["n"] for r in rows}
    assert counts == {EDGE_S - 10: 1, EDGE_S: 2}


def test_ns_floors_before_1970_and_is_exact_at_the_int64_limit() -> None:
    values = [-1, -1000, -1001, 0, 999, (1 << 63) - 1]
    assert _event_times("ns", "int64", values) == [-1, -1, -2, 0, 0, ((1 << 63) - 1) // 1000]


def test_out_of_range_times_are_null_not_an_error() -> None:
    """NULL makes the event an invalid dead letter; an error would stop the whole batch."""
    assert _event_times("ms", "int64", [(1 << 63) - 1]) == [None]
    assert _event_times("ms", "float64", [1e300]) == [None]


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
def test_whole_numbers_in_float_fields_are_exact(unit: str) -> None:
    before, edge = EDGES[unit]
    if unit == "ns":
        # a double cannot hold 1717171709999999999; the nearest below the edge is 256 ns
        # away, and must still land in the microsecond before the edge
        before = EDGE_S * 10**9 - 256
    scale = {"ms": 1000, "us": 1, "ns": 1}[unit]
    us_before = EDGE_S * 1_000_000 - scale if unit != "ns" else EDGE_S * 1_000_000 - 1
    assert _event_times(unit, "float64", [float(before), float(edge)]) == [
        us_before,
        EDGE_S * 1_000_000,
    ]


def test_fractional_times_round_to_the_nearest_microsecond() -> None:
    assert _event_times("s", "float64", [EDGE_S - 0.000001, EDGE_S + 0.25]) == [
        EDGE_S * 1_000_000 - 1,
        EDGE_S * 1_000_000 + 250_000,
    ]
    assert _event_times("ms", "float64", [EDGE_S * 1000 - 0.0004]) == [EDGE_S * 1_000_000]
    assert _event_times("ns", "float64", [-1500.5]) == [-2]
