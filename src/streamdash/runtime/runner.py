"""The engine loop: log -> processor -> sink, exactly once.

Exactly-once rests on three facts:
1. the sink writes results together with the log offsets they cover, in one transaction;
2. the processor is deterministic in log order (per-event watermarks), so replaying the same
   log range from a checkpoint rebuilds exactly the state that produced the committed results;
3. anything that is not in the log (a wall-clock watermark advance, a reference-table
   refresh) is followed by a checkpoint, so a replay never has to cross it.

On start: load the latest checkpoint (state + the offsets it is valid at), then replay the
log from there up to the committed offsets with all output discarded (it is already in the
store), then continue normally.

If the spec was edited since the checkpoint, the processor restores only the parts still
valid; views that start empty (new or changed) have never had their replay output stored,
so theirs is kept and committed together with a checkpoint under the new spec — one
transaction, so a crash before it redoes the same reset and replay, and one after it finds a
checkpoint that needs no reset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

import msgspec

from streamdash.log.base import DEAD_LETTER_STREAM, Chunk, Log
from streamdash.results import CommitBatch, DeadLetter, DeadLetterReason, ViewSchema

_log = logging.getLogger(__name__)


class Processor(Protocol):
    def schemas(self) -> list[ViewSchema]: ...
    def process(self, stream: str, chunks: list[Chunk], now_us: int) -> CommitBatch: ...
    def advance_idle(self, now_us: int) -> CommitBatch: ...
    def snapshot(self) -> bytes: ...
    def restore(self, state: bytes) -> frozenset[str]:
        """Load a checkpoint; return the views it left empty (new or changed since)."""
        ...

    def resume_tables(self) -> bool: ...


class Sink(Protocol):
    def open(self, schemas: list[ViewSchema]) -> None: ...
    def commit(self, consumer: str, batch: CommitBatch) -> None: ...
    def load_offsets(self, consumer: str) -> dict[str, int]: ...
    def load_checkpoint(self, consumer: str) -> tuple[dict[str, int], bytes] | None: ...


class _DeadLetterRecord(msgspec.Struct, forbid_unknown_fields=False):
    stream: str
    reason: str
    detail: str
    received_us: int
    raw: str | None = None
    raw_b64: str | None = None


_REASONS = {"malformed", "invalid", "too_large", "late", "unknown_stream"}


def decode_dead_letters(chunks: list[Chunk]) -> list[DeadLetter]:
    """Dead-letter records written by ingest -> DeadLetter rows for the store."""
    import base64

    decoder = msgspec.json.Decoder(_DeadLetterRecord)
    out: list[DeadLetter] = []
    for chunk in chunks:
        for index, line in enumerate(chunk.payload.splitlines()):
            offset = chunk.start + index
            try:
                rec = decoder.decode(line)
            except msgspec.DecodeError as err:  # never stop on a bad record: keep it verbatim
                out.append(
                    DeadLetter(
                        "_unknown",
                        "malformed",
                        f"unreadable dead-letter: {err}",
                        line,
                        chunk.ingest_time_of(index),
                        offset=offset,
                    )
                )
                continue
            raw = base64.b64decode(rec.raw_b64) if rec.raw_b64 else (rec.raw or "").encode()
            reason = cast(DeadLetterReason, rec.reason if rec.reason in _REASONS else "invalid")
            out.append(
                DeadLetter(
                    rec.stream,
                    reason,
                    rec.detail,
                    raw,
                    rec.received_us,
                    offset=offset,
                )
            )
    return out


def carry_fresh_views(batch: CommitBatch, views: frozenset[str], into: CommitBatch) -> None:
    """Move the output of `views` in `batch` (rows, late events, late counts) to `into`."""
    into.updates += [u for u in batch.updates if u.view in views]
    into.dead_letters += [d for d in batch.dead_letters if d.view in views]
    for (name, counter), n in batch.counters.items():
        # a view's only counter is "late"; a stream's counters may share a view's name
        if counter == "late" and name in views:
            into.counters[(name, counter)] = into.counters.get((name, counter), 0) + n


@dataclass
class RunnerStats:
    """Counters the status line and /metrics read; updated by the loop only."""

    processed: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    last_batch_seconds: float = 0.0
    watermarks: dict[str, int] = field(default_factory=dict)


class EngineRunner:
    def __init__(
        self,
        processor: Processor,
        log: Log,
        sink: Sink,
        streams: list[str],
        *,
        consumer: str = "engine",
        batch_events: int = 200_000,
        checkpoint_every_s: float = 10.0,
        idle_every_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.processor = processor
        self.log = log
        self.sink = sink
        self.streams = list(streams)
        self.consumer = consumer
        self.batch_events = batch_events
        self.checkpoint_every_s = checkpoint_every_s
        self.idle_every_s = idle_every_s
        """How often a caught-up engine lets the wall clock move idle streams: each move
        that changes a clock is a checkpoint commit, so not on every idle poll."""
        self._last_idle = float("-inf")
        self.clock = clock
        self.positions: dict[str, int] = {}
        self.stats = RunnerStats()
        self._last_checkpoint = 0.0
        self._force_checkpoint = False

    def _now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def start(self) -> None:
        """Create tables, restore the checkpoint and replay up to the committed offsets."""
        self.sink.open(self.processor.schemas())
        committed = self.sink.load_offsets(self.consumer)
        checkpoint = self.sink.load_checkpoint(self.consumer)
        replay_from: dict[str, int] = {}
        fresh: frozenset[str] = frozenset()
        if checkpoint is not None:
            replay_from, state = checkpoint
            fresh = self.processor.restore(state)
        carried = CommitBatch()
        replayed = 0
        for stream in self.streams:
            position = replay_from.get(stream, 0)
            target = committed.get(stream, 0)
            while position < target:
                chunks = [
                    c for c in self.log.read(stream, position, self.batch_events) if c.end <= target
                ]
                if not chunks:
                    raise RuntimeError(
                        f"log stream {stream!r} ends at {position}, but results were committed "
                        f"up to {target}: the log in the data dir does not match the database"
                    )
                batch = self.processor.process(stream, chunks, self._now_us())
                if fresh:  # the other views' output is already stored
                    carry_fresh_views(batch, fresh, carried)
                position = chunks[-1].end
                replayed += position - chunks[0].start
            self.positions[stream] = target
        # the replay joined the checkpoint's reference tables; from here on the ones loaded
        # at start apply: a change not in the log, so the next commit checkpoints
        if checkpoint is not None and self.processor.resume_tables():
            self._force_checkpoint = True
        self.positions[DEAD_LETTER_STREAM] = committed.get(DEAD_LETTER_STREAM, 0)
        if fresh:
            carried.offsets = dict(self.positions)
            carried.checkpoint = self.processor.snapshot()
            self.sink.commit(self.consumer, carried)
            self._force_checkpoint = False
            _log.info(
                "wrote %d updates of new or changed views %s from the replay",
                len(carried.updates),
                sorted(fresh),
            )
        self._last_checkpoint = self.clock()
        if replayed:
            _log.info("replayed %d events from the checkpoint to rebuild window state", replayed)

    def request_checkpoint(self) -> None:
        """Checkpoint with the next commit (after a reference-table refresh, say)."""
        self._force_checkpoint = True

    def _maybe_checkpoint(self, batch: CommitBatch) -> None:
        due = self.clock() - self._last_checkpoint >= self.checkpoint_every_s
        if due or self._force_checkpoint:
            batch.checkpoint = self.processor.snapshot()
            batch.offsets = {**self.positions, **batch.offsets}
            self._last_checkpoint = self.clock()
            self._force_checkpoint = False

    def step(self) -> int:
        """One pass over all streams; returns the number of events processed."""
        total = 0
        for stream in self.streams:
            chunks = self.log.read(stream, self.positions[stream], self.batch_events)
            if not chunks:
                continue
            started = time.perf_counter()
            batch = self.processor.process(stream, chunks, self._now_us())
            batch.offsets[stream] = chunks[-1].end
            self._maybe_checkpoint(batch)
            # engine timings travel in the batch's own transaction, like every other counter
            elapsed_us = int((time.perf_counter() - started) * 1_000_000)
            batch.counters[("engine", "batches")] = 1
            batch.counters[("engine", "batch_us")] = elapsed_us
            self.sink.commit(self.consumer, batch)
            self.positions[stream] = chunks[-1].end
            count = chunks[-1].end - chunks[0].start
            total += count
            self.stats.processed[stream] = self.stats.processed.get(stream, 0) + count
            self.stats.batches += 1
            self.stats.last_batch_seconds = time.perf_counter() - started
            self.stats.watermarks.update(batch.watermarks)
        self._move_dead_letters()
        if total == 0:  # only a caught-up engine may let the wall clock close windows
            self._advance_idle()
        return total

    def _move_dead_letters(self) -> None:
        position = self.positions[DEAD_LETTER_STREAM]
        chunks = self.log.read(DEAD_LETTER_STREAM, position, self.batch_events)
        if not chunks:
            return
        letters = decode_dead_letters(chunks)
        counters: dict[tuple[str, str], int] = {}
        for letter in letters:
            counters[(letter.stream, "rejected")] = counters.get((letter.stream, "rejected"), 0) + 1
        batch = CommitBatch(
            dead_letters=letters, counters=counters, offsets={DEAD_LETTER_STREAM: chunks[-1].end}
        )
        self.sink.commit(self.consumer, batch)
        self.positions[DEAD_LETTER_STREAM] = chunks[-1].end

    def _advance_idle(self) -> None:
        now = self.clock()
        if now - self._last_idle < self.idle_every_s:
            return
        self._last_idle = now
        batch = self.processor.advance_idle(self._now_us())
        if not batch.watermarks and not batch.updates and not batch.dead_letters:
            return
        # A wall-clock advance is not in the log: checkpoint so no replay ever crosses it,
        # also when it closed no window (`watermarks`: a clock moved) - events after it
        # are judged against the moved clock, and a replay must judge them the same way.
        batch.checkpoint = self.processor.snapshot()
        batch.offsets = dict(self.positions)
        self.sink.commit(self.consumer, batch)
        self._last_checkpoint = self.clock()
        self.stats.watermarks.update(batch.watermarks)

    def drain(self, seconds: float) -> None:
        """Process what the log holds, for at most `seconds`, then checkpoint (a clean stop).

        Stopped after the API, the engine thus leaves no acknowledged event unprocessed: a
        user who stops and reads the tables sees everything that was accepted. A backlog
        longer than `seconds` is left to the next start, which goes on from the checkpoint."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.step() > 0:
            pass
        self.checkpoint_now()

    def checkpoint_now(self) -> None:
        """Write a checkpoint at the current positions (on clean shutdown)."""
        batch = CommitBatch(offsets=dict(self.positions), checkpoint=self.processor.snapshot())
        self.sink.commit(self.consumer, batch)
