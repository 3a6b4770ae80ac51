"""`streamdash worker --kafka HOST:PORT`: one member of a consumer group. The group shares
the partitions of the pipeline's topics (and of the dead-letter topic); for each partition
it is assigned, the worker runs a `PartitionTask` (an engine of its own, restored from the
partition's checkpoint in PostgreSQL). Offsets, watermarks and checkpoints per partition
live in PostgreSQL in the transaction of the results, so a rebalance or a kill -9 of any
worker neither loses nor double-counts events. Kafka's committed offsets are written too,
for monitoring tools only; they are never read.

If PostgreSQL or Kafka fail, the worker leaves the group, waits, and starts over: every
partition is then restored from its checkpoint, as after a crash.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from streamdash.errors import Fatal, Retryable
from streamdash.kafka import confluent
from streamdash.kafka.buffers import PartitionBuffers
from streamdash.kafka.ownership import Ownership, PartitionFenced
from streamdash.kafka.partials import DDL as PARTIALS_DDL
from streamdash.kafka.partition import PartitionTask, WorkerContext
from streamdash.kafka.plan import TopicPlan, topic_plans
from streamdash.kafka.poison import PoisonCopy
from streamdash.kafka.settings import KafkaSettings
from streamdash.kafka.topics import ensure_topics, pipeline_topics
from streamdash.runtime.engine_main import TableRefresher
from streamdash.runtime.queries import view_schemas
from streamdash.spec.kafka import kafka_problems
from streamdash.spec.models import Pipeline
from streamdash.store.connection import connect
from streamdash.store.postgres import PostgresSink

_log = logging.getLogger(__name__)
BUFFERED_POLL_S = 0.01
MAX_WAIT_S = 0.2
"""The longest a message waits in the worker for more of its partition's messages."""
MAX_BUFFERED_BATCHES = 4
"""At most this many batches' worth of messages are buffered (~200 MB at 100,000 messages
of ~200 bytes: a consumed message is a Python object of about twice its value's size)."""
KAFKA_COMMIT_EVERY_S = 2.0
"""How often offsets go to Kafka (for monitoring) and high watermarks to PostgreSQL (lag)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        pipeline: Pipeline,
        settings: KafkaSettings,
        database_url: str,
        *,
        batch_messages: int = 100_000,
        poll_s: float = 0.1,
        owner: str | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        problems = kafka_problems(pipeline)
        if problems:
            raise Fatal(
                "the pipeline cannot run on Kafka: "
                + "; ".join(f"{path}: {message}" for path, message in problems)
            )
        self.pipeline = pipeline
        self.settings = settings
        self.database_url = database_url
        self.batch_messages = batch_messages
        self.poll_s = poll_s
        self.owner = owner or worker_name()
        self.on_ready = on_ready
        """Called once a session is set up (engines compiled), before consuming."""
        self.tasks: dict[tuple[str, int], PartitionTask] = {}
        self._buffers = PartitionBuffers(batch_messages, MAX_WAIT_S)
        """A partition's messages wait for more until there are `batch_messages`, the oldest
        has waited `MAX_WAIT_S`, or the partition is caught up: big batches under load (the
        engine's cost per batch is mostly fixed), no delay when traffic is light."""
        self.tables: dict[str, pa.Table] = {}
        self._plans: dict[str, TopicPlan] = {}
        self._ctx: WorkerContext | None = None

    # -- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._session(stop)
            except Retryable as err:
                _log.warning("worker session failed (%s); starting over from checkpoints", err)
                stop.wait(1.0)

    def _setup(self) -> tuple[WorkerContext, TableRefresher]:
        sink = PostgresSink(self.database_url)
        sink.open(list(view_schemas(self.pipeline, self.database_url).values()))
        with connect(self.database_url) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('streamdash_ddl'))")
            conn.execute(PARTIALS_DDL)
        owners = Ownership(self.database_url, self.owner)
        owners.create()
        partitions = ensure_topics(self.settings, pipeline_topics(self.pipeline, self.settings))
        refresher = TableRefresher(self.pipeline, self._refreshed, self.database_url)
        self.tables = refresher.initial()
        self._plans = topic_plans(self.pipeline, self.settings, self.tables)
        ctx = WorkerContext(
            sink, owners, self.settings.group, partitions, self.settings.dedupe_window_us
        )
        if self.settings.dlq_topic:
            ensure_topics(self.settings, [self.settings.dlq_topic])
            ctx.copy_poison = PoisonCopy(self.settings, self.settings.dlq_topic)
        return ctx, refresher

    def _session(self, stop: threading.Event) -> None:
        ctx, refresher = self._setup()
        self._ctx = ctx
        if self.on_ready is not None:
            self.on_ready()
        config = {**self.settings.consumer_config(), "auto.offset.reset": "error"}
        consumer = confluent().Consumer(config)
        consumer.subscribe(
            list(self._plans),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        last_kafka_commit = time.monotonic()
        clean = False
        try:
            while not stop.is_set():
                refresher.refresh_due()
                self._round(consumer)
                if time.monotonic() - last_kafka_commit >= KAFKA_COMMIT_EVERY_S:
                    self._commit_to_kafka(consumer)
                    ctx.owners.report_high_watermarks(
                        {
                            t.consumer: (t.epoch, t.high_watermark)
                            for t in self.tasks.values()
                            if t.high_watermark is not None
                        }
                    )
                    last_kafka_commit = time.monotonic()
            clean = True
        finally:
            self._give_up(checkpoint=clean)
            consumer.close()
            ctx.owners.close()
            ctx.sink.close()

    def _round(self, consumer: Any) -> None:
        # a short wait while messages are buffered: they are due soon
        wait = BUFFERED_POLL_S if self._buffers else self.poll_s
        messages = consumer.consume(self.batch_messages, wait)
        started = now = time.monotonic()
        self._take(messages, now)
        # Under a backlog, also take what the client has fetched already (up to a memory
        # budget): a partition's batch then grows towards `batch_messages` instead of
        # `batch_messages` / its number of partitions, and the cost per batch is paid less
        budget = self.batch_messages * min(max(len(self.tasks), 1), MAX_BUFFERED_BATCHES)
        while messages and self._buffers.total < budget and now - started < MAX_WAIT_S:
            messages = consumer.consume(self.batch_messages, 0)
            now = time.monotonic()
            self._take(messages, now)
        now_us = time.time_ns() // 1000
        for key, task in list(self.tasks.items()):
            _, high = consumer.get_watermark_offsets(
                confluent().TopicPartition(key[0], key[1]), cached=True
            )
            hw = high if high >= 0 else None
            try:
                if not self._buffers.has(key):
                    task.idle(now_us, hw)
                    continue
                batch = self._buffers.due(key, now, hw)
                if batch is not None:
                    task.high_watermark = hw if hw is not None else task.high_watermark
                    task.feed(batch, now_us)
            except PartitionFenced as err:
                _log.warning("%s", err)
                consumer.pause([confluent().TopicPartition(key[0], key[1])])
                self._drop(key)

    def _take(self, messages: list[Any], now: float) -> None:
        for event in self._buffers.add(messages, now, self.tasks):
            self._message_error(event, event.error())

    def _message_error(self, message: Any, error: Any) -> None:
        kafka = confluent()
        if error.code() == kafka.KafkaError._AUTO_OFFSET_RESET:
            raise Fatal(
                f"topic {message.topic()} partition {message.partition()}: the offset to "
                f"resume from is no longer in the topic ({error.str()}); retention deleted "
                "messages that were not processed yet"
            )
        if error.fatal():
            raise Fatal(f"the Kafka consumer failed: {error.str()}")
        _log.warning("Kafka: %s", error.str())

    # -- rebalances ---------------------------------------------------------------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        assert self._ctx is not None
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._drop(key)
            task = PartitionTask(self._plans[tp.topic], tp.partition, self._ctx)
            tp.offset = task.start()
            self.tasks[key] = task
        consumer.assign(partitions)
        _log.info("assigned %s", sorted(self.tasks))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            task = self.tasks.get(key)
            if task is not None:
                self._checkpoint(task)
            self._drop(key)

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:  # someone else may own them already: commit nothing
            self._drop((tp.topic, tp.partition))

    def _checkpoint(self, task: PartitionTask) -> None:
        try:
            task.checkpoint_now()
        except (PartitionFenced, Retryable) as err:
            _log.info("no checkpoint for %s on giving it up: %s", task.consumer, err)

    def _drop(self, key: tuple[str, int]) -> None:
        self._buffers.drop(key)
        task = self.tasks.pop(key, None)
        if task is not None:
            task.close()

    def _give_up(self, *, checkpoint: bool) -> None:
        for key, task in list(self.tasks.items()):
            if checkpoint:
                self._checkpoint(task)
            self._drop(key)

    def _refreshed(self, name: str, table: pa.Table) -> None:
        self.tables[name] = table
        for task in self.tasks.values():
            set_table = getattr(task.engine, "set_table", None)
            if set_table is not None and name in task.plan_tables():
                set_table(name, table)
                task.force_checkpoint = True  # a refresh is not in the topic

    def _commit_to_kafka(self, consumer: Any) -> None:
        offsets = [
            confluent().TopicPartition(topic, partition, task.position)
            for (topic, partition), task in self.tasks.items()
            if task.position is not None and not task.replaying
        ]
        if offsets:
            try:
                consumer.commit(offsets=offsets, asynchronous=True)
            except confluent().KafkaException as err:  # monitoring only: never fatal
                _log.debug("committing offsets to Kafka for monitoring failed: %s", err)


def run_worker(
    pipeline: Pipeline,
    settings: KafkaSettings,
    database_url: str,
    stop: threading.Event | None = None,
    **options: Any,
) -> None:
    """Run a worker until `stop` is set or SIGTERM/SIGINT arrives."""
    import signal
    from types import FrameType

    stop = stop or threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    _log.info("worker %s joins group %s at %s", worker_name(), settings.group, settings.bootstrap)
    # A worker holds up to hundreds of thousands of consumed messages at a time (objects the
    # cyclic garbage collector tracks), and every full collection also walked every object
    # of the libraries loaded by then: ~30 % of the worker's CPU (docs/benchmarks.md).
    # Frozen, the objects alive once the engines are compiled are left out of collections.
    options.setdefault("on_ready", gc.freeze)
    Worker(pipeline, settings, database_url, **options).run(stop)
