"""The metric language of views.

A metric is either an *aggregate* over the events of a window/key — one of a fixed set of
mergeable functions whose arguments are SQL expressions over event fields — or a *post
expression*: SQL over other metrics of the same view (e.g. `purchases / nullif(clicks, 0)`).
The set is fixed so that every metric has bounded, mergeable partial state and the same
spec can be compiled for DuckDB and for Spark SQL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

AggFunc = Literal[
    "count", "count_if", "sum", "avg", "min", "max", "quantile", "count_distinct", "first", "last"
]
ARITY: dict[str, tuple[int, int]] = {
    "count": (0, 1),
    "count_if": (1, 1),
    "sum": (1, 1),
    "avg": (1, 1),
    "min": (1, 1),
    "max": (1, 1),
    "quantile": (2, 2),
    "count_distinct": (1, 1),
    "first": (1, 1),
    "last": (1, 1),
}
DIALECT = "duckdb"


class MetricError(ValueError):
    """A metric or SQL expression cannot be parsed; the message says what was expected."""


@dataclass(frozen=True)
class Aggregate:
    func: AggFunc
    arg: str | None
    """The argument as DuckDB SQL (None for `count()`)."""
    q: float | None = None
    """The quantile for `quantile(x, q)`."""
    columns: frozenset[str] = frozenset()
    """Event fields the argument reads."""


@dataclass(frozen=True)
class PostExpr:
    sql: str
    refs: frozenset[str]
    """Other metrics (or group keys) the expression reads."""


Metric = Aggregate | PostExpr


def parse_expression(sql: str) -> exp.Expression:
    """Parse one SQL expression; raise MetricError with the parser's reason.

    Returns a tree of its own (callers may change it): a copy of the one parsed the first
    time. Validating a spec and compiling it parse the same few hundred expressions several
    times in every process; parsing costs ~10x a copy."""
    return _parse_expression(sql).copy()


@functools.lru_cache(maxsize=4096)
def _parse_expression(sql: str) -> exp.Expression:
    if not sql.strip():
        raise MetricError("empty expression")
    try:
        tree = sqlglot.parse_one(sql, dialect=DIALECT)
    except ParseError as err:
        first = err.errors[0]["description"] if err.errors else str(err)
        raise MetricError(f"cannot parse SQL expression {sql!r}: {first}") from None
    if isinstance(tree, exp.Query | exp.Command | exp.DDL | exp.DML):
        raise MetricError(f"expected an expression, got a statement: {sql!r}")
    if any(isinstance(node, exp.Query) for node in tree.walk()):
        raise MetricError(f"sub-queries are not allowed in expressions: {sql!r}")
    return cast(exp.Expression, tree)


def columns_of(tree: exp.Expression) -> frozenset[str]:
    """Top-level event fields an expression reads. A spec expression reads one stream, so a
    qualified name is a path into a struct field: `name.first` reads field `name`."""
    return frozenset(col.parts[0].name for col in tree.find_all(exp.Column))


def _function_name(tree: exp.Expression) -> str | None:
    if isinstance(tree, exp.Anonymous):
        return str(tree.name).lower()
    if isinstance(tree, exp.Func):
        return tree.sql_name().lower()
    return None


def _arguments(tree: exp.Expression) -> list[exp.Expression]:
    if isinstance(tree, exp.Anonymous):
        return list(tree.expressions)
    args = [tree.this] if isinstance(tree.this, exp.Expression) else []
    args += [e for e in tree.args.get("expressions") or [] if isinstance(e, exp.Expression)]
    for key in ("quantile", "expression"):
        extra = tree.args.get(key)
        if isinstance(extra, exp.Expression):
            args.append(extra)
    return args


_ALIASES = {
    "countif": "count_if",
    "mean": "avg",
    "approx_count_distinct": "count_distinct",
    "quantile_cont": "quantile",
    "approx_quantile": "quantile",
    "percentile": "quantile",
    "arg_min": "first",
    "arg_max": "last",
}


def parse_metric(text: str) -> Metric:
    """Parse a metric definition; raise MetricError saying what was wrong and expected."""
    tree = parse_expression(text)
    if isinstance(tree, exp.Count) and isinstance(tree.this, exp.Distinct):
        inner = tree.this.expressions
        if len(inner) != 1:
            raise MetricError("count(distinct ...) takes exactly one expression")
        return Aggregate("count_distinct", inner[0].sql(DIALECT), None, columns_of(inner[0]))
    name = _function_name(tree)
    name = _ALIASES.get(name or "", name)
    if name in ARITY:
        args = _arguments(tree)
        if isinstance(tree, exp.Count) and isinstance(tree.this, exp.Star):
            args = []
        low, high = ARITY[name]
        if not low <= len(args) <= high:
            raise MetricError(f"{name}() takes {low}..{high} argument(s), got {len(args)}")
        for argument in args:
            _reject_nested_aggregates(argument, text)
        if name == "count":
            sql = args[0].sql(DIALECT) if args else None
            cols = columns_of(args[0]) if args else frozenset()
            return Aggregate("count", sql, None, cols)
        if name == "quantile":
            q = _quantile_level(args[1])
            return Aggregate("quantile", args[0].sql(DIALECT), q, columns_of(args[0]))
        return Aggregate(name, args[0].sql(DIALECT), None, columns_of(args[0]))  # type: ignore[arg-type]
    if isinstance(tree, exp.AggFunc) or any(isinstance(n, exp.AggFunc) for n in tree.walk()):
        raise MetricError(
            f"unsupported aggregate in {text!r}: use one of {', '.join(sorted(ARITY))}, "
            "or an expression over other metrics of the view"
        )
    return PostExpr(tree.sql(DIALECT), columns_of(tree))


def _reject_nested_aggregates(arg: exp.Expression, text: str) -> None:
    for node in cast(list[exp.Expression], list(arg.walk())):
        inner = _ALIASES.get(_function_name(node) or "", _function_name(node))
        if isinstance(node, exp.AggFunc) or inner in ARITY:
            raise MetricError(f"aggregates cannot be nested: {text!r}")


def _quantile_level(node: exp.Expression) -> float:
    try:
        q = float(node.sql(DIALECT))
    except ValueError:
        raise MetricError(f"quantile level must be a number in (0, 1), got {node.sql()}") from None
    if not 0.0 < q < 1.0:
        raise MetricError(f"quantile level must be in (0, 1), got {q}")
    return q
