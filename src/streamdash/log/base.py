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
    """

    stream: str
    start: int
    count: int
    ingest_us: int
    payload: bytes

    @property
    def end(self) -> int:
        """The offset after the last event: where the next read starts."""
        return self.start + self.count


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
