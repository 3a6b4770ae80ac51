"""A shared quantile digest gives Spark's own values: the view's p95 and p99 from one
`percentile_approx(x, array(...))` equal separate `percentile_approx` calls exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamdash.spark.aggregates import aggregate_columns, spark_aggregate
from streamdash.spec.metrics import Aggregate, parse_metric

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def test_shared_digest_equals_separate_percentiles(spark_session: SparkSession) -> None:
    from pyspark.sql import functions as sf

    frame = spark_session.range(50_000).select(
        (sf.col("id") % 7).alias("k"), (sf.rand(7) * 1000).alias("x")
    )
    metrics = {"p50": "quantile(x, 0.5)", "p95": "quantile(x, 0.95)", "p99": "quantile(x, 0.99)"}
    parsed = {name: parse_metric(text) for name, text in metrics.items()}
    aggregates = {n: spark_aggregate(p) for n, p in parsed.items() if isinstance(p, Aggregate)}
    shared = aggregate_columns(aggregates)
    assert len(shared.columns) == 1
    grouped = frame.groupBy("k").agg(
        *(sf.expr(sql).alias(f"_sd_agg{i}") for i, sql in enumerate(shared.columns))
    )
    got = grouped.selectExpr("k", *(f"{v} AS {m}" for m, v in shared.values.items()))
    separate = frame.groupBy("k").agg(
        *(sf.expr(agg.sql).alias(metric) for metric, agg in aggregates.items())
    )
    assert sorted(map(tuple, got.collect())) == sorted(map(tuple, separate.collect()))
    assert got.count() == 7
