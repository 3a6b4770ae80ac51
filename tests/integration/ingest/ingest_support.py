"""Helpers of the ingest API tests: a pipeline, a real uvicorn server on a free port, log
readers and an in-memory result reader. (A uniquely named module, not conftest: test modules
import from it.)"""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import datetime
from typing import Any

import msgspec
import uvicorn
from fastapi import FastAPI

from streamdash.log.sqlite import SqliteLog

PIPELINE = {
    "streams": {
        "app_logs": {
            "time": {"field": "timestamp", "unit": "ms"},
            "schema": {
                "application_id": "string",
                "timestamp": "int64",
                "method": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
                "status_code": "int32",
                "latency_ms": "float64",
                "level": "string?",
            },
        },
        "sensor": {
            "adapter": "sensorlogger",
            "time": {"field": "time", "unit": "ns"},
            "schema": {
                "device_id": "string",
                "session_id": "string",
                "message_id": "int64",
                "sensor": "string",
                "time": "int64",
                "x": "float64?",
            },
        },
    },
    "views": {
        "per_app": {
            "from": "app_logs",
            "window": {"tumbling": "10s"},
            "group_by": ["application_id"],
            "metrics": {"n": "count()"},
        },
    },
}


def event(i: int = 0, **changes: Any) -> dict[str, Any]:
    base = {
        "application_id": f"app-{i % 5}",
        "timestamp": 1_700_000_000_000 + i,
        "method": "GET",
        "status_code": 200,
        "latency_ms": 1.5,
    }
    return {**base, **changes}


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return b"".join(msgspec.json.encode(e) + b"\n" for e in events)


def stored(log: SqliteLog, stream: str) -> list[dict[str, Any]]:
    """Every event of a log stream, decoded."""
    out: list[dict[str, Any]] = []
    offset = 0
    while chunks := log.read(stream, offset, 100_000):
        out += [msgspec.json.decode(line) for c in chunks for line in c.payload.splitlines()]
        offset = chunks[-1].end
    return out


class MemoryResults:
    """In-memory stand-in for the result store's reader (the ResultQueries boundary)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def views(self) -> list[dict[str, Any]]:
        return [{"view": "per_app", "table": "per_app", "stream": "app_logs"}]

    def query_view(
        self, view: str, since: datetime | None, until: datetime | None, key: str | None, limit: int
    ) -> list[dict[str, Any]]:
        if view != "per_app":
            raise KeyError(view)
        self.calls.append((view, since, until, key, limit))
        return [
            {
                "window_start": datetime.fromisoformat("2024-05-01T12:00:00+00:00"),
                "application_id": "app-1",
                "n": 3,
            }
        ]

    def dead_letters(
        self, stream: str | None, reason: str | None, limit: int
    ) -> list[dict[str, Any]]:
        self.calls.append((stream, reason, limit))
        return []


class Served:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve([self.sock])))

    def __enter__(self) -> Served:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
