"""Spec SQL (written in DuckDB's dialect, see `spec/metrics.py`) as Spark SQL.

sqlglot does the dialect work (`x::INT`, `//`, `regexp_matches`, `strftime`, ...). On top of
it, the same rewrites the embedded engine applies (`engine/expressions.py`) plus two that
keep the numbers equal between the engines:

- every division is guarded, `a / b` -> `a / NULLIF(b, 0)`: the spec promises NULL for an
  undefined ratio (Spark with ANSI mode on would fail the whole batch instead);
- decimal literals become DOUBLE: DuckDB computes `x / 11.0` or `avg(CASE ... 1.0 ...)` in
  floating point, while Spark keeps DECIMAL(p, s) and rounds the result to a few places.

Identifiers are back-quoted, so fields such as `time` or `timestamp` never collide with
Spark's keywords. A function sqlglot does not know is passed through by name: `check.py`
decides whether Spark has it.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from streamdash.spec.metrics import parse_expression

DIALECT = "spark"


class Untranslatable(ValueError):
    """A spec expression has no Spark SQL equivalent; the message says which part."""


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Div | exp.IntDiv | exp.Mod):
        divisor = exp.Nullif(this=node.expression.copy(), expression=exp.Literal.number(0))
        node.set("expression", divisor)
    elif isinstance(node, exp.Literal) and node.is_number and not node.is_int:
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    return node


SPARK_TYPES = frozenset(
    {"BOOLEAN", "BIT", "TINYINT", "UTINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE"}
    | {"DECIMAL", "TEXT", "VARCHAR", "CHAR", "VARBINARY", "BINARY", "UUID", "JSON"}
    | {"DATE", "TIME", "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMPNTZ", "TIMESTAMPLTZ", "INTERVAL"}
    | {"ARRAY", "MAP", "STRUCT"}
)
"""sqlglot's names of the types that have a Spark SQL equivalent sqlglot writes correctly
(unsigned and 128-bit integers, or nanosecond timestamps, have none)."""
_NOT_IN_SPARK: dict[type[exp.Expression], str] = {exp.SimilarTo: "SIMILAR TO", exp.Glob: "GLOB"}


def _spark_gaps(tree: exp.Expression) -> list[str]:
    gaps = [
        f"type {node.this.name} has no Spark SQL equivalent"
        for node in tree.find_all(exp.DataType)
        if node.this.name not in SPARK_TYPES
    ]
    for kind, name in _NOT_IN_SPARK.items():
        if any(True for _ in tree.find_all(kind)):
            gaps.append(f"Spark SQL has no {name}")
    return gaps


def to_spark(sql: str) -> str:
    """The Spark SQL of one spec expression; raises Untranslatable (or MetricError when the
    text does not even parse)."""
    tree = parse_expression(sql).transform(_rewrite)
    gaps = _spark_gaps(tree)
    if gaps:
        raise Untranslatable(f"{sql!r} cannot run on Spark: {'; '.join(gaps)}")
    try:
        return tree.sql(DIALECT, identify=True, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as err:
        raise Untranslatable(f"{sql!r} has no Spark SQL equivalent: {err}") from None


def function_names(sql: str) -> set[str]:
    """Lower-case names of the functions sqlglot does not know in an expression: they reach
    Spark as written, so Spark must have a function of that name."""
    tree = parse_expression(sql)
    return {str(node.name).lower() for node in tree.find_all(exp.Anonymous)}


def quote(name: str) -> str:
    """A Spark SQL identifier (back-quoted)."""
    return "`" + name.replace("`", "``") + "`"
