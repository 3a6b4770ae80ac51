"""Property tests of the documented sketch error bounds, through the engine's SQL."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamdash.engine import Processor
from streamdash.engine.sketches import ALPHA, HLL_STD_ERROR
from streamdash.log.base import Chunk
from streamdash.spec.models import Pipeline

from .reference import lower_quantile

QS = (0.01, 0.25, 0.5, 0.9, 0.95, 0.99)


def _processor() -> Processor:
    return Processor(
        Pipeline.model_validate(
            {
                "streams": {
                    "s": {
                        "time": {"field": "t", "unit": "ms"},
                        "schema": {"t": "int64", "v": "float64?", "k": "int64?"},
                    }
                },
                "views": {
                    "v": {
                        "from": "s",
                        "metrics": {
                            **{f"q{i}": f"quantile(v, {q})" for i, q in enumerate(QS)},
                            "d": "count_distinct(k)",
                            "n": "count(v)",
                        },
                    }
                },
            }
        )
    )


def _feed(processor: Processor, rows: list[dict[str, object]]) -> dict[str, object]:
    chunks = [Chunk("s", i, 1, 0, json.dumps(r).encode() + b"\n") for i, r in enumerate(rows)]
    result: dict[str, object] = {}
    size = max(97, len(chunks) // 4)  # several batches: sketches must merge exactly
    for i in range(0, len(chunks), size):
        for update in processor.process("s", chunks[i : i + size], now_us=0).updates:
            result = update.rows.to_pylist()[0]
    return result


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(finite | st.just(0.0) | st.floats(1e-9, 1e-3), min_size=1, max_size=400))
def test_quantiles_are_within_one_percent_of_the_lower_quantile(values: list[float]) -> None:
    row = _feed(_processor(), [{"t": i, "v": v} for i, v in enumerate(values)])
    assert row["n"] == len(values)
    for i, q in enumerate(QS):
        exact = lower_quantile(values, q)
        got = row[f"q{i}"]
        assert isinstance(got, float)
        assert abs(got - exact) <= ALPHA * abs(exact) * (1 + 1e-9), (q, exact, got)


@settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.integers(0, 20_000), st.integers(1, 3), st.integers(0, 2**40))
def test_distinct_count_is_within_the_hll_error(n: int, repeats: int, base: int) -> None:
    rows = [{"t": i, "k": base + i % max(n, 1)} for i in range(n * repeats)]
    rows.append({"t": 0, "k": None})
    row = _feed(_processor(), rows)
    estimate = row["d"]
    assert isinstance(estimate, int)
    # 4 standard errors: a derandomised property test runs many cases; small counts go
    # through linear counting, which is far tighter than this bound.
    assert abs(estimate - n) <= max(1.0, 4 * HLL_STD_ERROR * n), (n, estimate)


def test_small_distinct_counts_are_nearly_exact() -> None:
    for n in (0, 1, 2, 10, 50):
        rows = [{"t": i, "k": i * 7919} for i in range(n)]
        row = _feed(_processor(), rows or [{"t": 0, "v": 1.0}])
        assert row["d"] == n


def test_bucket_count_is_capped_and_high_quantiles_keep_their_bound() -> None:
    values = [math.exp(x / 10) for x in range(-2000, 2000)]  # spans e^400: > 2048 buckets
    row = _feed(_processor(), [{"t": i, "v": v} for i, v in enumerate(values)])
    for i, q in enumerate(QS):
        if q >= 0.5:
            exact = lower_quantile(values, q)
            assert abs(row[f"q{i}"] - exact) <= ALPHA * exact * (1 + 1e-9)
