"""The embedded log: one SQLite database per stream, in WAL mode, one row per chunk.

One row per chunk (not per event) keeps the log far from SQLite's per-row ceiling; WAL mode
lets readers in other processes read while one process appends; `synchronous=FULL` makes a
commit durable before `append` returns, so an acknowledged event survives kill -9 and power
loss. Offsets are event offsets: chunk rows are keyed by the offset of their first event.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

from streamdash.errors import LogUnavailable
from streamdash.log.base import Chunk

_STREAM_NAME = re.compile(r"^_?[a-z][a-z0-9_]{0,62}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    start INTEGER PRIMARY KEY,
    count INTEGER NOT NULL CHECK (count > 0),
    ingest_us INTEGER NOT NULL,
    payload BLOB NOT NULL,
    idem_key TEXT
)
"""
# a producer's retry of a batch it sent before carries the same key: it must not be stored
# twice (the first attempt may have been written although its acknowledgement was lost)
_KEY_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS chunks_idem_key ON chunks (idem_key) "
    "WHERE idem_key IS NOT NULL"
)


class SqliteLog:
    """A durable, multi-process safe log under `directory` (one `<stream>.db` per stream)."""

    def __init__(self, directory: Path, *, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
        self.directory = directory
        self.synchronous = synchronous
        directory.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    # connections are per thread: sqlite3 connections must not cross threads
    def _connection(self, stream: str) -> sqlite3.Connection:
        if not _STREAM_NAME.match(stream):
            raise ValueError(f"invalid stream name {stream!r}")
        conns: dict[str, sqlite3.Connection] = self._local.__dict__.setdefault("conns", {})
        conn = conns.get(stream)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.directory / f"{stream}.db",
                    timeout=30.0,
                    isolation_level=None,
                    check_same_thread=True,
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
                conn.execute(_SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
                if "idem_key" not in columns:  # a log written by an earlier version
                    conn.execute("ALTER TABLE chunks ADD COLUMN idem_key TEXT")
                conn.execute(_KEY_INDEX)
            except sqlite3.Error as err:
                raise LogUnavailable(f"cannot open log stream {stream!r}: {err}") from err
            conns[stream] = conn
        return conn

    def append(
        self,
        stream: str,
        payloads: list[tuple[bytes, int]],
        keys: list[str | None] | None = None,
    ) -> list[int]:
        if not payloads:
            return []
        if keys is not None and len(keys) != len(payloads):
            raise ValueError("give one key (or None) per payload")
        conn = self._connection(stream)
        now_us = time.time_ns() // 1000
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT start + count FROM chunks ORDER BY start DESC LIMIT 1"
                ).fetchone()
                next_offset = int(row[0]) if row else 0
                starts: list[int] = []
                for i, (payload, count) in enumerate(payloads):
                    if count <= 0:
                        raise ValueError("a chunk must hold at least one event")
                    key = keys[i] if keys is not None else None
                    if key is not None:
                        seen = conn.execute(
                            "SELECT start FROM chunks WHERE idem_key = ?", (key,)
                        ).fetchone()
                        if seen is not None:  # a retry: already durable, do not store again
                            starts.append(int(seen[0]))
                            continue
                    conn.execute(
                        "INSERT INTO chunks (start, count, ingest_us, payload, idem_key) "
                        "VALUES (?,?,?,?,?)",
                        (next_offset, count, now_us, payload, key),
                    )
                    starts.append(next_offset)
                    next_offset += count
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise LogUnavailable(f"cannot append to log stream {stream!r}: {err}") from err
        return starts

    def read(self, stream: str, start: int, max_events: int) -> list[Chunk]:
        if not (self.directory / f"{stream}.db").exists():
            return []
        conn = self._connection(stream)
        try:
            holder = conn.execute(
                "SELECT start, count FROM chunks WHERE start <= ? ORDER BY start DESC LIMIT 1",
                (start,),
            ).fetchone()
            if holder and holder[0] < start < holder[0] + holder[1]:
                raise LogUnavailable(
                    f"log stream {stream!r}: offset {start} is not a chunk boundary (it is "
                    f"inside the chunk at {holder[0]}); consumers must resume at chunk ends"
                )
            # rows are fetched one by one and the cursor dropped at the limit: fetching
            # thousands of payloads only to throw most away cost ~130 ms per engine step
            cursor = conn.execute(
                "SELECT start, count, ingest_us, payload FROM chunks WHERE start >= ? "
                "ORDER BY start",
                (start,),
            )
            chunks: list[Chunk] = []
            total = 0
            for first, count, ingest_us, payload in cursor:
                if chunks and total + count > max_events:
                    break
                if not chunks and first != start:
                    raise LogUnavailable(
                        f"log stream {stream!r}: no chunk starts at offset {start} (the next "
                        f"starts at {first}); was the log truncated below a consumer's position?"
                    )
                chunks.append(Chunk(stream, first, count, ingest_us, bytes(payload)))
                total += count
            cursor.close()
        except sqlite3.Error as err:
            raise LogUnavailable(f"cannot read log stream {stream!r}: {err}") from err
        return chunks

    def end_offset(self, stream: str) -> int:
        if not (self.directory / f"{stream}.db").exists():
            return 0
        row = (
            self._connection(stream)
            .execute("SELECT start + count FROM chunks ORDER BY start DESC LIMIT 1")
            .fetchone()
        )
        return int(row[0]) if row else 0

    def streams(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.db"))

    def truncate_before(self, stream: str, offset: int) -> int:
        """Drop whole chunks that end at or before `offset` (retention); return rows removed."""
        conn = self._connection(stream)
        cur = conn.execute("DELETE FROM chunks WHERE start + count <= ?", (offset,))
        return int(cur.rowcount)

    def close(self) -> None:
        conns: dict[str, sqlite3.Connection] = self._local.__dict__.get("conns", {})
        for conn in conns.values():
            conn.close()
        conns.clear()
