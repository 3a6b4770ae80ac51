"""Reading the `alerts` table for the API, the dashboard and /metrics."""

from __future__ import annotations

import threading
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from streamdash.errors import StoreUnavailable
from streamdash.store.connection import CONNECT_TIMEOUT_S, describe, first_line
from streamdash.store.reader import json_value

State = Literal["open", "resolved"]
MAX_LIMIT = 1000

_SELECT = (
    "SELECT id, rule, key, severity, state, opened_at, resolved_at, "
    "last_value->'value' AS value, last_value, message, notified_at FROM alerts"
)


class AlertReader:
    """Thread-safe: one connection, used under a lock and reopened after a failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _fetch(self, query: str, params: tuple[object, ...]) -> list[dict[str, Any]]:
        with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._conn = psycopg.connect(
                        self.url, autocommit=True, row_factory=dict_row,
                        connect_timeout=CONNECT_TIMEOUT_S,
                    )  # fmt: skip
                return self._conn.execute(query, params).fetchall()
            except psycopg.errors.UndefinedTable:
                return []  # no evaluator has run yet: no alerts
            except (psycopg.OperationalError, psycopg.InterfaceError) as err:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                raise StoreUnavailable(f"{describe(self.url)}: {first_line(err)}") from err

    def alerts(self, state: State | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Alerts, newest first, JSON-ready (times as ISO-8601 UTC strings)."""
        limit = max(1, min(limit, MAX_LIMIT))
        if state is None:
            rows = self._fetch(f"{_SELECT} ORDER BY id DESC LIMIT %s", (limit,))
        else:
            rows = self._fetch(
                f"{_SELECT} WHERE state = %s ORDER BY id DESC LIMIT %s", (state, limit)
            )
        return [{k: json_value(v) for k, v in row.items()} for row in rows]

    def open_counts(self) -> dict[tuple[str, str], int]:
        """(rule, severity) -> number of open alerts."""
        rows = self._fetch(
            "SELECT rule, severity, count(*) AS n FROM alerts WHERE state = 'open' "
            "GROUP BY rule, severity",
            (),
        )
        return {(row["rule"], row["severity"]): int(row["n"]) for row in rows}
