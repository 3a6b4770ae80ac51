"""Shared pieces of the alert tests: a small pipeline, result rows committed through the
real `PostgresSink`, the `alerts` table as plain tuples, and a local webhook server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pyarrow as pa

from streamdash.results import CommitBatch, ViewSchema, ViewUpdate
from streamdash.spec.loader import parse_pipeline
from streamdash.spec.models import Pipeline
from streamdash.store.postgres import PostgresSink

S = 1_000_000
T0 = 1_714_564_800  # 2024-05-01T12:00:00Z, a multiple of 10 s and of 60 s

SPEC = """
streams:
  app_logs:
    time: {field: timestamp, unit: ms}
    schema: {application_id: string, timestamp: int64, status_code: int32}
  clicks:
    time: {field: ts, unit: ms}
    schema: {kind: string, ts: int64}
views:
  application_metrics:
    from: app_logs
    window: {tumbling: 10s}
    group_by: [application_id]
    metrics:
      request_count: count()
      error_rate: avg(CASE WHEN status_code >= 500 THEN 1.0 ELSE 0.0 END)
  clicks_per_minute:
    from: clicks
    window: {tumbling: 1min}
    group_by: [kind]
    metrics:
      clicks: count()
  click_totals:
    from: clicks
    group_by: [kind]
    metrics:
      clicks: count()
alerts:
  high_error_rate:
    view: application_metrics
    when: error_rate > 0.05
    for: 2 windows
    severity: warning
    message: "error rate {error_rate:.1%} on {application_id}"
    WEBHOOK
  click_volume:
    view: clicks_per_minute
    by: []
    when: sum(clicks) > 100
    severity: critical
    message: "{value} clicks"
  click_total:
    view: click_totals
    when: clicks > 1000
    for: 0s
"""

APP = ViewSchema(
    view="application_metrics", table="application_metrics", stream="app_logs",
    window="tumbling", keys=(("application_id", pa.string()),),
    metrics=(("request_count", pa.int64()), ("error_rate", pa.float64())),
)  # fmt: skip
CLICKS = ViewSchema(
    view="clicks_per_minute", table="clicks_per_minute", stream="clicks", window="tumbling",
    keys=(("kind", pa.string()),), metrics=(("clicks", pa.int64()),),
)  # fmt: skip
TOTALS = ViewSchema(
    view="click_totals", table="click_totals", stream="clicks", window="none",
    keys=(("kind", pa.string()),), metrics=(("clicks", pa.int64()),),
)  # fmt: skip
SCHEMAS = [APP, CLICKS, TOTALS]


def pipeline(webhook: str | None = None) -> Pipeline:
    line = f"webhook: {webhook}" if webhook else ""
    return parse_pipeline(SPEC.replace("WEBHOOK", line))


def _times(slots: Sequence[int], size_s: int) -> tuple[pa.Array, pa.Array]:
    kind = pa.timestamp("us", tz="UTC")
    starts = [(T0 + slot * size_s) * S for slot in slots]
    return pa.array(starts, kind), pa.array([s + size_s * S for s in starts], kind)


def app_rows(*rows: tuple[int, str, float, bool]) -> ViewUpdate:
    """(10 s slot, application, error rate, final) -> an update of application_metrics."""
    start, end = _times([r[0] for r in rows], 10)
    table = pa.table(
        {"window_start": start, "window_end": end, "application_id": [r[1] for r in rows],
         "request_count": pa.array([100] * len(rows), pa.int64()),
         "error_rate": [r[2] for r in rows], "final": [r[3] for r in rows]},
        schema=APP.arrow_schema,
    )  # fmt: skip
    return ViewUpdate("application_metrics", table)


def click_rows(*rows: tuple[int, str, int, bool]) -> ViewUpdate:
    """(minute slot, kind, clicks, final) -> an update of clicks_per_minute."""
    start, end = _times([r[0] for r in rows], 60)
    table = pa.table(
        {"window_start": start, "window_end": end, "kind": [r[1] for r in rows],
         "clicks": pa.array([r[2] for r in rows], pa.int64()), "final": [r[3] for r in rows]},
        schema=CLICKS.arrow_schema,
    )  # fmt: skip
    return ViewUpdate("clicks_per_minute", table)


def total_rows(*rows: tuple[str, int]) -> ViewUpdate:
    table = pa.table(
        {"kind": [r[0] for r in rows], "clicks": pa.array([r[1] for r in rows], pa.int64()),
         "final": [False] * len(rows)},
        schema=TOTALS.arrow_schema,
    )  # fmt: skip
    return ViewUpdate("click_totals", table)


class Results:
    """Commits result rows the way the engine does: through `PostgresSink`."""

    def __init__(self, url: str) -> None:
        self.sink = PostgresSink(url)
        self.sink.open(SCHEMAS)

    def commit(self, *updates: ViewUpdate) -> None:
        self.sink.commit("engine", CommitBatch(updates=list(updates)))

    def close(self) -> None:
        self.sink.close()


def alerts(url: str, rule: str | None = None) -> list[tuple[Any, ...]]:
    """(id, rule, key, state, resolved?, notified?) of every alert, oldest first; none while
    the table does not exist yet (an evaluator started in a thread creates it)."""
    with psycopg.connect(url) as conn:
        try:
            rows = conn.execute(
                "SELECT id, rule, key, state, resolved_at IS NOT NULL, notified_at IS NOT NULL "
                "FROM alerts WHERE %s::text IS NULL OR rule = %s ORDER BY id",
                (rule, rule),
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return rows


@dataclass
class Hook:
    """A local webhook endpoint answering with the scripted statuses (then 200)."""

    statuses: list[int]
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    url: str = ""


@contextmanager
def webhook_server(statuses: Sequence[int] = ()) -> Iterator[Hook]:
    hook = Hook(list(statuses))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                hook.bodies.append(json.loads(body))
                hook.paths.append(self.path)
                status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0/s3cret-path?token=s3cret"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def now() -> datetime:
    return datetime.now(UTC)
