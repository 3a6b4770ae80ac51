"""The `alerts` table: the evaluator's whole state, so a restart neither reopens nor
duplicates an alert. A unique partial index allows at most one OPEN alert per (rule, key);
opening is `INSERT ... ON CONFLICT DO NOTHING`, so even two evaluators racing cannot
open the same alert twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from streamdash.alerts.decide import OpenAlert
from streamdash.alerts.message import render
from streamdash.alerts.observe import Observation
from streamdash.alerts.rules import CompiledRule

DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    id          bigserial PRIMARY KEY,
    rule        text        NOT NULL,
    key         jsonb       NOT NULL,
    severity    text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state       text        NOT NULL CHECK (state IN ('open', 'resolved')),
    opened_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    last_value  jsonb,
    message     text        NOT NULL,
    notified_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (rule, key) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (opened_at DESC);
"""
_DDL_LOCK = "streamdash_alerts_ddl"

COLUMNS = "id, rule, key, severity, state, opened_at, resolved_at, last_value, message, notified_at"


@dataclass(frozen=True)
class AlertRecord:
    """One row of `alerts`."""

    id: int
    rule: str
    key: dict[str, Any]
    severity: str
    state: str
    opened_at: datetime
    resolved_at: datetime | None
    last_value: dict[str, Any] | None
    message: str
    notified_at: datetime | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AlertRecord:
        return cls(*row)

    @property
    def value(self) -> Any:
        return None if self.last_value is None else self.last_value.get("value")

    def window_start(self) -> datetime | None:
        text = None if self.last_value is None else self.last_value.get("window_start")
        return datetime.fromisoformat(text) if isinstance(text, str) else None

    def as_open(self) -> OpenAlert:
        return OpenAlert(self.id, self.rule, self.key, self.window_start())


def create_table(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        # Serialised: two evaluators starting at once would collide creating the index.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_DDL_LOCK,))
        conn.execute(DDL)


def _last_value(obs: Observation) -> str:
    value = {**obs.row, "value": obs.value}
    return json.dumps(value, default=str)


def load_open(conn: psycopg.Connection[Any]) -> list[AlertRecord]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM alerts WHERE state = 'open'").fetchall()
    return [AlertRecord.from_row(row) for row in rows]


def open_alert(
    conn: psycopg.Connection[Any], rule: CompiledRule, obs: Observation
) -> AlertRecord | None:
    """Insert an open alert; None when one is open already (another evaluator's)."""
    row = conn.execute(
        f"INSERT INTO alerts (rule, key, severity, state, last_value, message) "
        f"VALUES (%s, %s::jsonb, %s, 'open', %s::jsonb, %s) "
        f"ON CONFLICT (rule, key) WHERE state = 'open' DO NOTHING RETURNING {COLUMNS}",
        (rule.name, json.dumps(obs.key, default=str), rule.severity, _last_value(obs),
         render(rule, obs)),
    ).fetchone()  # fmt: skip
    return None if row is None else AlertRecord.from_row(row)


def resolve_alert(
    conn: psycopg.Connection[Any], rule: CompiledRule, alert: OpenAlert, obs: Observation
) -> AlertRecord | None:
    """Resolve an open alert; `notified_at` is cleared: the resolution is not sent yet."""
    row = conn.execute(
        f"UPDATE alerts SET state = 'resolved', resolved_at = now(), "
        f"last_value = %s::jsonb, notified_at = NULL "
        f"WHERE id = %s AND state = 'open' RETURNING {COLUMNS}",
        (_last_value(obs), alert.id),
    ).fetchone()
    return None if row is None else AlertRecord.from_row(row)


def refresh_alert(
    conn: psycopg.Connection[Any], rule: CompiledRule, alert: OpenAlert, obs: Observation
) -> None:
    """Keep an open alert's value and message current (only written when they change)."""
    value = _last_value(obs)
    conn.execute(
        "UPDATE alerts SET last_value = %s::jsonb, message = %s "
        "WHERE id = %s AND state = 'open' AND last_value IS DISTINCT FROM %s::jsonb",
        (value, render(rule, obs), alert.id, value),
    )


def mark_notified(conn: psycopg.Connection[Any], alert_id: int, state: str) -> None:
    """Record a delivered webhook, unless the alert changed state meanwhile (then the new
    state still has to be sent)."""
    conn.execute(
        "UPDATE alerts SET notified_at = now() WHERE id = %s AND state = %s", (alert_id, state)
    )


def unnotified(
    conn: psycopg.Connection[Any], rules: Sequence[str], limit: int = 100
) -> list[AlertRecord]:
    """Alerts of rules with a webhook whose current state was never delivered (the process
    stopped first): sent again at start, so a notification is delivered at least once."""
    if not rules:
        return []
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM alerts WHERE notified_at IS NULL AND rule = ANY(%s) "
        f"ORDER BY id DESC LIMIT %s",
        (list(rules), limit),
    ).fetchall()
    return [AlertRecord.from_row(row) for row in reversed(rows)]
