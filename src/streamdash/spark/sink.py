"""foreachBatch writers: each micro-batch of a query becomes one `CommitBatch`, written by
`PostgresSink` in one transaction into the same tables the embedded engine writes.

Exactly-once rests on Spark replaying only its last, uncommitted batch, with the same
offsets (Spark's offset log), and on this sink recognising a batch it already wrote:

- the batch id is stored as the query's offset (`streamdash_offsets`, consumer
  `spark:<view>` or `spark:<stream>:dead_letters`, `next_offset` = next batch id) in the same
  transaction as the rows, dead letters and counters; a batch below it is skipped;
- the commit token is derived from the checkpoint and the batch id, so even a retry whose
  COMMIT acknowledgement was lost is recognised inside the transaction.

Rows are upserts on the view's key; windows become `final` once Spark's watermark for the
batch (read from the checkpoint) has passed their end — Spark has dropped their state
then, and will never change them again.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from streamdash.errors import StoreUnavailable
from streamdash.results import CommitBatch, DeadLetter, ViewSchema, ViewUpdate
from streamdash.spark.checkpoint import CheckpointLog
from streamdash.spark.compiler import SparkView
from streamdash.spark.decode import END_OF_2200_US
from streamdash.spark.range_ledger import create_stored_table
from streamdash.store.postgres import PostgresSink

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKENS = uuid.UUID("6f1d3c3e-5a2b-4a47-9d0e-5b7f3c1a2e90")
RETRY_FOR_S = 60.0
"""How long a batch waits for an unreachable database before the query fails."""


def view_consumer(view: str) -> str:
    return f"spark:{view}"


def dead_letter_consumer(stream: str) -> str:
    return f"spark:{stream}:dead_letters"


def open_window_index(schema: ViewSchema) -> sql.Composed:
    """An index on the windows not final yet: finalising them at every batch reads only
    those, not the whole table (a partial index stays as small as the open windows)."""
    name = f"{schema.table}_open"
    if len(name.encode()) > 63:
        name = f"{schema.table[:40]}_{hashlib.sha256(schema.table.encode()).hexdigest()[:12]}_open"
    return sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (window_end) WHERE NOT final").format(
        sql.Identifier(name), sql.Identifier(schema.table)
    )


def prepare_tables(database_url: str, schemas: list[ViewSchema]) -> None:
    """Create the result tables (as the embedded engine would), their open-window indexes,
    and the table of the Python source's stored offsets."""
    with PostgresSink(database_url) as sink:
        sink.open(schemas)
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_stored_table(conn)
        for schema in schemas:
            if schema.windowed:
                conn.execute(open_window_index(schema))


def replay_without_output(frame: DataFrame, consumer: str, batch_id: int) -> None:
    """A batch Spark replays whose output is in the store already: run it all the same,
    writing nothing. Running it is what commits the batch's state (window state, sketches)
    to Spark's state store; a batch left unrun would lose that state for the batches
    after it (Spark 4 even refuses: STATE_STORE_COMMIT_VALIDATION_FAILED)."""
    frame.write.format("noop").mode("overwrite").save()
    _log.info("%s: batch %d is in the store already; replayed without output", consumer, batch_id)


