"""What the runtime tests share: app_logs events of one application, and how many of its
requests the result table counts."""

from __future__ import annotations

import json
import time

import psycopg


def app_log_events(application_id: str, count: int) -> bytes:
    """`count` NDJSON app_logs events of `application_id`, 1 ms apart from now."""
    now_ms = time.time_ns() // 1_000_000
    return b"".join(
        json.dumps(
            {
                "application_id": application_id,
                "timestamp": now_ms + i,
                "method": "GET",
                "endpoint": "/",
                "status_code": 200,
                "latency_ms": 1.0,
                "level": "INFO",
                "message": "runtime test",
            }
        ).encode()
        + b"\n"
        for i in range(count)
    )


def requests_counted(url: str, application_id: str) -> int | None:
    """sum(request_count) of `application_id`; None while there is no row, table or server."""
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT sum(request_count) FROM application_metrics WHERE application_id = %s",
                (application_id,),
            ).fetchone()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    return int(row[0]) if row and row[0] is not None else None
