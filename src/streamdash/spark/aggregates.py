"""Each aggregate of the metric language as a Spark SQL aggregate that Structured Streaming
keeps as bounded state, computing what the embedded engine computes (engine/aggregates.py):

- `count()`, `count(x)`, `count_if(p)`: `count(1)`, `count(x)`, `count_if(p)`; exact.
- `sum(x)`: `sum(CAST(x AS BIGINT))` for an integral x, else `sum(CAST(x AS DOUBLE))`;
  exact (for doubles, up to the order of summation).
- `avg(x)`: `avg(CAST(x AS DOUBLE))`; as sum. `min(x)`, `max(x)`: the same; exact.
- `first(x)`, `last(x)`: `min`/`max` of `(event time, offset, partition, x)` over the
  events where x is not NULL; exact.
- `quantile(x, q)`: `percentile_approx(x, q, 10000)` over the finite values: a value of
  the data whose rank is within n / 10000 of rank ceil(q n) - 1. The quantiles of one
  argument share one digest, `percentile_approx(x, array(q1, q2, ...), 10000)`
  (`aggregate_columns`): the same values from half the state for a p95 and a p99. The
  digest is the costly part of a window's state: at accuracy 10000 it keeps about every
  value of the window, and Spark deserialises, merges and writes it back at every
  micro-batch that updates the window (the app_logs benchmark at 20k events/s, its 10
  open windows: 5.1-9.8 MB of state with a digest per quantile — the hand-written job —,
  2.3-4.2 MB with one shared, in the same runs).
- `count_distinct(x)`: `approx_count_distinct(x, 0.01)`, HyperLogLog++ with a relative
  standard deviation of 1 %.

The casts mirror the embedded engine's, so that integer sums stay integers and averages of
DECIMAL expressions are not rounded to DECIMAL's scale. Without the cast, Spark would return
`avg(CASE ... THEN 1.0 ...)` as DECIMAL(6, 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from streamdash.spark.translate import to_spark
from streamdash.spec.metrics import Aggregate

QUANTILE_ACCURACY = 10_000
"""percentile_approx's accuracy: the rank error is at most n / accuracy."""
COLUMN_PREFIX = "_sd_agg"
"""The aggregation's columns are `_sd_agg0`, `_sd_agg1`, ..."""
DISTINCT_RSD = 0.01
"""approx_count_distinct's relative standard deviation (HyperLogLog++ with 2^14 registers)."""


@dataclass(frozen=True)
class SparkAggregate:
    sql: str
    """The aggregate expression (over one event per row)."""
    value: str
    """How to read the metric from the aggregate's column `{}` (first/last keep a struct)."""
    quantile: tuple[str, float] | None = None
    """For `quantile`: (its argument, q); the quantiles of one argument share a digest."""


@dataclass(frozen=True)
class AggregateColumns:
    """The aggregate columns a view's aggregation computes, and each metric read from them."""

    columns: list[str] = field(default_factory=list)
    """Aggregate expressions; column i is named `{COLUMN_PREFIX}{i}`."""
    values: dict[str, str] = field(default_factory=dict)
    """metric -> its value, an expression over those columns."""


def _quantiles(arg: str, qs: list[float]) -> str:
    if len(qs) == 1:
        return f"percentile_approx({arg}, {qs[0]!r}, {QUANTILE_ACCURACY})"
    percentages = ", ".join(f"CAST({q!r} AS DOUBLE)" for q in qs)
    return f"percentile_approx({arg}, array({percentages}), {QUANTILE_ACCURACY})"


def aggregate_columns(aggregates: Mapping[str, SparkAggregate]) -> AggregateColumns:
    """One column per distinct aggregate, one digest per quantile argument."""
    quantiles: dict[str, list[float]] = {}
    for agg in aggregates.values():
        if agg.quantile is not None:
            arg, q = agg.quantile
            qs = quantiles.setdefault(arg, [])
            if q not in qs:
                qs.append(q)
    out = AggregateColumns()

    def column(sql: str) -> str:
        if sql not in out.columns:
            out.columns.append(sql)
        return f"{COLUMN_PREFIX}{out.columns.index(sql)}"

    for metric, agg in aggregates.items():
        if agg.quantile is None:
            out.values[metric] = agg.value.format(column(agg.sql))
            continue
        arg, q = agg.quantile
        qs = quantiles[arg]
        shared = column(_quantiles(arg, qs))
        out.values[metric] = shared if len(qs) == 1 else f"{shared}[{qs.index(q)}]"
    return out


def _finite(arg: str) -> str:
    value = f"CAST({arg} AS DOUBLE)"
    return (
        f"CASE WHEN isnan({value}) OR abs({value}) = CAST('Infinity' AS DOUBLE) "
        f"THEN NULL ELSE {value} END"
    )


def spark_aggregate(agg: Aggregate, integral_sum: bool = False) -> SparkAggregate:
    """The Spark aggregate of one metric; `integral_sum`: the argument of a `sum` is an
    integer (the embedded engine types the result BIGINT then)."""
    arg = to_spark(agg.arg) if agg.arg is not None else None
    plain = "{}"
    if agg.func == "count":
        return SparkAggregate("count(1)" if arg is None else f"count({arg})", plain)
    assert arg is not None
    if agg.func == "count_if":
        return SparkAggregate(f"count_if({arg})", plain)
    if agg.func == "sum":
        kind = "BIGINT" if integral_sum else "DOUBLE"
        return SparkAggregate(f"sum(CAST({arg} AS {kind}))", plain)
    if agg.func == "avg":
        return SparkAggregate(f"avg(CAST({arg} AS DOUBLE))", plain)
    if agg.func in ("min", "max"):
        return SparkAggregate(f"{agg.func}({arg})", plain)
    if agg.func in ("first", "last"):
        # arg-min/arg-max on (event time, offset): independent of how Spark cuts batches
        pick = "min" if agg.func == "first" else "max"
        ordered = f"named_struct('t', _t, 'o', _offset, 'p', _partition, 'v', {arg})"
        return SparkAggregate(f"{pick}({ordered}) FILTER (WHERE ({arg}) IS NOT NULL)", "{}.v")
    if agg.func == "quantile":
        assert agg.q is not None
        finite = _finite(arg)
        return SparkAggregate(_quantiles(finite, [agg.q]), plain, (finite, agg.q))
    assert agg.func == "count_distinct"
    return SparkAggregate(f"approx_count_distinct({arg}, {DISTINCT_RSD!r})", plain)
