from __future__ import annotations

from pathlib import Path

import pytest

from streamdash.errors import LogUnavailable
from streamdash.log.sqlite import SqliteLog


def ndjson(*values: int) -> tuple[bytes, int]:
    return b"".join(b'{"v":%d}\n' % v for v in values), len(values)


def test_offsets_are_contiguous_event_offsets(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path)
    assert log.append("s", [ndjson(1, 2, 3), ndjson(4)]) == [0, 3]
    assert log.append("s", [ndjson(5, 6)]) == [4]
    assert log.end_offset("s") == 6
    chunks = log.read("s", 0, 100)
    assert [(c.start, c.count, c.end) for c in chunks] == [(0, 3, 3), (3, 1, 4), (4, 2, 6)]
    assert chunks[0].payload == b'{"v":1}\n{"v":2}\n{"v":3}\n'


def test_read_respects_max_events_but_returns_at_least_one_chunk(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path)
    log.append("s", [ndjson(*range(10)), ndjson(1), ndjson(2)])
    assert [c.start for c in log.read("s", 0, 3)] == [0]
    assert [c.start for c in log.read("s", 10, 2)] == [10, 11]
    assert log.read("s", 12, 5) == []


def test_reading_from_inside_a_chunk_is_an_error(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path)
    log.append("s", [ndjson(1, 2, 3)])
    with pytest.raises(LogUnavailable, match="not a chunk boundary"):
        log.read("s", 1, 10)


def test_streams_are_independent_and_reopen_keeps_data(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path)
    log.append("a", [ndjson(1)])
    log.append("b", [ndjson(1, 2)])
    log.close()
    again = SqliteLog(tmp_path)
    assert again.streams() == ["a", "b"]
    assert (again.end_offset("a"), again.end_offset("b"), again.end_offset("c")) == (1, 2, 0)


def test_hostile_stream_names_are_refused(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path)
    for name in ("../x", "a b", "A", "", "x" * 100, "a;drop"):
        with pytest.raises(ValueError, match="invalid stream name"):
            log.append(name, [ndjson(1)])


def test_empty_chunk_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path)
    with pytest.raises(ValueError, match="at least one event"):
        log.append("s", [ndjson(1), (b"", 0)])
    assert log.end_offset("s") == 0


def test_truncate_drops_only_whole_consumed_chunks(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path)
    log.append("s", [ndjson(1, 2), ndjson(3, 4), ndjson(5)])
    assert log.truncate_before("s", 3) == 1
    assert [c.start for c in log.read("s", 2, 10)] == [2, 4]
    assert log.end_offset("s") == 5


def test_a_chunk_with_a_known_key_is_not_stored_again(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path)
    assert log.append("s", [ndjson(1, 2)], ["k1"]) == [0]
    assert log.append("s", [ndjson(3), ndjson(1, 2), ndjson(4)], [None, "k1", "k2"]) == [2, 0, 3]
    assert log.end_offset("s") == 4
    assert log.append("s", [ndjson(9)], ["k2"]) == [3]
    assert log.end_offset("s") == 4


def test_keys_are_added_to_a_log_written_before_they_existed(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute(
        "CREATE TABLE chunks (start INTEGER PRIMARY KEY, count INTEGER NOT NULL, "
        "ingest_us INTEGER NOT NULL, payload BLOB NOT NULL)"
    )
    conn.execute("INSERT INTO chunks VALUES (0, 1, 0, x'7b7d0a')")
    conn.commit()
    conn.close()
    log = SqliteLog(tmp_path)
    assert log.append("s", [ndjson(1)], ["k"]) == [1]
    assert log.append("s", [ndjson(1)], ["k"]) == [1]
    assert [c.start for c in log.read("s", 0, 10)] == [0, 1]
