"""Cutting log chunks into lines: zero-copy per chunk, with log offsets, and a chunk that
breaks the log contract (line count != event count) dead-lettered on its own."""

from __future__ import annotations

from streamdash.engine.decode import split_lines
from streamdash.log.base import Chunk


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


def test_no_chunks() -> None:
    lines, dead = split_lines([])
    assert len(lines.offsets) == 0 and len(lines.text) == 0 and dead == []
