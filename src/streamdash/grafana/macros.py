"""Grafana's macros and template variables expanded to plain PostgreSQL, the way Grafana's
PostgreSQL data source expands them, so the generated SQL can be run (and tested) without
Grafana.

Supported: `$__timeFilter(expr)` -> `expr BETWEEN '<from>' AND '<to>'` (RFC 3339 UTC, as
Grafana writes them), `$__timeFrom()`, `$__timeTo()`, and `$name` / `${name}` template
variables. Anything else that looks like a macro raises, so a query using one we do not
expand cannot pass a test by accident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from streamdash.grafana.sqltext import literal
from streamdash.spec.dashboards import Scalar

_TIME_FILTER = re.compile(r"\$__timeFilter\(([^()]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; expected an aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def selection(values: Sequence[Scalar]) -> str:
    """What Grafana substitutes for a multi-value variable with these values selected:
    each value quoted, comma-separated."""
    if not values:
        raise ValueError("a selection needs at least one value")
    return ",".join(literal(str(value)) for value in values)


def expand(sql: str, start: datetime, end: datetime, variables: Mapping[str, str]) -> str:
    """`sql` with macros expanded for the time range [start, end] and each template
    variable replaced by its text in `variables` (see `selection`, `Filter.all_value`)."""
    since, until = f"'{_rfc3339(start)}'", f"'{_rfc3339(end)}'"
    out = _TIME_FILTER.sub(lambda m: f"{m.group(1).strip()} BETWEEN {since} AND {until}", sql)
    out = out.replace("$__timeFrom()", since).replace("$__timeTo()", until)

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.startswith("__"):
            raise ValueError(f"unsupported Grafana macro ${name} in: {sql}")
        if name not in variables:
            raise ValueError(f"no value for template variable ${name} in: {sql}")
        return variables[name]

    return _VARIABLE.sub(variable, out)
