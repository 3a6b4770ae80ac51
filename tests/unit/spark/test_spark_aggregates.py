"""How a view's aggregates become the aggregation's columns: the quantiles of one argument
share a digest, identical aggregates are computed once, and every metric still reads its
own value."""

from __future__ import annotations

from streamdash.spark.aggregates import aggregate_columns, spark_aggregate
from streamdash.spec.metrics import Aggregate, parse_metric


def _columns(metrics: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    parsed = {name: parse_metric(text) for name, text in metrics.items()}
    aggregates = {n: spark_aggregate(p) for n, p in parsed.items() if isinstance(p, Aggregate)}
    shared = aggregate_columns(aggregates)
    return shared.columns, shared.values


def test_quantiles_of_one_argument_share_one_digest() -> None:
    columns, values = _columns(
        {
            "n": "count()",
            "p95": "quantile(latency_ms, 0.95)",
            "p50_size": "quantile(bytes, 0.5)",
            "p99": "quantile(latency_ms, 0.99)",
            "median": "quantile(latency_ms, 0.5)",
        }
    )
    digests = [c for c in columns if c.startswith("percentile_approx")]
    assert len(columns) == 3 and len(digests) == 2
    latency = next(i for i, c in enumerate(columns) if "latency_ms" in c)
    assert (
        "array(CAST(0.95 AS DOUBLE), CAST(0.99 AS DOUBLE), CAST(0.5 AS DOUBLE))"
        in (columns[latency])
    )
    assert values["p95"] == f"_sd_agg{latency}[0]"
    assert values["p99"] == f"_sd_agg{latency}[1]"
    assert values["median"] == f"_sd_agg{latency}[2]"
    size = next(i for i, c in enumerate(columns) if "bytes" in c)
    assert "array" not in columns[size]  # a single quantile keeps the plain form
    assert values["p50_size"] == f"_sd_agg{size}"
    assert values["n"] == f"_sd_agg{columns.index('count(1)')}"


def test_identical_aggregates_are_computed_once() -> None:
    columns, values = _columns(
        {"a": "count()", "b": "count()", "same_q": "quantile(x, 0.9)", "again": "quantile(x, 0.9)"}
    )
    assert len(columns) == 2
    assert values["a"] == values["b"] and values["same_q"] == values["again"]


def test_struct_aggregates_keep_their_reader() -> None:
    columns, values = _columns({"first_kind": "first(kind)", "n": "count()"})
    assert values["first_kind"] == "_sd_agg0.v" and len(columns) == 2
