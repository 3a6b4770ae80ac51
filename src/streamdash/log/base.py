"""The contract every log implements (embedded SQLite now, Kafka later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

DEAD_LETTER_STREAM = "_dead_letters"
"""Rejected events are appended here by ingest, then moved to the store by the engine."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Events `[start, start + count)` of one stream, appended together.

    `payload` is NDJSON: exactly `count` lines, one JSON object each, each ending in a newline.
    A chunk is the unit of durability and of consumption: consumers commit chunk boundaries.

    `ingest_times`, when given, holds each event's own ingest time (`count` little-endian
    int64 microseconds; `ingest_us` is then the first event's): a Kafka partition's messages
    carry one timestamp each, and cutting a batch into one chunk per timestamp made chunks
    of ~150 events, which the engine's DuckDB decode scans far slower than one big one.
    """

    stream: str
    start: int
    count: int
    ingest_us: int
    payload: bytes
    ingest_times: bytes | None = None

    @property
    def end(self) -> int:
        """The offset after the last event: where the next read starts."""
        return self.start + self.count

    def ingest_time_of(self, index: int) -> int:
        """The ingest time (epoch us) of the chunk's `index`-th event."""
        if self.ingest_times is None:
            return self.ingest_us
        return int.from_bytes(self.ingest_times[8 * index : 8 * index + 8], "little", signed=True)


class Log(Protocol):
    def append(
        self,
        stream: str,
        payloads: list[tuple[bytes, int]],
        keys: list[str | None] | None = None,
    ) -> list[int]:
        """Append chunks `(ndjson, count)` in one durable write; return their start offsets.

        Returns only once the chunks survive a crash of this process (kill -9).
        Raises LogUnavailable if that cannot be guaranteed. A chunk whose idempotency key
        (`keys[i]`, unique per stream) is already in the log is not stored again: its
        existing start offset is returned.
        """
        ...

    def read(self, stream: str, start: int, max_events: int) -> list[Chunk]:
        """Whole chunks from offset `start` (a chunk boundary) on, at least one if any exist,
        stopping before `max_events` would be exceeded."""
        ...

    def end_offset(self, stream: str) -> int:
        """The offset the next appended event will get."""
        ...

    def streams(self) -> list[str]: ...

    def close(self) -> None: ...
