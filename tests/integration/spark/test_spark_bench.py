"""The Spark benchmark's parts run end to end at a tiny size and count every event once
(no timing assertions: speed is what the benchmark reports, not what tests judge)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from streamdash.bench.spark import (
    FIRST_ROW_TIMEOUT_S,
    PARTITIONS,
    TOPIC,
    counted,
    handwritten_throughput,
    kafka_decode_rate,
    paired_first_rows,
    paired_latencies,
    spark_first_row,
    spark_latency,
    spark_throughput,
)
from streamdash.bench.spark_handwritten import TABLE as HANDWRITTEN
from streamdash.bench.workload import app_logs_lines
from streamdash.testing.kafka_feed import create_topic, produce
from streamdash.testing.tansu import TansuBroker

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@contextlib.contextmanager
def _recorded_databases(
    scratch_database: Callable[..., contextlib.AbstractContextManager[str]], pg_url: str
) -> Iterator[tuple[Callable[[str], str], list[str]]]:
    """A `fresh_database` for the paired measurements, and the names it was asked for in
    order; the databases are dropped on exit."""
    with contextlib.ExitStack() as stack:
        made: list[str] = []

        def fresh(name: str) -> str:
            made.append(name)
            return stack.enter_context(scratch_database(pg_url))

        yield fresh, made


def test_throughput_part(
    spark_session: SparkSession, kafka_broker: TansuBroker, pg_db: str, tmp_path: Path
) -> None:
    create_topic(kafka_broker.bootstrap, TOPIC, PARTITIONS)
    produce(kafka_broker.bootstrap, TOPIC, app_logs_lines(3000), "application_id")
    assert kafka_decode_rate(kafka_broker.bootstrap, TOPIC) > 0
    seconds, steady = spark_throughput(kafka_broker.bootstrap, pg_db, tmp_path / "once")
    assert seconds > 0 and math.isfinite(steady) and steady > 0
    assert counted(pg_db) == 3000


def test_latency_part_warms_up_live_and_alternates_the_jobs(
    spark_session: SparkSession,
    pg_url: str,
    scratch_database: Callable[..., contextlib.AbstractContextManager[str]],
    tmp_path: Path,
) -> None:
    with _recorded_databases(scratch_database, pg_url) as (fresh, made):
        runner, never, handwritten = paired_latencies(fresh, tmp_path, 1.0, 2000.0, 0.05, 2, 0.5)
    # unmeasured live runs of both jobs first, then the measured rounds, alternating
    order = ["warm_handwritten", "warm_runner", "runner_0", "handwritten_0", "handwritten_1",
             "runner_1"]  # fmt: skip
    assert made == [f"latency_{name}" for name in order]
    assert never == 0
    assert len(runner) == len(handwritten) == 2 * 20 and all(ms > 0 for ms in runner)


def test_handwritten_baseline_counts_every_event(
    spark_session: SparkSession, kafka_broker: TansuBroker, pg_db: str, tmp_path: Path
) -> None:
    create_topic(kafka_broker.bootstrap, TOPIC, PARTITIONS)
    produce(kafka_broker.bootstrap, TOPIC, app_logs_lines(3000), "application_id")
    assert handwritten_throughput(kafka_broker.bootstrap, pg_db, tmp_path / "once") > 0
    assert counted(pg_db, HANDWRITTEN) == 3000
    with psycopg.connect(pg_db) as conn:  # the view's per-method counts, as the runner's
        methods = conn.execute(
            f"SELECT sum(get_count + post_count + put_count + delete_count) FROM {HANDWRITTEN}"
        ).fetchone()
    assert methods == (3000,)
    latencies, never = spark_latency(
        kafka_broker.bootstrap, pg_db, tmp_path / "live", 1.0, 2000.0, 0.05, handwritten=True
    )
    assert never == 0 and len(latencies) == 20
    assert counted(pg_db, HANDWRITTEN) == 3000 + 20 * 100


def test_the_handwritten_job_runs_as_a_process_of_its_own(
    kafka_broker: TansuBroker, pg_db: str, tmp_path: Path
) -> None:
    """The start-up baseline: `python -m streamdash.bench.spark_handwritten` in a new
    process, timed to its first row."""
    create_topic(kafka_broker.bootstrap, TOPIC, PARTITIONS)
    produce(kafka_broker.bootstrap, TOPIC, app_logs_lines(500), "application_id")
    seconds = spark_first_row(kafka_broker.bootstrap, pg_db, tmp_path, handwritten=True)
    assert 0 < seconds < FIRST_ROW_TIMEOUT_S
    assert counted(pg_db, HANDWRITTEN) > 0


def test_first_rows_of_both_jobs_alternate(
    kafka_broker: TansuBroker,
    pg_url: str,
    scratch_database: Callable[..., contextlib.AbstractContextManager[str]],
    tmp_path: Path,
) -> None:
    """`streamdash spark run` and the hand-written job, each launched as a process on the
    same waiting events: one unmeasured launch of each, then the runner first in round 0."""
    create_topic(kafka_broker.bootstrap, TOPIC, PARTITIONS)
    produce(kafka_broker.bootstrap, TOPIC, app_logs_lines(500), "application_id")
    with _recorded_databases(scratch_database, pg_url) as (fresh, made):
        runner_s, handwritten_s = paired_first_rows(kafka_broker.bootstrap, fresh, tmp_path, 1)
    assert made == [
        "first_handwritten_warm",
        "first_runner_warm",
        "first_runner_0",
        "first_handwritten_0",
    ]
    assert 0 < runner_s < FIRST_ROW_TIMEOUT_S and 0 < handwritten_s < FIRST_ROW_TIMEOUT_S
