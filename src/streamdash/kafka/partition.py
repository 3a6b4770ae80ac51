"""One assigned partition: its own engine, restored from the partition's checkpoint and
replayed from the checkpoint's offset to the committed offset (the topic is the log: the
same recovery as `EngineRunner.start`), then batches of messages committed with the
partition's offset, watermark and — for views merged across partitions — the merge, in one
PostgreSQL transaction that also checks the partition is still this worker's.

Everything that changes the engine's state without being in the topic — a wall-clock
advance of an idle partition's clock, a partition with no events adopting its topic's
watermark, a reference table refresh — is committed with a checkpoint, so that no replay
ever has to reproduce it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from streamdash.engine.watermark import NO_TIME, StreamClock
from streamdash.errors import Fatal
from streamdash.kafka.checkpoint import PartitionState
from streamdash.kafka.dedupe import RequestDedupe
from streamdash.kafka.messages import MessageBatch, split_messages
from streamdash.kafka.ownership import Ownership, check_owner, consumer_name
from streamdash.kafka.partials import merge_partials, topic_watermark
from streamdash.kafka.plan import TopicPlan
from streamdash.results import CommitBatch, DeadLetter
from streamdash.runtime.runner import carry_fresh_views
from streamdash.store.postgres import PostgresSink
from streamdash.store.progress import Cursor

_log = logging.getLogger(__name__)
BEGINNING = -2
"""librdkafka's OFFSET_BEGINNING: start at the oldest message the partition still has."""


@dataclass
class WorkerContext:
    """What every partition task of a worker shares."""

    sink: PostgresSink
    owners: Ownership
    group: str
    partitions: dict[str, int]
    """topic -> its partition count (every partition's watermark decides merged windows)."""
    dedupe_window_us: int
    checkpoint_every_s: float = 10.0
    idle_every_s: float = 1.0
    clock: Callable[[], float] = time.time
    copy_poison: Callable[[str, list[DeadLetter]], None] | None = None
    """Called with (topic, dead letters) of undecodable messages after their commit: the
    optional copy to `kafka.dlq_topic` (at least once; PostgreSQL keeps the record)."""


