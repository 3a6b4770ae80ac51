"""When the queries of a running job (not `--once`) start their micro-batches: the views'
as soon as the last one is done (or every `--trigger-interval`), the dead-letter queries'
(with Spark SQL's decode) every `--dead-letter-interval` seconds, at least the trigger
interval. Decoding in the Python source, the views' tasks store the dead letters: no
dead-letter query runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from streamdash.spark.runner import DEAD_LETTERS, Decode, SparkJob, SparkRunOptions
from streamdash.spec.loader import load_pipeline
from streamdash.testing.kafka_feed import create_topic
from streamdash.testing.tansu import TansuBroker

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPEC = """
streams:
  clicks:
    time: {field: at, unit: ms}
    schema: {user: string, at: int64}
views:
  per_user:
    from: clicks
    group_by: [user]
    metrics: {n: count()}
"""


def _interval_ms(job: SparkJob) -> dict[str, int]:
    """Each query's trigger interval as Spark runs it (0: back to back)."""
    out = {}
    for query in job.queries:
        assert query.run is not None
        trigger = query.run._jsq.streamingQuery().trigger()
        out[query.name] = int(trigger.intervalMs())
    return out


DEAD = f"{DEAD_LETTERS}clicks"


@pytest.mark.parametrize(
    ("trigger", "decode", "expected"),
    [
        (None, "spark", {"per_user": 0, DEAD: 5000}),
        (8.0, "spark", {"per_user": 8000, DEAD: 8000}),
        (None, "source", {"per_user": 0}),
    ],
)
def test_dead_letter_queries_run_every_few_seconds(
    spark_session: SparkSession,
    kafka_broker: TansuBroker,
    pg_db: str,
    tmp_path: Path,
    trigger: float | None,
    decode: Decode,
    expected: dict[str, int],
) -> None:
    create_topic(kafka_broker.bootstrap, "clicks", 1)
    options = SparkRunOptions(
        kafka_broker.bootstrap,
        str(tmp_path / "checkpoints"),
        trigger_interval_s=trigger,
        dead_letter_interval_s=5.0,
        decode=decode,
    )
    job = SparkJob(load_pipeline(SPEC), pg_db, options, spark=spark_session)
    try:
        job.start()
        intervals = _interval_ms(job)
    finally:
        job.stop()
    assert intervals == expected
