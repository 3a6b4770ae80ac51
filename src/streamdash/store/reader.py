"""`ResultReader`: the queries behind the JSON API and the dashboard. Every value comes back
JSON-ready (timestamps as ISO-8601 UTC strings ending in `Z`, NaN/inf as None)."""

from __future__ import annotations

import contextlib
import math
import queue
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from streamdash.errors import StoreUnavailable
from streamdash.results import ViewSchema
from streamdash.store.connection import CONNECT_TIMEOUT_S, describe, first_line

MAX_LIMIT = 10_000
_IDLE_CONNECTIONS = 4

Row = dict[str, Any]


class InvalidQueryError(ValueError):
    """A query parameter is wrong (unknown key column, value of the wrong type, bad limit)."""


def json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, memoryview | bytes):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def _json_rows(rows: list[Row]) -> list[Row]:
    return [{k: json_value(v) for k, v in row.items()} for row in rows]


def _utc(moment: datetime | None) -> datetime | None:
    """Naive times are taken as UTC (the session time zone must not matter)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _limit(limit: int) -> int:
    if limit < 1:
        raise InvalidQueryError(f"limit must be at least 1, got {limit}")
    return min(limit, MAX_LIMIT)


def _key_value(schema: ViewSchema, column: str, text: str) -> object:
    """A key filter's text converted to the column's type (so a typo is a clear 4xx error,
    not a database error)."""
    types = dict(schema.keys)
    if column not in types:
        raise InvalidQueryError(
            f"view {schema.view!r} has no key column {column!r}; expected one of {sorted(types)}"
        )
    kind = types[column]
    try:
        if str(kind).startswith("int"):
            return int(text)
        if str(kind) in ("double", "float"):
            return float(text)
        if str(kind) == "bool":
            return {"true": True, "false": False}[text.lower()]
    except (ValueError, KeyError):
        raise InvalidQueryError(
            f"key {column!r} of view {schema.view!r} expects a {kind} value, got {text!r}"
        ) from None
    if str(kind).startswith("timestamp"):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise InvalidQueryError(
                f"key {column!r} expects an ISO-8601 time, got {text!r}"
            ) from None
    return text


class ResultReader:
    """Read-only queries for the API. Thread-safe: each call borrows a connection from a
    small idle pool (connections are cheap to reopen after a database restart)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: queue.LifoQueue[psycopg.Connection[Row]] = queue.LifoQueue(_IDLE_CONNECTIONS)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Row]]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            try:
                conn = psycopg.connect(
                    self.url,
                    autocommit=True,
                    row_factory=dict_row,
                    connect_timeout=CONNECT_TIMEOUT_S,
                )
            except psycopg.OperationalError as err:
                raise StoreUnavailable(
                    f"cannot connect to {describe(self.url)}: {first_line(err)}"
                ) from err
        try:
            yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as err:
            conn.close()
            raise StoreUnavailable(f"{describe(self.url)} failed: {first_line(err)}") from err
        except BaseException:
            conn.close()
            raise
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def _fetch(self, query: sql.SQL | sql.Composed, params: list[object]) -> list[Row]:
        with self._connection() as conn:
            try:
                return _json_rows(conn.execute(query, params).fetchall())
            except psycopg.errors.UndefinedTable:
                return []  # the engine has not created the table yet: nothing to show

    def query_view(
        self,
        schema: ViewSchema,
        since: datetime | None = None,
        until: datetime | None = None,
        key: dict[str, str] | None = None,
        limit: int = 1000,
    ) -> list[Row]:
        """Rows of a view's table, newest first. `since`/`until` bound `window_start`
        (`since <= window_start < until`) for windowed views and `updated_at` for running
        ones; `key` filters on key columns by equality."""
        time_column = "window_start" if schema.windowed else "updated_at"
        where: list[sql.Composable] = []
        params: list[object] = []
        since, until = (_utc(t) for t in (since, until))
        if since is not None:
            where.append(sql.SQL("{} >= %s").format(sql.Identifier(time_column)))
            params.append(since)
        if until is not None:
            where.append(sql.SQL("{} < %s").format(sql.Identifier(time_column)))
            params.append(until)
        for column, text in sorted((key or {}).items()):
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(_key_value(schema, column, text))
        order: list[sql.Composable] = [sql.SQL("{} DESC").format(sql.Identifier(time_column))]
        order += [sql.Identifier(name) for name, _ in schema.keys]
        query = sql.SQL("SELECT * FROM {} {} ORDER BY {} LIMIT %s").format(
            sql.Identifier(schema.table),
            sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
            sql.SQL(", ").join(order),
        )
        params.append(_limit(limit))
        return self._fetch(query, params)

    def dead_letters(
        self, stream: str | None = None, reason: str | None = None, limit: int = 100
    ) -> list[Row]:
        """Dead letters, newest first; `raw` is the payload decoded as UTF-8 (with U+FFFD
        for bytes that are not)."""
        where: list[sql.Composable] = []
        params: list[object] = []
        for column, value in (("stream", stream), ("reason", reason)):
            if value is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        query = sql.SQL(
            "SELECT id, stream, view, reason, detail, raw_text AS raw, event_time, received_at, "
            "log_offset, log_partition, replayed_at FROM dead_letters {} ORDER BY id DESC LIMIT %s"
        ).format(sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""))
        params.append(_limit(limit))
        return self._fetch(query, params)

    def counters(self) -> dict[str, dict[str, int]]:
        """scope (stream or view) -> counter name -> value."""
        result: dict[str, dict[str, int]] = {}
        rows = self._fetch(sql.SQL("SELECT scope, name, value FROM streamdash_counters"), [])
        for row in rows:
            result.setdefault(row["scope"], {})[row["name"]] = row["value"]
        return result

    def offsets(self) -> dict[str, dict[str, Row]]:
        """consumer -> stream -> {next_offset, watermark_us, watermark, updated_at}."""
        rows = self._fetch(
            sql.SQL(
                "SELECT consumer, stream, next_offset, watermark_us, "
                "to_timestamp(watermark_us / 1e6) AS watermark, updated_at "
                "FROM streamdash_offsets ORDER BY consumer, stream"
            ),
            [],
        )
        result: dict[str, dict[str, Row]] = {}
        for row in rows:
            consumer, stream = row.pop("consumer"), row.pop("stream")
            result.setdefault(consumer, {})[stream] = row
        return result

    def mark_replayed(self, ids: list[int]) -> int:
        """Set `replayed_at` on dead letters not yet replayed; returns how many changed."""
        if not ids:
            return 0
        with self._connection() as conn:
            cur = conn.execute(
                "UPDATE dead_letters SET replayed_at = now() "
                "WHERE id = ANY(%s) AND replayed_at IS NULL",
                (ids,),
            )
            return cur.rowcount