class PartitionTask:
    def __init__(self, plan: TopicPlan, partition: int, ctx: WorkerContext) -> None:
        self.plan = plan
        self.partition = partition
        self.ctx = ctx
        self.stream = plan.stream
        self.consumer = consumer_name(ctx.group, plan.topic, partition)
        self.prefix = consumer_name(ctx.group, plan.topic, 0)[:-1]
        self.engine = plan.new_engine()
        self.dedupe = RequestDedupe(ctx.dedupe_window_us)
        self.epoch = 0
        self.position: int | None = None
        """The next offset to handle; None: from the partition's first message."""
        self.target = 0
        """The committed offset: messages below it are replayed, their output discarded."""
        self.replaying = False
        self.fresh: frozenset[str] = frozenset()
        self.carried = CommitBatch()
        self.high_watermark: int | None = None
        self.force_checkpoint = False
        self._last_checkpoint = 0.0
        self._last_idle = 0.0
        self._caught_up_since: float | None = None
        self.processed = 0

    # -- assignment ---------------------------------------------------------------------

    def start(self) -> int:
        """Claim the partition, restore its checkpoint; returns the offset to fetch from."""
        ctx = self.ctx
        self.epoch = ctx.owners.claim(ctx.group, self.plan.topic, self.partition, self.stream)
        committed = ctx.sink.load_offsets(self.consumer).get(self.stream)
        checkpoint = ctx.sink.load_checkpoint(self.consumer)
        if checkpoint is not None:
            offsets, blob = checkpoint
            saved = PartitionState.decode(blob, self.consumer)
            self.fresh = self.engine.restore(saved.engine)
            self.dedupe.restore(saved.dedupe)
            self.position = offsets.get(self.stream)
        self.target = committed or 0
        self.replaying = self.target > (self.position or 0) or (
            self.position is None and self.target > 0
        )
        self._last_checkpoint = ctx.clock()
        if not self.replaying:
            self._finish_replay()
        _log.info(
            "partition %s (epoch %d): from offset %s, replaying up to %d",
            self.consumer,
            self.epoch,
            "the beginning" if self.position is None else self.position,
            self.target,
        )
        return BEGINNING if self.position is None else self.position

    def _finish_replay(self) -> None:
        self.replaying = False
        if self.engine.resume_tables():
            self.force_checkpoint = True
        if self.position is None or self.position < self.target:
            self.position = self.target if self.target else self.position
        if self.fresh:  # views new since the checkpoint: their replayed output is not stored
            batch, self.carried = self.carried, CommitBatch()
            if self.position is not None:
                batch.offsets = {self.stream: self.position}
            self.force_checkpoint = True
            self._commit(batch)
            self.fresh = frozenset()

    # -- messages -----------------------------------------------------------------------

    def _split(self, messages: list[Any]) -> MessageBatch:
        return split_messages(
            self.stream,
            self.partition,
            messages,
            self.plan.decoder,
            self.plan.validator,
            self.dedupe,
        )

    def feed(self, messages: list[Any], now_us: int) -> None:
        """Handle the partition's next messages (in offset order)."""
        if self.replaying:
            below = [m for m in messages if m.offset() < self.target]
            if below:
                split = self._split(below)
                batch = self.engine.process(self.stream, split.chunks, now_us)
                if self.fresh:
                    carry_fresh_views(batch, self.fresh, self.carried)
                    self.carried.partials += [p for p in batch.partials if p.view in self.fresh]
                self.position = split.next_offset
            if len(below) < len(messages) or (self.position or 0) >= self.target:
                self._finish_replay()
            messages = messages[len(below) :]
        if messages:
            self._live(messages, now_us)

    def _live(self, messages: list[Any], now_us: int) -> None:
        started = time.perf_counter()
        split = self._split(messages)
        batch = (
            self.engine.process(self.stream, split.chunks, now_us)
            if split.chunks
            else CommitBatch()
        )
        batch.dead_letters = sorted(
            [
                *split.dead_letters,
                *(replace(d, partition=self.partition) for d in batch.dead_letters),
            ],
            key=lambda d: d.offset or 0,
        )
        counters = batch.counters
        if split.dead_letters and self.plan.validator is not None:
            key = (self.stream, "rejected")
            counters[key] = counters.get(key, 0) + len(split.dead_letters)
        if split.duplicates:
            key = (self.stream, "duplicates")
            counters[key] = counters.get(key, 0) + split.duplicates
        assert split.next_offset is not None
        batch.offsets[self.stream] = split.next_offset
        counters[("engine", "batches")] = 1
        counters[("engine", "batch_us")] = int((time.perf_counter() - started) * 1e6)
        self.position = split.next_offset
        self._commit(batch)
        if split.dead_letters and self.ctx.copy_poison is not None:
            self.ctx.copy_poison(self.plan.topic, split.dead_letters)
        self.processed += len(messages)
        self._caught_up_since = None

    # -- idle, watermark adoption, checkpoints -------------------------------------------

    def idle(self, now_us: int, high_watermark: int | None) -> None:
        """No message for the partition this round: finish a replay that has nothing left
        to read, and let the wall clock (or the topic) move an idle partition's clock."""
        if high_watermark is not None:
            self.high_watermark = high_watermark
        hw = self.high_watermark
        at_end = hw is not None and (self.position or 0) >= hw
        if self.replaying:
            if hw is not None and hw <= (self.position or 0):
                if hw < self.target:
                    raise Fatal(
                        f"partition {self.consumer} ends at offset {hw} but results were "
                        f"committed up to {self.target}: the topic was deleted, recreated or "
                        "truncated; its results cannot be continued (see docs/kafka.md)"
                    )
                self._finish_replay()
            return
        now = self.ctx.clock()
        if not at_end:
            return
        if self._caught_up_since is None:
            self._caught_up_since = now
        if self.force_checkpoint:
            self._commit(CommitBatch(offsets=self._offsets()))
            return
        if now - self._last_idle < self.ctx.idle_every_s:
            return
        self._last_idle = now
        batch = self.engine.advance_idle(now_us)
        if not batch.watermarks:
            batch = self._adopt(now_us, now)
        if batch.watermarks or batch.updates:
            batch.offsets = self._offsets()
            self.force_checkpoint = True  # a wall-clock advance is not in the topic
            self._commit(batch)

    def _adopt(self, now_us: int, now: float) -> CommitBatch:
        """A partition that never had an event takes its topic's watermark once it has been
        caught up for the stream's idle timeout: merged windows would otherwise wait for it
        forever. Its later events behind that watermark are late."""
        clocks = getattr(self.engine, "clocks", None)
        if clocks is None or clocks[self.stream].max_us != NO_TIME:
            return CommitBatch()
        assert self._caught_up_since is not None
        if (now - self._caught_up_since) * 1e6 < self.plan.idle_timeout_us:
            return CommitBatch()
        others = self.ctx.owners.min_watermark(self.prefix, self.stream, self.consumer)
        if others is None:
            return CommitBatch()
        top = others + self.plan.lateness_us
        clocks[self.stream] = StreamClock(top, top, now_us)
        _log.info("partition %s has no events: it follows its topic's watermark", self.consumer)
        return CommitBatch(watermarks={self.stream: others})

    def _offsets(self) -> dict[str, int]:
        return {} if self.position is None else {self.stream: self.position}

    def checkpoint_now(self) -> None:
        """Checkpoint at the current position (before giving the partition up)."""
        if self.replaying or self.position is None:
            return
        self.force_checkpoint = True
        self._commit(CommitBatch(offsets=self._offsets()))

    # -- the commit ---------------------------------------------------------------------

    def _commit(self, batch: CommitBatch) -> None:
        ctx = self.ctx
        now = ctx.clock()
        if self.force_checkpoint or now - self._last_checkpoint >= ctx.checkpoint_every_s:
            state = PartitionState(self.engine.snapshot(), self.dedupe.snapshot())
            batch.checkpoint = state.encode()
            batch.offsets = {**self._offsets(), **batch.offsets}
        partials = batch.partials
        merged = self.plan.merged
        batch.updates = [u for u in batch.updates if u.view not in merged]

        def also(cur: Cursor) -> None:
            check_owner(cur, self.consumer, self.epoch, self.high_watermark)
            if merged:
                watermark = topic_watermark(
                    cur, self.prefix, self.stream, ctx.partitions[self.plan.topic]
                )
                merge_partials(
                    cur,
                    source=self.consumer,
                    views=list(merged.values()),
                    partials=partials,
                    watermark=watermark,
                )

        ctx.sink.commit(self.consumer, batch, also)
        if batch.checkpoint is not None:
            self._last_checkpoint = now
            self.force_checkpoint = False

    def plan_tables(self) -> frozenset[str]:
        """The reference tables this partition's engine joins."""
        pipeline = getattr(self.engine, "pipeline", None)
        return frozenset(pipeline.tables) if pipeline is not None else frozenset()

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()
