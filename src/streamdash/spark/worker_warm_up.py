"""Python workers started before the first micro-batch needs them.

On a local master Spark starts its Python workers when the first task that needs one runs.
For a streaming query reading Kafka through streamdash's Python source that is its first
micro-batch, whose tasks then wait for pyspark's daemon to fork them, for pyspark's and
the source's imports (decoding in the source imports DuckDB, the validator and psycopg) and
for the JVM's first Arrow exchange with Python. One one-row task per core, run in the
background while the queries are planned, does all of that first; Spark keeps the workers
and hands them to the queries' tasks (`spark.python.worker.reuse`, on by default).

Measured here (2 cores, quiet machine, class archive in use): the first micro-batch of the
app_logs view 5.6-6.9 s -> 3.9-4.3 s, process start -> first row 15.3-16.7 s -> 12.4-14.9 s.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

_log = logging.getLogger(__name__)
SOURCE_MODULES = (
    "confluent_kafka",
    "streamdash.spark.kafka_source",
    "streamdash.spark.source_decode",
    "streamdash.spark.range_ledger",
)
"""What the Python Kafka source's tasks import."""


def _importing(
    modules: Iterable[str], batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    for module in modules:
        importlib.import_module(module)
    yield from batches


def warm_python_workers(
    spark: SparkSession, workers: int, modules: Iterable[str] = SOURCE_MODULES
) -> threading.Thread:
    """Start `workers` Python workers that import `modules`, in a background job."""

    def run() -> None:
        frame = spark.range(0, workers, numPartitions=workers)
        try:
            frame.mapInArrow(functools.partial(_importing, tuple(modules)), "id long").collect()
        except Exception as err:  # the queries start workers of their own
            _log.debug("warming up Python workers failed: %s", err)

    thread = threading.Thread(target=run, name="streamdash-python-workers", daemon=True)
    thread.start()
    return thread
