"""`filter` panels become dashboard template variables.

A filter picks values of a key column for every panel whose view has that column. In
Grafana that is a multi-value query variable (its options: the distinct key values of
the filter's view in the time range) and a `"column" IN ($var)` condition in those
panels' SQL; Grafana quotes and joins the chosen values.

"All" is a custom all-value, the column itself (`"column" IN ("column")`, true for every
row with a key): without it Grafana would expand All to the list of options, which is
`IN ()` (a syntax error) while the table is still empty, and a long literal list later.
Grafana inserts a custom all-value unquoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from streamdash.grafana.sqltext import ViewTable, ident, where_clause
from streamdash.spec.dashboards import DashboardPanel


@dataclass(frozen=True)
class Filter:
    column: str
    name: str
    """The template variable's name (`$name` in SQL)."""
    label: str
    view: ViewTable

    @property
    def all_value(self) -> str:
        return ident(self.column)

    def condition(self) -> str:
        return f"{ident(self.column)} IN (${self.name})"

    def options_sql(self) -> str:
        conds = [f"{ident(self.column)} IS NOT NULL"]
        if self.view.windowed:
            conds.insert(0, f"$__timeFilter({ident('window_start')})")
        return (
            f"SELECT DISTINCT {ident(self.column)}::text AS __text FROM "
            f"{ident(self.view.table)}{where_clause(conds)} ORDER BY 1"
        )


def variable_name(column: str) -> str:
    """Grafana variable names are word characters only."""
    return re.sub(r"\W", "_", column) or "key"


def filters_of(panels: list[DashboardPanel], views: dict[str, ViewTable]) -> list[Filter]:
    """The filters of one stream's page, one per key column (a second filter on the same
    column would set the same condition)."""
    out: dict[str, Filter] = {}
    for panel in panels:
        if panel.panel == "filter" and panel.by is not None and panel.by not in out:
            name = variable_name(panel.by)
            label = panel.title or panel.by
            out[panel.by] = Filter(panel.by, name, label, views[panel.view])
    return list(out.values())


def conditions_for(view: ViewTable, filters: list[Filter]) -> list[str]:
    return [f.condition() for f in filters if f.column in view.columns]


def template_variable(flt: Filter, datasource: dict[str, Any]) -> dict[str, Any]:
    query = flt.options_sql()
    return {
        "name": flt.name,
        "label": flt.label,
        "type": "query",
        "datasource": datasource,
        "query": query,
        "definition": query,
        "refresh": 2,  # reload the options when the time range changes
        "multi": True,
        "includeAll": True,
        "allValue": flt.all_value,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "sort": 1,
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }
