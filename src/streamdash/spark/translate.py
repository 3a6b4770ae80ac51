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


def to_spark(sql: str) -> str:
    """The Spark SQL of one spec expression; raises Untranslatable (or MetricError when the
    text does not even parse)."""
    tree = parse_expression(sql).transform(_rewrite)
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
