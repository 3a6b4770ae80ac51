"""Group commit against the real SQLite log: batching, failure and timeout behaviour."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from streamdash.errors import LogUnavailable
from streamdash.ingest.appender import GroupCommitAppender, dead_letter_records
from streamdash.ingest.validate import Rejection
from streamdash.log.base import DEAD_LETTER_STREAM
from streamdash.log.sqlite import SqliteLog


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log")
    yield log
    log.close()


def lines(log: SqliteLog, stream: str) -> list[bytes]:
    chunks = log.read(stream, 0, 1_000_000)
    return [line for chunk in chunks for line in chunk.payload.splitlines()]


def hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another writer holding the stream's SQLite write lock: appends must wait for it."""
    locked = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait()
    return thread


def test_concurrent_appends_share_one_write(log: SqliteLog) -> None:
    log.append("app_logs", [(b'{"warm":1}\n', 1)])  # create the database file
    appender = GroupCommitAppender(log)

    async def main() -> None:
        holder = hold_write_lock(log.directory / "app_logs.db", 0.3)
        await asyncio.gather(
            *(appender.append("app_logs", b'{"n":%d}\n' % i, 1, b"", 0) for i in range(50))
        )
        holder.join()

    asyncio.run(main())
    appender.close()
    assert appender.groups_written <= 3  # the first job alone, then everyone who waited
    stored = lines(log, "app_logs")[1:]
    assert sorted(stored) == sorted(b'{"n":%d}' % i for i in range(50))


def test_dead_letters_are_written_with_the_events(log: SqliteLog) -> None:
    appender = GroupCommitAppender(log)
    rejections = [
        Rejection(3, "invalid", "bad x", b'{"x":"a"}'),
        Rejection(4, "malformed", "?", b"\xff"),
    ]
    dead = dead_letter_records("app_logs", rejections, received_us=42)
    asyncio.run(appender.append("app_logs", b'{"ok":1}\n', 1, dead, 2))
    appender.close()
    assert lines(log, "app_logs") == [b'{"ok":1}']
    records = [msgspec.json.decode(line) for line in lines(log, DEAD_LETTER_STREAM)]
    assert records == [
        {
            "stream": "app_logs",
            "reason": "invalid",
            "detail": "bad x",
            "raw": '{"x":"a"}',
            "received_us": 42,
            "index": 3,
        },
        {
            "stream": "app_logs",
            "reason": "malformed",
            "detail": "?",
            "raw_b64": "/w==",
            "received_us": 42,
            "index": 4,
        },
    ]


def test_failing_dead_letter_log_fails_the_request_and_stores_no_events(
    log: SqliteLog,
) -> None:
    (log.directory / f"{DEAD_LETTER_STREAM}.db").mkdir()  # SQLite cannot open a directory
    appender = GroupCommitAppender(log)
    dead = dead_letter_records("app_logs", [Rejection(0, "invalid", "x", b"{}")], 1)

    async def main() -> None:
        with pytest.raises(LogUnavailable):
            await appender.append("app_logs", b'{"ok":1}\n', 1, dead, 1)
        await appender.append("other", b'{"ok":2}\n', 1, b"", 0)  # unaffected

    asyncio.run(main())
    appender.close()
    assert lines(log, "app_logs") == []
    assert lines(log, "other") == [b'{"ok":2}']


def test_slow_log_times_out_without_acknowledging(log: SqliteLog) -> None:
    log.append("app_logs", [(b'{"warm":1}\n', 1)])
    appender = GroupCommitAppender(log, timeout_s=0.2)
    holder = hold_write_lock(log.directory / "app_logs.db", 1.0)
    started = time.monotonic()
    with pytest.raises(LogUnavailable, match=r"within 0\.2 s"):
        asyncio.run(appender.append("app_logs", b'{"late":1}\n', 1, b"", 0))
    assert time.monotonic() - started < 0.9
    holder.join()
    appender.close()  # the write was not cancelled: it lands, unacknowledged
    assert lines(log, "app_logs") == [b'{"warm":1}', b'{"late":1}']


def test_closed_appender_refuses(log: SqliteLog) -> None:
    appender = GroupCommitAppender(log)
    appender.close()
    assert not appender.healthy
    with pytest.raises(LogUnavailable, match="stopped"):
        asyncio.run(appender.append("app_logs", b"{}\n", 1, b"", 0))
