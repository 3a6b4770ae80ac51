"""How each aggregate function of the metric language becomes mergeable partial state.

Every aggregate is one or more *state columns*: an SQL aggregate over events (the partial of
a batch) and an SQL aggregate over state rows (the merge), so that merging partials of any
number of batches is one GROUP BY. Quantiles and distinct counts keep their state in
separate sketch tables (see `sketches.py`); identical arguments share one sketch.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from streamdash.engine import sketches
from streamdash.engine.expressions import safe_sql
from streamdash.spec.metrics import Aggregate


@dataclass(frozen=True, slots=True)
class StateColumn:
    name: str
    partial: str
    """Aggregate SQL over the events of one batch."""
    merge: str
    """Aggregate SQL over state rows (partials) of the same group."""


@dataclass(frozen=True, slots=True)
class Sketch:
    kind: str
    """`quantile` (DDSketch buckets) or `distinct` (HyperLogLog registers)."""
    index: int
    arg: str


@dataclass(frozen=True, slots=True)
class MetricPlan:
    name: str
    state_prefix: str
    """Names of its state columns and sketch estimates start with this."""
    state: tuple[StateColumn, ...]
    value: str
    """SQL over state columns and sketch estimates giving the metric's value."""
    arrow_type: pa.DataType
    sketch: Sketch | None = None
    q: float | None = None


def _is_integral(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_boolean(t))


def plan_aggregate(
    name: str,
    agg: Aggregate,
    arg_type: pa.DataType | None,
    prefix: str,
    sketch_of: dict[tuple[str, str], Sketch],
) -> MetricPlan:
    """The state and final value of one aggregate metric; `prefix` names its columns,
    `sketch_of` is shared by the metrics of a view so equal arguments share sketches."""
    arg = safe_sql(agg.arg) if agg.arg is not None else None
    c = prefix
    func = agg.func
    if func == "count":
        partial = "count(*)" if arg is None else f"count({arg})"
        col = StateColumn(c, partial, f"CAST(sum({c}) AS BIGINT)")
        return MetricPlan(name, c, (col,), f"coalesce({c}, 0)", pa.int64())
    assert arg is not None and arg_type is not None
    if func == "count_if":
        col = StateColumn(c, f"CAST(count_if({arg}) AS BIGINT)", f"CAST(sum({c}) AS BIGINT)")
        return MetricPlan(name, c, (col,), f"coalesce({c}, 0)", pa.int64())
    if func == "sum":
        if _is_integral(arg_type):
            partial = f"CAST(sum(CAST({arg} AS BIGINT)) AS BIGINT)"
            col = StateColumn(c, partial, f"CAST(sum({c}) AS BIGINT)")
            return MetricPlan(name, c, (col,), c, pa.int64())
        col = StateColumn(c, f"sum(CAST({arg} AS DOUBLE))", f"sum({c})")
        return MetricPlan(name, c, (col,), f"CAST({c} AS DOUBLE)", pa.float64())
    if func == "avg":
        total = StateColumn(f"{c}_s", f"sum(CAST({arg} AS DOUBLE))", f"sum({c}_s)")
        count = StateColumn(f"{c}_n", f"count({arg})", f"CAST(sum({c}_n) AS BIGINT)")
        value = f"CAST({c}_s / nullif({c}_n, 0) AS DOUBLE)"
        return MetricPlan(name, c, (total, count), value, pa.float64())
    if func in ("min", "max"):
        col = StateColumn(c, f"{func}({arg})", f"{func}({c})")
        return MetricPlan(name, c, (col,), c, arg_type)
    if func in ("first", "last"):
        # arg-min/arg-max on (event time, log offset): a total order that does not depend
        # on batching, unlike "first seen"; NULL values are skipped.
        pick = "min" if func == "first" else "max"
        partial = (
            f"{pick}({{'t': _t, 'o': _offset, 'v': {arg}}}) FILTER (WHERE ({arg}) IS NOT NULL)"
        )
        col = StateColumn(c, partial, f"{pick}({c})")
        return MetricPlan(name, c, (col,), f"{c}.v", arg_type)
    kind = "quantile" if func == "quantile" else "distinct"
    key = (kind, arg)
    if key not in sketch_of:
        sketch_of[key] = Sketch(kind, len(sketch_of), arg)
    sketch = sketch_of[key]
    if kind == "quantile":
        value = f"CAST({sketches.bucket_value_sql(c)} AS DOUBLE)"
        return MetricPlan(name, c, (), value, pa.float64(), sketch, agg.q)
    value = sketches.hll_estimate_sql(f"coalesce({c}_z, 0)", f"coalesce({c}_nz, 0)")
    return MetricPlan(name, c, (), value, pa.int64(), sketch)
