"""Reading a rule's view: ONE query per rule per tick, over the newest final windows only.

For tumbling and hopping views the query reads exactly the newest `for` window slots that
are final (`window_start > newest final start - for * step`), so its cost does not grow
with the table. Session views read each key's newest sessions of the last day; running
views read their current rows. Non-final windows are never read: an alert opens on results
that can no longer change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from streamdash.alerts.rules import CompiledRule

SESSION_HORIZON_S = 86_400.0
"""How far back from the newest final session a session view's rows are read."""

Key = str
"""An alert key as canonical JSON (`{"application_id": "app-1"}`), comparable as text."""


def key_text(key: dict[str, Any]) -> Key:
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Observation:
    """The rule's condition on one (window, key) — or one key of a running view."""

    key: dict[str, Any]
    window_start: datetime | None
    hit: bool
    value: Any
    row: dict[str, Any]
    """The row's columns as JSON values (window times as ISO-8601 strings)."""

    @property
    def key_id(self) -> Key:
        return key_text(self.key)


def _columns(names: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def _escape(text: str) -> str:
    return text.replace("%", "%%")


def build_query(rule: CompiledRule) -> tuple[sql.Composed, list[object]]:
    table = sql.Identifier(rule.table)
    # Spec SQL goes in verbatim (validated to read only the view's columns); `%` is
    # doubled because the query has parameters.
    condition = sql.SQL(f"coalesce(({_escape(rule.condition_sql)}), false)")
    value = sql.SQL(f"to_jsonb(({_escape(rule.value_sql)}))")
    where: list[sql.Composable] = []
    params: list[object] = []
    if rule.windowed:
        where.append(sql.SQL("final"))
        horizon = (
            rule.windows * rule.step_us / 1e6 if rule.step_us is not None else SESSION_HORIZON_S
        )
        where.append(
            sql.SQL(
                "window_start > (SELECT max(window_start) FROM {} WHERE final) "
                "- make_interval(secs => %s)"
            ).format(table)
        )
        params.append(horizon)
    group: tuple[str, ...] = ()
    if rule.grouped:
        group = (("window_start", "window_end") if rule.windowed else ()) + rule.keys
        pairs = [sql.SQL("{}, {}").format(sql.Literal(c), sql.Identifier(c)) for c in group]
        row: sql.Composable = sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs))
    else:
        row = sql.SQL("to_jsonb(t)")
    start = sql.SQL("window_start") if rule.windowed else sql.SQL("NULL::timestamptz")
    query = sql.SQL("SELECT {start}, {row}, {condition}, {value} FROM {table} AS t").format(
        start=start, row=row, condition=condition, value=value, table=table
    )
    if where:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
    if group:
        query += sql.SQL(" GROUP BY ") + _columns(group)
    if rule.windowed:
        query += sql.SQL(" ORDER BY window_start DESC")
    return query, params


def observe(conn: psycopg.Connection[Any], rule: CompiledRule) -> list[Observation]:
    """The rule's observations, newest window first. Raises psycopg errors as they come
    (a missing table means the engine has not created it yet)."""
    query, params = build_query(rule)
    out = []
    for start, row, hit, value in conn.execute(query, params).fetchall():
        key = {name: row.get(name) for name in rule.keys}
        out.append(Observation(key, start, bool(hit), value, row))
    return out
