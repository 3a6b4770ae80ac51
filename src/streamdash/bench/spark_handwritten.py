"""The Spark benchmark's same-run baseline: the app_logs pipeline as a Spark user would
write it by hand (the job docs/environment.md measured for the peers: 10 s tumbling windows
per application, a 10 s watermark, counts, error rate, average, p95 and p99 latency into
PostgreSQL; plus the per-method counts of the built-in view, so that both jobs compute the
same ten metrics).

It reads the same topic through the same Kafka source as `streamdash spark run` (here that
is streamdash's Python data source: Spark's connector jar is not obtainable), parses with
`from_json` and a plain schema, and upserts each batch's rows. What it leaves out is what
the runner adds per event: validation against the spec (why an event is bad, for the dead
letters), the dead letters and counters.

`python -m streamdash.bench.spark_handwritten BOOTSTRAP TOPIC DATABASE_URL CHECKPOINT` runs it
on its own until stopped: the baseline of the runner's process start -> first row.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import psycopg

from streamdash.spark.source import kafka_frame, register_python_source

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

TABLE = "handwritten_app_metrics"
SCHEMA = (
    "application_id STRING, timestamp BIGINT, method STRING, endpoint STRING, "
    "status_code INT, latency_ms DOUBLE, level STRING, message STRING"
)
_COLUMNS = (
    "window_start", "application_id", "request_count", "error_count", "error_rate",
    "avg_latency_ms", "p95_latency_ms", "p99_latency_ms",
    "get_count", "post_count", "put_count", "delete_count",
)  # fmt: skip
METHODS = ("GET", "POST", "PUT", "DELETE")


def create_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (window_start timestamptz, "
            "application_id text, request_count bigint, error_count bigint, "
            "error_rate double precision, avg_latency_ms double precision, "
            "p95_latency_ms double precision, p99_latency_ms double precision, "
            "get_count bigint, post_count bigint, put_count bigint, delete_count bigint, "
            "PRIMARY KEY (window_start, application_id))"
        )


def metrics_frame(spark: SparkSession, bootstrap: str, topic: str) -> DataFrame:
    from pyspark.sql import functions as sf

    register_python_source(spark)
    events = (
        kafka_frame(spark, "python", bootstrap, topic)
        .select(sf.from_json(sf.col("value").cast("string"), SCHEMA).alias("e"))
        .select("e.*")
        .withColumn("event_time", sf.timestamp_millis("timestamp"))
        .withWatermark("event_time", "10 seconds")
    )
    return events.groupBy(sf.window("event_time", "10 seconds"), "application_id").agg(
        sf.count(sf.lit(1)).alias("request_count"),
        sf.count_if(sf.col("status_code") >= 500).alias("error_count"),
        sf.avg(sf.when(sf.col("status_code") >= 500, 1.0).otherwise(0.0)).alias("error_rate"),
        sf.avg("latency_ms").alias("avg_latency_ms"),
        sf.percentile_approx("latency_ms", 0.95).alias("p95_latency_ms"),
        sf.percentile_approx("latency_ms", 0.99).alias("p99_latency_ms"),
        *(sf.count_if(sf.col("method") == m).alias(f"{m.lower()}_count") for m in METHODS),
    )


class Upsert:
    """foreachBatch: the batch's changed windows, upserted in one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        rows = frame.selectExpr("window.start AS window_start", *_COLUMNS[1:]).collect()
        if not rows:
            return
        names = ", ".join(_COLUMNS)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[2:])
        with psycopg.connect(self.url) as conn, conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {TABLE} ({names}) VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
                f"ON CONFLICT (window_start, application_id) DO UPDATE SET {updates}",
                [tuple(row) for row in rows],
            )


def start_handwritten(
    spark: SparkSession, bootstrap: str, topic: str, url: str, checkpoint: str, once: bool
) -> StreamingQuery:
    create_table(url)
    stream = (
        metrics_frame(spark, bootstrap, topic)
        .writeStream.queryName("handwritten_app_metrics")
        .outputMode("update")
        .option("checkpointLocation", checkpoint)
        .foreachBatch(Upsert(url))
    )
    if once:
        stream = stream.trigger(availableNow=True)
    return stream.start()


def main(argv: list[str]) -> None:
    from streamdash.spark.session import build_session

    bootstrap, topic, url, checkpoint = argv
    spark = build_session(ui=False)
    start_handwritten(spark, bootstrap, topic, url, checkpoint, once=False).awaitTermination()


if __name__ == "__main__":
    main(sys.argv[1:])