class BatchCommitter:
    """One query's writes: skips batches already in the store, retries transient failures.
    Called from the query's foreachBatch thread only (one connection per query)."""

    def __init__(
        self,
        database_url: str,
        schemas: list[ViewSchema],
        consumer: str,
        stream: str,
        checkpoint: str,
    ) -> None:
        self.database_url = database_url
        self.schemas = schemas
        self.consumer = consumer
        self.stream = stream
        self.checkpoint = checkpoint
        self._sink: PostgresSink | None = None

    def _open(self) -> PostgresSink:
        if self._sink is None:
            sink = PostgresSink(self.database_url)
            sink.open(self.schemas)
            self._sink = sink
        return self._sink

    def next_batch(self) -> int:
        """The first batch id not in the store yet."""
        return self._open().load_offsets(self.consumer).get(self.stream, 0)

    def commit(self, batch_id: int, batch: CommitBatch) -> None:
        batch.offsets[self.stream] = batch_id + 1
        batch.token = uuid.uuid5(_TOKENS, f"{self.consumer}|{self.checkpoint}|{batch_id}")
        deadline = time.monotonic() + RETRY_FOR_S
        delay = 0.5
        while True:
            try:
                self._open().commit(self.consumer, batch)
                return
            except StoreUnavailable as err:
                if time.monotonic() > deadline:
                    raise
                _log.warning(
                    "%s: batch %d not written yet (%s); retrying", self.consumer, batch_id, err
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


class ViewWriter:
    """foreachBatch of a view's query: the batch's changed rows, and the windows its
    watermark made final."""

    def __init__(self, committer: BatchCommitter, plan: SparkView) -> None:
        self.committer = committer
        self.plan = plan
        self._log: CheckpointLog | None = None

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        if batch_id < self.committer.next_batch():
            replay_without_output(frame, self.committer.consumer, batch_id)
            return
        if self._log is None:
            self._log = CheckpointLog(frame.sparkSession, self.committer.checkpoint)
        rows = frame.toArrow()
        batch = CommitBatch()
        if rows.num_rows:
            batch.updates.append(ViewUpdate(self.plan.name, rows))
        watermark_ms = self._log.batch_watermark_ms(batch_id)
        if watermark_ms > 0:
            batch.watermarks[self.plan.stream] = watermark_ms * 1000
            if self.plan.schema.windowed and not self.plan.emits_final:
                batch.final_until[self.plan.name] = watermark_ms * 1000
        self.committer.commit(batch_id, batch)


class DeadLetterWriter:
    """foreachBatch of a stream's decode query (Spark SQL's decode, `decode.py`): bad events
    to the dead-letter store, and the stream's counters (`events`: the sum of `_good`;
    `rejected`)."""

    def __init__(self, committer: BatchCommitter) -> None:
        self.committer = committer

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        from pyspark.sql import functions as sf

        if batch_id < self.committer.next_batch():
            replay_without_output(frame, self.committer.consumer, batch_id)
            return
        bad = sf.col("_problem").isNotNull()
        letter = sf.struct(
            sf.col("_problem.reason").alias("reason"),
            sf.col("_problem.detail").alias("detail"),
            sf.col("_raw").alias("raw"),
            sf.col("_ingest_time").alias("received"),
            sf.col("_t").alias("t"),
            sf.col("_topic").alias("topic"),
            sf.col("_partition").alias("partition"),
            sf.col("_offset").alias("offset"),
        )
        summary = (
            frame.agg(
                sf.sum("_good").alias("good"),
                sf.collect_list(sf.when(bad, letter)).alias("bad"),
            )
            .toArrow()
            .to_pylist()[0]
        )
        stream = self.committer.stream
        letters = [_dead_letter(stream, item) for item in summary["bad"] or []]
        batch = CommitBatch(dead_letters=letters)
        if summary["good"]:
            batch.counters[(stream, "events")] = int(summary["good"])
        if letters:
            batch.counters[(stream, "rejected")] = len(letters)
        self.committer.commit(batch_id, batch)


def _epoch_us(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _dead_letter(stream: str, item: dict[str, Any]) -> DeadLetter:
    received_us = _epoch_us(item["received"])
    t = item["t"]
    where = f"Kafka {item['topic']}[{item['partition']}] offset {item['offset']}"
    return DeadLetter(
        stream,
        item["reason"],
        f"{item['detail']} ({where})",
        bytes(item["raw"] or b""),
        time.time_ns() // 1000 if received_us is None else received_us,
        event_time_us=t if t is not None and 0 <= t < END_OF_2200_US else None,
        offset=item["offset"],
        partition=item["partition"],
    )
