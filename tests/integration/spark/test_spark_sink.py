"""The foreachBatch sink's exactly-once rules on a real PostgreSQL: a batch Spark replays
after a crash is not applied twice (counters, dead letters, rows), windows become final
once the batch's watermark passed them, and a checkpoint that does not belong with the
results in the database is refused before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pyarrow as pa
import pytest

from streamdash.results import ViewSchema
from streamdash.spark.checkpoint import CheckpointError, CheckpointLog
from streamdash.spark.compiler import SparkView
from streamdash.spark.runner import SparkRunOptions, check_checkpoint, run_spark
from streamdash.spark.sink import (
    BatchCommitter,
    DeadLetterWriter,
    ViewWriter,
    prepare_tables,
)
from streamdash.spec.loader import load_pipeline
from streamdash.testing.kafka_feed import create_topic, produce
from streamdash.testing.tansu import TansuBroker

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SCHEMA = ViewSchema(
    view="per_minute",
    table="per_minute",
    stream="clicks",
    window="tumbling",
    keys=(("user", pa.string()),),
    metrics=(("n", pa.int64()),),
)
T0 = "TIMESTAMP'2024-05-01 12:00:00'"


def _decoded(spark: SparkSession) -> DataFrame:
    """Two good events and one bad one, as `decode` gives them."""
    return spark.sql(
        f"""SELECT * FROM VALUES
          (CAST(NULL AS STRUCT<reason: STRING, detail: STRING>), CAST('{{}}' AS BINARY),
           {T0}, 1, 'clicks', 0, 10L, 1L),
          (NULL, CAST('{{}}' AS BINARY), {T0}, 2, 'clicks', 0, 11L, 1L),
          (named_struct('reason', 'malformed', 'detail', 'not valid JSON'),
           CAST('oops' AS BINARY), {T0}, 3, 'clicks', 1, 7L, 0L)
        AS t(_problem, _raw, _ingest_time, _t, _topic, _partition, _offset, _good)"""
    )


def _rows(spark: SparkSession, minute: int, n: int) -> DataFrame:
    return spark.sql(
        f"""SELECT {T0} + make_interval(0, 0, 0, 0, 0, {minute}, 0) AS window_start,
                   {T0} + make_interval(0, 0, 0, 0, 0, {minute + 1}, 0) AS window_end,
                   'u1' AS user, CAST({n} AS BIGINT) AS n, false AS final"""
    )


def _write_offsets(checkpoint: Path, batch: int, watermark_ms: int) -> None:
    """What Spark writes before it runs a batch (the offset log, see checkpoint.py)."""
    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    meta = f'{{"batchWatermarkMs":{watermark_ms},"batchTimestampMs":0,"conf":{{}}}}'
    (checkpoint / "offsets" / str(batch)).write_text(f"v1\n{meta}\n{{}}\n")


def _scalar(url: str, sql: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_a_replayed_batch_is_not_applied_twice(
    spark_session: SparkSession, pg_db: str, tmp_path: Path
) -> None:
    prepare_tables(pg_db, [])
    committer = BatchCommitter(pg_db, [], "spark:clicks:dead_letters", "clicks", str(tmp_path))
    writer = DeadLetterWriter(committer)
    decoded = _decoded(spark_session)
    writer(decoded, 0)
    writer(decoded, 0)  # Spark replays the batch whose commit it did not record
    assert _scalar(pg_db, "SELECT count(*) FROM dead_letters") == 1
    counters = "SELECT value FROM streamdash_counters WHERE scope = 'clicks' AND name = '{}'"
    assert _scalar(pg_db, counters.format("events")) == 2
    assert _scalar(pg_db, counters.format("rejected")) == 1
    writer(decoded, 1)  # the next batch counts again
    assert _scalar(pg_db, counters.format("events")) == 4
    detail = _scalar(pg_db, "SELECT detail FROM dead_letters LIMIT 1")
    assert detail == "not valid JSON (Kafka clicks[1] offset 7)"
    committer.close()


def test_windows_become_final_with_the_batch_watermark(
    spark_session: SparkSession, pg_db: str, tmp_path: Path
) -> None:
    prepare_tables(pg_db, [SCHEMA])
    committer = BatchCommitter(pg_db, [SCHEMA], "spark:per_minute", "clicks", str(tmp_path))
    writer = ViewWriter(committer, SparkView("per_minute", "clicks", SCHEMA, "update"))
    _write_offsets(tmp_path, 0, 0)
    writer(_rows(spark_session, 0, 5), 0)
    writer(_rows(spark_session, 1, 3), 0)  # a replay of batch 0: skipped
    final = "SELECT count(*) FILTER (WHERE final) FROM per_minute"
    assert _scalar(pg_db, "SELECT count(*) FROM per_minute") == 1
    assert _scalar(pg_db, final) == 0
    # batch 1 runs with a watermark at the end of the first minute: that window is final
    _write_offsets(tmp_path, 1, 1_714_564_860_000)
    writer(_rows(spark_session, 1, 3), 1)
    assert _scalar(pg_db, final) == 1
    assert _scalar(pg_db, "SELECT n FROM per_minute WHERE final") == 5
    marks = "SELECT next_offset, watermark_us FROM streamdash_offsets WHERE consumer = '{}'"
    with psycopg.connect(pg_db) as conn:
        stored = conn.execute(marks.format("spark:per_minute")).fetchone()
    assert stored == (2, 1_714_564_860_000_000)
    committer.close()


@pytest.mark.parametrize(
    ("spark_commits", "stored_next", "refused"),
    [
        ([], 0, None),  # a new query
        ([0, 1, 2], 3, None),  # in step
        ([0, 1, 2], 4, None),  # batch 3 was written, Spark did not record it: it replays
        ([], 5, "holds its results up to Spark batch 4"),  # a new checkpoint, old results
        ([0, 1, 2], 1, "was the database reset"),  # results missing
    ],
)
def test_a_checkpoint_must_belong_with_the_results(
    spark_session: SparkSession,
    pg_db: str,
    tmp_path: Path,
    spark_commits: list[int],
    stored_next: int,
    refused: str | None,
) -> None:
    checkpoint = tmp_path / "checkpoint"
    (checkpoint / "commits").mkdir(parents=True)
    for batch in spark_commits:
        (checkpoint / "commits" / str(batch)).write_text("v1\n{}\n")
    prepare_tables(pg_db, [SCHEMA])
    committer = BatchCommitter(pg_db, [SCHEMA], "spark:per_minute", "clicks", str(checkpoint))
    if stored_next:
        with psycopg.connect(pg_db) as conn:
            conn.execute(
                "INSERT INTO streamdash_offsets (consumer, stream, next_offset) "
                "VALUES ('spark:per_minute', 'clicks', %s)",
                (stored_next,),
            )
    log = CheckpointLog(spark_session, str(checkpoint))
    if refused is None:
        check_checkpoint(committer, log, "per_minute")
    else:
        with pytest.raises(CheckpointError, match=refused):
            check_checkpoint(committer, log, "per_minute")
    committer.close()


def test_the_open_window_index_exists(pg_db: str) -> None:
    prepare_tables(pg_db, [SCHEMA])
    indexes = "SELECT indexdef FROM pg_indexes WHERE tablename = 'per_minute'"
    with psycopg.connect(pg_db) as conn:
        found = [str(r[0]) for r in conn.execute(indexes).fetchall()]
    assert any("WHERE (NOT final)" in d for d in found), found


REPLAY_SPEC = """
streams:
  clicks:
    time: {field: at, unit: ms}
    schema: {user: string, at: int64}
