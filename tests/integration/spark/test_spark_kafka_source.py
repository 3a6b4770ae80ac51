"""The Kafka data source on a real broker (tansu) and a real Spark: every message of every
partition exactly once across micro-batches, admission control, Trigger.AvailableNow, and
a restart from the checkpoint that continues where the last committed batch ended."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from streamdash.spark.kafka_source import SCHEMA, SOURCE_NAME
from streamdash.spark.source import kafka_frame, register_python_source
from streamdash.testing.kafka_feed import create_topic, produce
from streamdash.testing.tansu import TansuBroker

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TOPIC = "numbers"


def _lines(first: int, count: int) -> list[bytes]:
    return [b'{"key": "k%d", "n": %d}' % (i % 5, i) for i in range(first, first + count)]


def _environment_class(spark: SparkSession, name: str) -> str:
    """The Java class of the environment map a registered Python data source's readers share."""
    manager = spark._jsparkSession.sessionState().dataSourceManager()
    return str(manager.lookupDataSource(name).dataSourceCls().envVars().getClass().getName())


def _drain(
    spark: SparkSession,
    broker: TansuBroker,
    checkpoint: Path,
    limit: int | None,
    frame: DataFrame | None = None,
    tasks: list[int] | None = None,
) -> list[tuple[int, int, int, bytes]]:
    """Run one availableNow query of `frame` (default: `kafka_frame` of the topic);
    (batch, partition, offset, value) of every row seen; `tasks` gets each batch's number
    of tasks."""
    seen: list[tuple[int, int, int, bytes]] = []

    def collect(frame: DataFrame, batch_id: int) -> None:
        if tasks is not None:
            tasks.append(frame.rdd.getNumPartitions())
        for row in frame.select("partition", "offset", "value").toArrow().to_pylist():
            seen.append((batch_id, row["partition"], row["offset"], row["value"]))

    if frame is None:
        frame = kafka_frame(spark, "python", broker.bootstrap, TOPIC, limit)
    query = (
        frame.writeStream.option("checkpointLocation", str(checkpoint))
        .foreachBatch(collect)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(300)
    assert query.exception() is None, query.exception()
    return seen


def test_every_message_once_across_batches_and_restarts(
    spark_session: SparkSession, kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    register_python_source(spark_session)
    create_topic(kafka_broker.bootstrap, TOPIC, 3)
    produce(kafka_broker.bootstrap, TOPIC, _lines(0, 3000), "key")
    checkpoint = tmp_path / "checkpoint"

    first = _drain(spark_session, kafka_broker, checkpoint, limit=700)
    values = sorted(v for _, _, _, v in first)
    assert values == sorted(_lines(0, 3000))
    assert len({(p, o) for _, p, o, _ in first}) == 3000
    data_batches = {b for b, *_ in first}
    assert len(data_batches) >= 3000 // 700  # the limit cut the backlog into batches
    per_partition = {p for _, p, _, _ in first}
    assert per_partition == {0, 1, 2}

    produce(kafka_broker.bootstrap, TOPIC, _lines(3000, 500), "key")
    second = _drain(spark_session, kafka_broker, checkpoint, limit=None)
    assert sorted(v for _, _, _, v in second) == sorted(_lines(3000, 500))
    assert min(b for b, *_ in second) > max(data_batches)  # batch ids continue

    assert _drain(spark_session, kafka_broker, checkpoint, limit=None) == []


def test_queries_started_together_share_the_source_safely(
    spark_session: SparkSession, kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    """Spark writes, unlocked, into the one environment map every reader of a Python data
    source shares, from each starting query's thread and each task's; a plain HashMap
    there was corrupted for good when queries started together (see
    `register_python_source`). Ours is a ConcurrentHashMap, and four queries started at
    once from four threads each read every message."""
    register_python_source(spark_session)
    assert _environment_class(spark_session, SOURCE_NAME) == (
        "java.util.concurrent.ConcurrentHashMap"
    )
    create_topic(kafka_broker.bootstrap, TOPIC, 3)
    produce(kafka_broker.bootstrap, TOPIC, _lines(0, 600), "key")
    with ThreadPoolExecutor(4) as pool:
        runs = [
            pool.submit(_drain, spark_session, kafka_broker, tmp_path / f"q{i}", 100)
            for i in range(4)
        ]
        seen = [run.result() for run in runs]
    for rows in seen:
        assert sorted(v for *_, v in rows) == sorted(_lines(0, 600))


def test_ranges_grouped_into_fewer_tasks_are_each_read_once(
    spark_session: SparkSession, kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    """With `maxTasksPerBatch`, three partitions' ranges run in two tasks per batch, and
    every message still arrives once, across batches and a restart."""
    register_python_source(spark_session)
    create_topic(kafka_broker.bootstrap, TOPIC, 3)
    produce(kafka_broker.bootstrap, TOPIC, _lines(0, 1500), "key")
    frame = (
        spark_session.readStream.format(SOURCE_NAME)
        .option("bootstrap", kafka_broker.bootstrap)
        .option("topic", TOPIC)
        .option("maxEventsPerBatch", "400")
        .option("maxTasksPerBatch", "2")
        .schema(SCHEMA)
        .load()
    )
    tasks: list[int] = []
    first = _drain(spark_session, kafka_broker, tmp_path / "ck", None, frame, tasks)
    produce(kafka_broker.bootstrap, TOPIC, _lines(1500, 300), "key")
    second = _drain(spark_session, kafka_broker, tmp_path / "ck", None, frame, tasks)
    rows = first + second
    assert sorted(v for *_, v in rows) == sorted(_lines(0, 1800))
    assert len({(p, o) for _, p, o, _ in rows}) == 1800
    assert {p for _, p, _, _ in first} == {0, 1, 2}
    assert len(tasks) >= 1500 // 400 and max(tasks) == 2
