"""`streamdash spark run`: a spec as Spark Structured Streaming queries, until stopped (or,
with `once`, until everything in Kafka at the start is processed: Trigger.AvailableNow).

One query per view (Spark runs one stateful aggregation per query and writes one sink),
each with its own checkpoint `<checkpoint>/<view>`. Each reads its stream from Kafka.

- With streamdash's Python Kafka source the source's tasks decode the events, and store
  the stream's dead letters and counters, each message's by the first task to read it
  (`range_ledger.py`): every stream is read once per view.
- With Spark's connector Spark SQL decodes (`decode.py`), and one more query per stream,
  `<checkpoint>/_dead_letters/<stream>`, stores its bad events and counts its good ones, a
  micro-batch every few seconds.

Before a query starts, its checkpoint is checked against what the database already holds
for it, so that a lost or foreign checkpoint is refused instead of silently skipping (or
double-counting) results.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Literal

from streamdash.errors import Fatal
from streamdash.results import ViewSchema
from streamdash.spark.check import ensure_runnable
from streamdash.spark.checkpoint import CheckpointError, CheckpointLog
from streamdash.spark.compiler import plan_view, view_frame
from streamdash.spark.decode import decode
from streamdash.spark.session import launch_session, require_pyspark
from streamdash.spark.sink import (
    BatchCommitter,
    DeadLetterWriter,
    ViewWriter,
    dead_letter_consumer,
    prepare_tables,
    view_consumer,
)
from streamdash.spark.source import (
    KafkaReader,
    choose_reader,
    decoded_frame,
    kafka_frame,
    register_python_source,
)
from streamdash.spark.tables import reference_frames
from streamdash.spec.models import Pipeline

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

_log = logging.getLogger(__name__)


Decode = Literal["auto", "source", "spark"]
DEAD_LETTERS = "dead_letters:"
"""The name of a stream's dead-letter query: this and the stream's name."""


class QueryFailed(Fatal):
    """A streaming query stopped with an error."""


@dataclass(frozen=True)
class SparkRunOptions:
    kafka: str
    """Bootstrap servers, HOST:PORT[,HOST:PORT...]."""
    checkpoint: str
    """Checkpoint root (a local path or any Hadoop URI: hdfs://, s3a://, ...)."""
    master: str | None = None
    once: bool = False
    max_events_per_batch: int | None = None
    trigger_interval_s: float | None = None
    """None: a new micro-batch as soon as the last one is done."""
    dead_letter_interval_s: float = 5.0
    """Seconds between the dead-letter queries' micro-batches (Spark SQL's decode only; at
    least the trigger interval): their output is not what users wait for, and each batch
    of theirs takes the cores from the view queries for a while (measured at 20k events/s
    on 2 cores: p50 event -> row 1.9 s with them running back to back, 1.2-1.4 s every
    5 s)."""
    kafka_reader: KafkaReader = "auto"
    decode: Decode = "auto"
    """Where events are decoded and validated: `source` (the Python Kafka source's tasks,
    with the embedded engine's own decoder), `spark` (Spark SQL, `decode.py`; the only
    choice with Spark's connector), `auto` (source with the Python source)."""
    ui: bool = True
    base_dir: Path = field(default_factory=Path)
    """Where relative paths of the spec (CSV tables) are resolved."""


def decode_in_source(reader: Literal["connector", "python"], decode: Decode) -> bool:
    if decode == "source" and reader == "connector":
        raise Fatal(
            "events can be decoded in the source only with streamdash's Python Kafka source; "
            "with Spark's connector use decode 'spark' (or 'auto')"
        )
    return reader == "python" and decode != "spark"


def check_checkpoint(committer: BatchCommitter, log: CheckpointLog, query: str) -> None:
    """Refuse a checkpoint that does not belong with the query's results in the database.

    Spark runs batch `last committed + 1` next (re-running it if it was planned before a
    crash). The store may be one batch ahead (the crash came after our commit, before
    Spark's) but never behind, and never further ahead."""
    committed = log.last_committed()
    spark_next = 0 if committed is None else committed + 1
    stored = committer.next_batch()
    if stored in (spark_next, spark_next + 1):
        return
    remedy = (
        f"use the checkpoint that produced them, or recompute from the start: drop the "
        f"result table and delete consumer {committer.consumer!r} from streamdash_offsets "
        "and streamdash_commits, and use a new checkpoint directory"
    )
    if stored > spark_next:
        raise CheckpointError(
            f"query {query!r}: the database holds its results up to Spark batch {stored - 1}, "
            f"but checkpoint {log.location} has {'none' if committed is None else committed}; "
            f"{remedy}"
        )
    raise CheckpointError(
        f"query {query!r}: checkpoint {log.location} is at batch {committed}, but the "
        f"database has its results only up to batch {stored - 1} (was the database reset?); "
        f"{remedy}"
    )


@dataclass
class _Query:
    """A query's definition (so that it can be started again) and its current run."""

    name: str
    frame: DataFrame
    mode: str
    location: str
    writer: object
    run: StreamingQuery | None = None
    restarts: int = 0
    """Failures in a row, without a batch done in between."""
    retry_at: float | None = None
    done: bool = False


class SparkJob:
    """The queries of one pipeline in one SparkSession.

    A query that fails is started again from its checkpoint after a pause (exactly-once
    makes that safe), until it fails `MAX_RESTARTS` times in a row without completing a
    batch: on a loaded machine a Python worker of Spark may miss its fixed 10 s start-up
    deadline, which is not worth stopping the whole job for."""

    MAX_RESTARTS = 5
    RESTART_PAUSE_S = 5.0
    START_TIMEOUT_S = 60.0
    STARTING_AT_ONCE = 2

    def __init__(
        self,
        pipeline: Pipeline,
        database_url: str,
        options: SparkRunOptions,
        spark: SparkSession | Future[SparkSession] | None = None,
    ) -> None:
        """`spark`: the session to run in, or one being launched (`launch_session`); None:
        launch one now, to start while `start` does what needs no Spark."""
        ensure_runnable(pipeline)
        require_pyspark()
        self.pipeline = pipeline
        self.database_url = database_url
        self.options = options
        self._session = spark or launch_session(options.master, ui=options.ui)
        self.queries: list[_Query] = []
        self._committers: list[BatchCommitter] = []

    @property
    def spark(self) -> SparkSession:
        """The session, once launched (raising what stopped it from starting)."""
        if isinstance(self._session, Future):
            self._session = self._session.result()
        return self._session

    def _schemas(self) -> list[ViewSchema]:
        from streamdash.engine import Processor

        processor = Processor(self.pipeline)  # the result tables' exact types
        try:
            return processor.schemas()
        finally:
            processor.close()

    def _run(self, query: _Query) -> None:
        stream = (
            query.frame.writeStream.queryName(query.name)
            .outputMode(query.mode)
            .option("checkpointLocation", query.location)
            .foreachBatch(query.writer)  # type: ignore[arg-type]
        )
        interval = self.options.trigger_interval_s or 0.0
        if query.name.startswith(DEAD_LETTERS):
            interval = max(interval, self.options.dead_letter_interval_s)
        if self.options.once:
            stream = stream.trigger(availableNow=True)
        elif interval > 0:
            stream = stream.trigger(processingTime=f"{interval} seconds")
        self._until_few_initialising()
        query.run = stream.start()
        _log.info("started Spark query %s (checkpoint %s)", query.name, query.location)

    def _until_few_initialising(self) -> None:
        """Wait while `STARTING_AT_ONCE` queries are still starting up. A query's Kafka
        source starts a Python process while the query is "Initializing sources", and many
        at once on few cores miss Spark's fixed 10 s deadline for it to connect back."""
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < deadline:
            starting = [
                q
                for q in self.queries
                if q.run is not None
                and q.run.isActive
                and q.run.status.get("message") == "Initializing sources"
            ]
            if len(starting) < self.STARTING_AT_ONCE:
                return
            time.sleep(0.1)

    def _committer(
        self, schemas: list[ViewSchema], consumer: str, stream: str, location: str
    ) -> BatchCommitter:
        committer = BatchCommitter(self.database_url, schemas, consumer, stream, location)
        self._committers.append(committer)
        return committer

    def _plan(self, schemas: list[ViewSchema]) -> list[_Query]:
        """Every query, analysed by Spark, none started: a spec Spark refuses fails here."""
        register_python_source(self.spark)
        reader = choose_reader(self.spark, self.options.kafka_reader)
        in_source = decode_in_source(reader, self.options.decode)
        where = "the source" if in_source else "Spark SQL"
        _log.info("reading Kafka %s with %s, decoding in %s", self.options.kafka, reader, where)
        base = self.options.base_dir
        tables = reference_frames(self.spark, self.pipeline, self.database_url, base)
        root = self.options.checkpoint.rstrip("/")
        by_stream: dict[str, list[ViewSchema]] = {}
        for schema in schemas:
            by_stream.setdefault(schema.stream, []).append(schema)
        limit = self.options.max_events_per_batch
        queries: list[_Query] = []
        for stream, views in by_stream.items():
            spec = self.pipeline.streams[stream]
            events = None
            if not in_source:
                topic = spec.topic or stream
                problems = decode(
                    kafka_frame(self.spark, reader, self.options.kafka, topic, limit), spec
                )
                events = problems.where("_problem IS NULL")
                location = f"{root}/_dead_letters/{stream}"
                committer = self._committer([], dead_letter_consumer(stream), stream, location)
                writer: object = DeadLetterWriter(committer)
                dead = _Query(f"{DEAD_LETTERS}{stream}", problems, "append", location, writer)
                queries.append(dead)
            for schema in views:
                plan = plan_view(self.pipeline, schema)
                location = f"{root}/{plan.name}"
                if in_source:
                    events = self._decoded(stream)
                assert events is not None
                frame = view_frame(self.pipeline, plan, events, tables)
                committer = self._committer([schema], view_consumer(plan.name), stream, location)
                writer = ViewWriter(committer, plan)
                queries.append(_Query(plan.name, frame, plan.output_mode, location, writer))
        # views first: their rows are what users wait for
        return sorted(queries, key=lambda q: q.name.startswith(DEAD_LETTERS))

    def _decoded(self, stream: str) -> DataFrame:
        spec = self.pipeline.streams[stream]
        return decoded_frame(
            self.spark,
            self.options.kafka,
            spec.topic or stream,
            (stream, spec),
            ledger_url=self.database_url,
            dedupe_window_us=self.pipeline.kafka.dedupe_window,
            max_events_per_batch=self.options.max_events_per_batch,
        )

    def start(self) -> None:
        schemas = self._schemas()  # these two need no Spark: done while its JVM starts
        prepare_tables(self.database_url, schemas)
        queries = self._plan(schemas)
        for committer in self._committers:
            log = CheckpointLog(self.spark, committer.checkpoint)
            check_checkpoint(committer, log, committer.consumer)
        for query in queries:
            self.queries.append(query)
            self._run(query)

    def _check(self, query: _Query) -> str | None:
        """Look at a query that is no longer active: mark it done after success, schedule
        a restart after a failure (while it may); return the error that ends the job."""
        assert query.run is not None
        error = query.run.exception()
        if error is None:
            query.done = True
            return None
        if query.run.recentProgress:
            query.restarts = 0  # it got somewhere: a new failure, not the same one again
        if query.restarts >= self.MAX_RESTARTS:
            return f"Spark query {query.name!r} failed: {_first_lines(str(error))}"
        query.restarts += 1
        query.retry_at = time.monotonic() + self.RESTART_PAUSE_S * query.restarts
        _log.warning(
            "Spark query %s failed (%s); starting it again from its checkpoint (%d/%d)",
            query.name,
            _first_lines(str(error), 2),
            query.restarts,
            self.MAX_RESTARTS,
        )
        return None

    def _restart_due(self) -> None:
        for query in self.queries:
            if query.retry_at is not None and time.monotonic() >= query.retry_at:
                query.retry_at = None
                self._run(query)

    def wait(self, stop: threading.Event) -> None:
        """Until every query is done (`once`), one fails for good, or `stop` is set."""
        failure: str | None = None
        try:
            while not stop.is_set() and failure is None:
                for query in self.queries:
                    waiting = query.done or query.retry_at is not None
                    if query.run is not None and not waiting and not query.run.isActive:
                        failure = self._check(query) or failure
                self._restart_due()
                if all(q.done for q in self.queries):
                    break
                if not self.options.once and any(q.done for q in self.queries):
                    failure = "a Spark query stopped by itself"
                stop.wait(0.5)
        finally:
            self.stop()
        if failure is not None:
            raise QueryFailed(failure)

    def stop(self) -> None:
        for query in self.queries:
            if query.run is not None and query.run.isActive:
                query.run.stop()
        for committer in self._committers:
            committer.close()


def _first_lines(text: str, count: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[:count])


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (Ctrl-C): the queries stop between batches."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        _log.info("stopping the Spark queries (signal %d)", signum)
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only: the caller stops us with `stop`
        return
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_spark(
    pipeline: Pipeline,
    database_url: str,
    options: SparkRunOptions,
    spark: SparkSession | Future[SparkSession] | None = None,
) -> None:
    """Run the pipeline on Spark until done (`once`), stopped by a signal, or failed."""
    job = SparkJob(pipeline, database_url, options, spark)
    with stop_on_signals() as stop:
        try:
            job.start()
        except BaseException:
            job.stop()
            raise
        job.wait(stop)
