"""Mergeable sketches written in SQL, so that partial states merge with a plain GROUP BY.

Quantiles — a DDSketch with relative accuracy ALPHA = 1 %:
  a non-zero value v goes to bucket i = ceil(ln|v| / ln(gamma)), gamma = (1 + a) / (1 - a),
  kept with its sign; zero has its own bucket. A bucket is represented by
  sign * 2 gamma^i / (gamma + 1), which is within ALPHA of every value in it. The estimate
  of quantile q is the representative of the bucket holding the element of 0-based rank
  floor(q (n - 1)) — i.e. the *lower* quantile of the data, within 1 % of its value.
  Buckets are stored as one signed integer that sorts like the values it stands for.
  At most MAX_BUCKETS buckets are kept per group; beyond that the lowest ones are collapsed
  into one, which only coarsens quantiles that fall in that lowest (collapsed) range.
  NaN and infinite values are ignored.

Distinct counts — HyperLogLog with P = 12 (4096 registers): DuckDB's 64-bit `hash(value)`
  gives the register (top P bits) and the rank (leading zeros of the rest, plus one);
  registers merge by max. The estimate is the standard HLL formula with linear counting
  below 2.5 m, so small cardinalities are nearly exact; the standard error for large ones
  is 1.04 / sqrt(4096) ~ 1.6 %. The hash is DuckDB's, so sketches are portable between
  processes of the same DuckDB version (snapshots record it).
"""

from __future__ import annotations

import math

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LN_GAMMA = math.log(GAMMA)
MAX_BUCKETS = 2048
SIGN_SHIFT = 100_000
"""Added to |bucket index| before applying the sign: indexes of finite doubles lie within
±37 000, so the encoded value orders exactly like the values (negatives < 0 < positives)."""

HLL_P = 12
HLL_M = 1 << HLL_P
HLL_REST_BITS = 64 - HLL_P
HLL_ALPHA = 0.7213 / (1 + 1.079 / HLL_M)
HLL_STD_ERROR = 1.04 / math.sqrt(HLL_M)


def bucket_sql(value: str) -> str:
    """SQL for the encoded bucket of a DOUBLE expression (NULL for NULL/NaN/inf)."""
    v = f"({value})"
    index = f"CAST(ceil(ln(abs({v})) / {LN_GAMMA!r}::DOUBLE) AS INTEGER)"
    return (
        f"CASE WHEN {v} IS NULL OR isnan({v}) OR isinf({v}) THEN NULL "
        f"WHEN {v} = 0 THEN 0 "
        f"WHEN {v} > 0 THEN {index} + {SIGN_SHIFT} "
        f"ELSE -({index} + {SIGN_SHIFT}) END"
    )


def bucket_value_sql(bucket: str) -> str:
    """SQL for the representative value of an encoded bucket."""
    b = f"({bucket})"
    magnitude = f"2 * pow({GAMMA!r}::DOUBLE, abs({b}) - {SIGN_SHIFT}) / {GAMMA + 1!r}::DOUBLE"
    return f"CASE WHEN {b} = 0 THEN 0.0 ELSE sign({b}) * {magnitude} END"


def hll_register_sql(hashed: str) -> str:
    """SQL for the register of a UBIGINT hash expression."""
    return f"CAST(({hashed}) >> {HLL_REST_BITS} AS SMALLINT)"


def hll_rank_sql(hashed: str) -> str:
    """1 + leading zeros of the low bits. log2 is only trusted to +-1 (doubles round
    2^k - 1 up to 2^k), so the result is corrected with an exact shift comparison."""
    rest = f"(({hashed}) & {(1 << HLL_REST_BITS) - 1}::UBIGINT)"
    top = f"CAST(floor(log2({rest})) AS INTEGER)"
    exact_top = f"({top} - CASE WHEN (1::UBIGINT << {top}) > {rest} THEN 1 ELSE 0 END)"
    return (
        f"CAST(CASE WHEN {rest} = 0 THEN {HLL_REST_BITS + 1} "
        f"ELSE {HLL_REST_BITS} - {exact_top} END AS TINYINT)"
    )


def hll_estimate_sql(harmonic_sum: str, nonzero_registers: str) -> str:
    """SQL for the estimate from sum(2^-rank) over the non-empty registers and their count
    (empty registers contribute 2^0 = 1 each)."""
    m = HLL_M
    zeros = f"({m} - {nonzero_registers})"
    z = f"({zeros} + {harmonic_sum})"
    raw = f"({HLL_ALPHA!r}::DOUBLE * {m * m} / {z})"
    return (
        f"CAST(round(CASE "
        f"WHEN {raw} <= {2.5 * m} AND {zeros} > 0 THEN {m} * ln({m} / {zeros}) "
        f"ELSE {raw} END) AS BIGINT)"
    )


def lower_rank(q: float, n: int) -> int:
    """The 0-based rank whose element a quantile estimate stands for (for callers that
    want to compare against exact data)."""
    return math.floor(q * (n - 1))
