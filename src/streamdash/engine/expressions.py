"""User SQL as the engine runs it: the few rewrites that make spec expressions safe."""

from __future__ import annotations

from typing import cast

from sqlglot import exp

from streamdash.spec.metrics import DIALECT, columns_of, parse_expression


def safe_sql(sql: str) -> str:
    """The expression with every division guarded: `a / b` becomes `a / nullif(b, 0)`.

    DuckDB answers x / 0 with inf or NaN (and errors for integer `//`); the spec promises
    NULL, the value SQL users expect from an undefined ratio such as a conversion rate of
    a window without clicks.
    """
    tree = parse_expression(sql)

    def guard(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and len(node.parts) > 1:
            # `name.first` is a struct path (a spec has no tables to qualify columns with);
            # DuckDB would read it as table.column
            parts = [part.name for part in node.parts]
            path: exp.Expression = exp.column(parts[0], quoted=True)
            for part in parts[1:]:
                # typed as returning `Func`, which sqlglot >= 30 types apart from Expression
                call = exp.func("struct_extract", path, exp.Literal.string(part))
                path = cast(exp.Expression, call)
            return path
        if isinstance(node, exp.Div | exp.IntDiv | exp.Mod):
            divisor = exp.Nullif(this=node.expression.copy(), expression=exp.Literal.number(0))
            node.set("expression", divisor)
        return node

    return tree.transform(guard).sql(DIALECT)


def referenced_columns(sql: str) -> frozenset[str]:
    return columns_of(parse_expression(sql))