views:
  per_minute:
    from: clicks
    window: {tumbling: 1min}
    group_by: [user]
    metrics: {n: count()}
"""


def test_a_skipped_replay_still_carries_its_window_state(
    spark_session: SparkSession, kafka_broker: TansuBroker, pg_db: str, tmp_path: Path
) -> None:
    """The store has batch 0 already (a crash came after our commit, before Spark's): Spark
    runs batch 0 again, the sink writes nothing for it, yet its events are still in the
    window's state when batch 1 updates the same window."""
    pipeline = load_pipeline(REPLAY_SPEC)
    create_topic(kafka_broker.bootstrap, "clicks", 1)
    lines = [b'{"user": "u1", "at": %d}' % (1_714_564_800_000 + i) for i in range(10)]
    produce(kafka_broker.bootstrap, "clicks", lines, None)
    prepare_tables(pg_db, [])
    with psycopg.connect(pg_db) as conn:
        conn.execute(
            "INSERT INTO streamdash_offsets (consumer, stream, next_offset) "
            "VALUES ('spark:per_minute', 'clicks', 1)"
        )
        conn.execute(  # and the source's tasks had stored batch 0's counters
            "INSERT INTO streamdash_spark_stored (stream, topic, kafka_partition, stored_until) "
            "VALUES ('clicks', 'clicks', 0, 5)"
        )
    options = SparkRunOptions(
        kafka_broker.bootstrap, str(tmp_path / "checkpoints"), once=True, max_events_per_batch=5
    )
    run_spark(pipeline, pg_db, options, spark=spark_session)
    assert _scalar(pg_db, "SELECT n FROM per_minute") == 10  # 5 from batch 0's state, 5 new
    events = "SELECT value FROM streamdash_counters WHERE scope = 'clicks' AND name = 'events'"
    assert _scalar(pg_db, events) == 5  # batch 0's count was "in the store already"
