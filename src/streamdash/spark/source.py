"""Where a stream's Kafka messages come from on Spark: Spark's own Kafka connector when its
jar is on the classpath (`--packages org.apache.spark:spark-sql-kafka-0-10_...`), otherwise
streamdash's Python data source (`kafka_source.py`). Both give the same columns, both keep
their offsets in the query's checkpoint, and both start a new query at the earliest offset
(the whole topic, like the embedded engine reading its log from offset 0)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.readwriter import DataStreamReader

    from streamdash.spec.models import StreamSpec

KafkaReader = Literal["auto", "connector", "python"]
CONNECTOR_CLASS = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
COLUMNS = ("value", "topic", "partition", "offset", "timestamp")


def connector_available(spark: SparkSession) -> bool:
    """Whether Spark's Kafka connector is on the driver's classpath."""
    jvm = spark._jvm
    assert jvm is not None
    try:
        jvm.java.lang.Thread.currentThread().getContextClassLoader().loadClass(CONNECTOR_CLASS)
    except Exception:  # py4j's Py4JJavaError wrapping ClassNotFoundException
        return False
    return True


def register_python_source(spark: SparkSession) -> None:
    """Register `kafka_source.KafkaDataSource`, as `spark.dataSource.register` would, but
    with its environment in a `ConcurrentHashMap` instead of py4j's `HashMap`.

    Spark 4 hands that one map to every reader of the source and writes into it without a
    lock: each query's `PythonStreamingSourceRunner` as it starts (one thread per query),
    each task's `BasePythonRunner.compute` (one thread per core), while other threads
    serialise it into tasks. Queries starting together after a restart corrupted it for
    the rest of the session (tasks failed to deserialise it, `OptionalDataException` in
    `HashMap.readObject`, every retry again). A concurrent map is safe to update and to
    serialise from any thread (its serialised form has no entry count to go stale)."""
    from pyspark.sql.udf import _wrap_function

    from streamdash.spark.kafka_source import SOURCE_NAME, KafkaDataSource

    jvm = spark._jvm
    assert jvm is not None
    wrapped = _wrap_function(spark.sparkContext, KafkaDataSource)
    function = jvm.org.apache.spark.api.python.SimplePythonFunction(
        wrapped.command(),
        jvm.java.util.concurrent.ConcurrentHashMap(wrapped.envVars()),
        wrapped.pythonIncludes(),
        wrapped.pythonExec(),
        wrapped.pythonVer(),
        wrapped.broadcastVars(),
        wrapped.accumulator(),
    )
    python = jvm.org.apache.spark.sql.execution.datasources.v2.python
    source = python.UserDefinedPythonDataSource(function)
    spark._jsparkSession.dataSource().registerPython(SOURCE_NAME, source)


def choose_reader(spark: SparkSession, wanted: KafkaReader) -> Literal["connector", "python"]:
    if wanted != "auto":
        return wanted
    return "connector" if connector_available(spark) else "python"


def kafka_frame(
    spark: SparkSession,
    reader: Literal["connector", "python"],
    bootstrap: str,
    topic: str,
    max_events_per_batch: int | None = None,
) -> DataFrame:
    """The streaming DataFrame of a topic's messages: COLUMNS."""
    if reader == "connector":
        stream = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
        )
        if max_events_per_batch:
            stream = stream.option("maxOffsetsPerTrigger", str(max_events_per_batch))
        return stream.load().select(*COLUMNS)
    from streamdash.spark.kafka_source import SCHEMA

    # the schema given: Spark need not start a Python process to ask the source for it
    return _python_source(spark, bootstrap, topic, max_events_per_batch).schema(SCHEMA).load()


def _python_source(
    spark: SparkSession, bootstrap: str, topic: str, max_events_per_batch: int | None
) -> DataStreamReader:
    from streamdash.spark.kafka_source import SOURCE_NAME

    stream = spark.readStream.format(SOURCE_NAME).option("bootstrap", bootstrap)
    stream = stream.option("topic", topic)
    if max_events_per_batch:
        stream = stream.option("maxEventsPerBatch", str(max_events_per_batch))
    return stream


def decoded_frame(
    spark: SparkSession,
    bootstrap: str,
    topic: str,
    stream: tuple[str, StreamSpec],
    *,
    ledger_url: str | None = None,
    dedupe_window_us: int = 0,
    max_events_per_batch: int | None = None,
) -> DataFrame:
    """A stream's good events, decoded by the Python source's tasks (`source_decode.py`):
    its fields, `_t`, `_event_time` and the message columns. `ledger_url` (a database): the
    tasks also store the dead letters and counters of what they read (`range_ledger.py`)."""
    from pyspark.sql import functions as sf
    from pyspark.sql.pandas.types import from_arrow_schema

    from streamdash.spark.source_decode import DECODED, arrow_schema, spec_json

    name, spec = stream
    reader = _python_source(spark, bootstrap, topic, max_events_per_batch)
    # as in kafka_frame: measured 1.4 s of a cold job's planning
    reader = reader.schema(from_arrow_schema(arrow_schema(spec)))
    reader = reader.option("decode", DECODED).option("stream", name).option("spec", spec_json(spec))
    # a task per core at most (kafka_source.group_ranges: what a task costs besides reading)
    reader = reader.option("maxTasksPerBatch", str(spark.sparkContext.defaultParallelism))
    if ledger_url is not None:
        reader = reader.option("ledgerUrl", ledger_url)
    frame = reader.option("dedupeWindowUs", str(dedupe_window_us)).load()
    return frame.withColumn("_event_time", sf.expr("timestamp_micros(_t)"))
