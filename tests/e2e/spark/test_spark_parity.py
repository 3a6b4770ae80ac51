"""Parity: every built-in view, the same generated events through the embedded engine and
through Spark local[2] (Kafka in, PostgreSQL out), gives the same final rows — exact
metrics identical (doubles up to summation order), quantiles and distinct counts each
within their documented bound of the exact value.

Sessions are compared where both engines have them: Spark writes a session only once it is
closed, so the embedded engine's open sessions (those of the flush events) are left out.
`created_users.ingested_at` is when the event reached the log — the embedded log there,
Kafka here — so it is checked to lie within the time the events were produced.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from spark_support import (
    FLUSH_AHEAD_US,
    MINUTE,
    Dataset,
    data_end_us,
    parity_problems,
    run_embedded,
    second_database,
    to_kafka,
    to_log,
)

from streamdash.log.sqlite import SqliteLog
from streamdash.spark.runner import SparkRunOptions, run_spark
from streamdash.spec.loader import load_builtin
from streamdash.testing.tansu import TansuBroker

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SEED = 23
# stream -> (items, items per second of event time): minutes of event time, so every view
# has many windows and sessions, with generated jitter but nothing late
PLAN = {
    "app_logs": (2000, 20.0),
    "interactions": (1500, 15.0),
    "user_events": (1500, 10.0),
    "users": (400, 4.0),
    "sensor": (150, 2.0),  # bodies of ~10 readings each
}


@pytest.mark.slow
@pytest.mark.timeout(900)  # 17 streaming queries on two cores: minutes when the machine is busy
def test_every_builtin_view_equals_the_embedded_engine(
    spark_session: SparkSession, kafka_broker: TansuBroker, pg_db: str, tmp_path: Path
) -> None:
    pipeline = load_builtin()
    now_us = time.time_ns() // 1000
    start_us = (now_us - 120 * MINUTE) // (5 * MINUTE) * (5 * MINUTE)
    data = Dataset.generated(pipeline, PLAN, SEED, start_us)
    flush = data.flushes(pipeline, data_end_us(start_us, PLAN) + FLUSH_AHEAD_US)
    log = SqliteLog(tmp_path / "log")
    to_log(log, data.lines)
    to_log(log, flush)
    run_embedded(pipeline, log, pg_db)

    produced_from = time.time_ns() // 1000
    to_kafka(kafka_broker.bootstrap, pipeline, data.lines)
    to_kafka(kafka_broker.bootstrap, pipeline, flush)  # after all the data, as in the log
    produced_until = time.time_ns() // 1000
    spark_db = second_database(pg_db)
    options = SparkRunOptions(
        kafka=kafka_broker.bootstrap, checkpoint=str(tmp_path / "checkpoints"), once=True
    )
    run_spark(pipeline, spark_db, options, spark=spark_session)

    problems, compared = parity_problems(
        pg_db, spark_db, log, pipeline.views, (produced_from - 1_000_000, produced_until)
    )
    assert not problems, "\n".join(problems[:40])
    for view, rows in compared.items():
        assert rows > 0, f"{view} has no rows on Spark"
    assert compared["user_sessions"] > 20
    with psycopg.connect(spark_db) as conn:
        counters = dict(
            ((scope, name), value)
            for scope, name, value in conn.execute(
                "SELECT scope, name, value FROM streamdash_counters"
            )
        )
    for stream in PLAN:
        assert counters[(stream, "events")] == log.end_offset(stream), stream
    log.close()
