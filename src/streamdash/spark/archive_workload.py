"""The job whose classes `streamdash spark prepare` archives (`class_archive.py`).

The built-in app_logs view as `streamdash spark run` plans it, over generated events from a
Python data source: the JVM loads the classes of a real run (the Python data source and its
Arrow batches, watermark, windows, aggregates, the state store, foreachBatch, checkpoint
files) with no Kafka or database. Three micro-batches, so that restoring state is in it.

`python -m streamdash.spark.archive_workload ARCHIVE` runs it in a JVM that writes its
classes to ARCHIVE as it exits, waits for that exit, and prints how the JVM was launched
(JSON: options and class path; `class_archive.check_archive` starts a JVM the same way).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import msgspec
import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import SupportsTriggerAvailableNow
from pyspark.sql.types import StructType
from typing_extensions import override

from streamdash.spec.models import Pipeline

SOURCE_NAME = "streamdash_archive_workload"
STREAM = "app_logs"
BATCHES = 3
EVENTS_PER_BATCH = 2000


def _events(batch: int) -> pa.RecordBatch:
    """A batch of generated app_logs events in the columns of the decoding Kafka source."""
    from streamdash.sources.generators import generate
    from streamdash.spark.source_decode import arrow_schema

    spec = _pipeline().streams[STREAM]
    now = datetime.now(UTC)
    start_us = int(now.timestamp() * 1e6) - (BATCHES - batch) * 10_000_000
    lines = generate(STREAM, count=EVENTS_PER_BATCH, seed=batch, start_us=start_us, rate=200)
    rows: list[dict[str, Any]] = []
    for offset, line in enumerate(lines):
        event = msgspec.json.decode(line)
        event |= {"_t": event["timestamp"] * 1000, "_ingest_time": now, "_offset": offset}
        rows.append(event | {"_partition": 0, "_topic": STREAM})
    return pa.RecordBatch.from_pylist(rows, schema=arrow_schema(spec))


class _Batch(InputPartition):
    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


class _Reader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Offsets {"batch": n}: one partition per batch, `BATCHES` batches."""

    @override
    def initialOffset(self) -> dict[str, Any]:
        return {"batch": 0}

    @override
    def latestOffset(self, start: dict[str, Any], limit: Any) -> dict[str, Any]:
        return {"batch": min(start["batch"] + 1, BATCHES)}

    @override
    def prepareForTriggerAvailableNow(self) -> None:
        pass

    @override
    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> list[InputPartition]:
        return [_Batch(n) for n in range(start["batch"], end["batch"])]

    @override
    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, _Batch)
        yield _events(partition.number)


class WorkloadSource(DataSource):
    @classmethod
    @override
    def name(cls) -> str:
        return SOURCE_NAME

    @override
    def schema(self) -> str:
        raise NotImplementedError("the reader is given its schema")

    @override
    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return _Reader()


def _pipeline() -> Pipeline:
    from streamdash.spec.loader import load_pipeline

    with resources.as_file(resources.files("streamdash.spec") / f"builtin/{STREAM}.yaml") as path:
        return load_pipeline(path)


def run(archive: str) -> dict[str, object]:
    from pyspark.sql import functions as sf
    from pyspark.sql.pandas.types import from_arrow_schema

    from streamdash.engine import Processor
    from streamdash.spark.compiler import plan_view, view_frame
    from streamdash.spark.session import build_session
    from streamdash.spark.source_decode import arrow_schema

    dump = f"-XX:ArchiveClassesAtExit={archive} -Xlog:cds=off -Xlog:cds+dynamic=off"
    spark = build_session(app_name="streamdash-class-archive", ui=False,
                          conf={"spark.driver.extraJavaOptions": dump})  # fmt: skip
    pipeline = _pipeline()
    processor = Processor(pipeline)
    schema = next(s for s in processor.schemas() if s.stream == STREAM)
    processor.close()
    spark.dataSource.register(WorkloadSource)
    events = (
        spark.readStream.format(SOURCE_NAME)
        .schema(from_arrow_schema(arrow_schema(pipeline.streams[STREAM])))
        .load()
        .withColumn("_event_time", sf.expr("timestamp_micros(_t)"))
    )
    plan = plan_view(pipeline, schema)
    with tempfile.TemporaryDirectory(prefix="streamdash-class-archive-") as checkpoint:
        query = (
            view_frame(pipeline, plan, events, {})
            .writeStream.outputMode(plan.output_mode)
            .option("checkpointLocation", checkpoint)
            .foreachBatch(lambda frame, _batch: frame.toArrow())
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        if query.exception() is not None:
            raise RuntimeError(f"the workload's query failed: {query.exception()}")
    jvm = spark._jvm
    assert jvm is not None
    runtime = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    launch: dict[str, object] = {
        "options": list(runtime.getInputArguments()),
        "class_path": jvm.java.lang.System.getProperty("java.class.path"),
    }
    _exit_jvm(spark)
    return launch


def _exit_jvm(spark: Any) -> None:
    """Stop the session and wait for its JVM to exit (the archive is written then): the
    JVM leaves when its stdin closes."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    spark.stop()
    process = getattr(gateway, "proc", None)
    if gateway is not None:
        gateway.shutdown()
    if process is not None:
        process.stdin.close()
        process.wait(timeout=300)


def main(argv: list[str]) -> None:
    (archive,) = argv
    print(json.dumps(run(archive)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
