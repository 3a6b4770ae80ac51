"""PostgreSQL text for the generated Grafana queries: quoting and the row reduction shared
by several panel types.

The queries are plain strings (Grafana stores raw SQL in the dashboard JSON), so quoting is
done here rather than with psycopg's `sql` module, which needs a connection to render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamdash.spec.dashboards import Aggregate, Scalar

UPDATED_AT = "updated_at"
FINAL = "final"


def ident(name: str) -> str:
    """A quoted identifier: always quoted, so mixed case (`dBFS`) and keywords survive."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Scalar) -> str:
    """A SQL literal for a `where:` value of the spec."""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class ViewTable:
    """What a query needs to know about a view's result table."""

    table: str
    columns: tuple[str, ...]
    windowed: bool

    @property
    def recency(self) -> str:
        """ORDER BY text putting the newest row first (what the dashboard calls `last`)."""
        newest = f"{ident(UPDATED_AT)} DESC"
        return f"{ident('window_start')} DESC, {newest}" if self.windowed else newest


def where_clause(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _aggregate(agg: Aggregate, column: str) -> str:
    if agg == "count":
        return "COUNT(*)"  # the dashboard's `count` is the number of rows, NULLs included
    return f"{agg.upper()}({ident(column)})"


def reduced(
    view: ViewTable,
    groups: Sequence[tuple[str, str]],
    values: Sequence[str],
    agg: Aggregate,
    conditions: Sequence[str],
) -> str:
    """One row per group (`(expression, alias)` pairs) with each value column reduced by
    `agg`, ordered by the groups. `last` keeps the newest row of each group (DISTINCT ON),
    the others aggregate."""
    group_list = [f"{expr} AS {ident(alias)}" for expr, alias in groups]
    exprs = ", ".join(expr for expr, _ in groups)
    where = where_clause(conditions)
    table = ident(view.table)
    if agg == "last":
        selected = ", ".join([*group_list, *(f"{ident(v)} AS {ident(v)}" for v in values)])
        if not groups:
            return f"SELECT {selected} FROM {table}{where} ORDER BY {view.recency} LIMIT 1"
        return (
            f"SELECT DISTINCT ON ({exprs}) {selected} FROM {table}{where} "
            f"ORDER BY {exprs}, {view.recency}"
        )
    selected = ", ".join([*group_list, *(f"{_aggregate(agg, v)} AS {ident(v)}" for v in values)])
    if not groups:
        return f"SELECT {selected} FROM {table}{where}"
    positions = ", ".join(str(i + 1) for i in range(len(groups)))
    return f"SELECT {selected} FROM {table}{where} GROUP BY {positions} ORDER BY {positions}"
