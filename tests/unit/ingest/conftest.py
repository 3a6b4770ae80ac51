"""Small pipelines for the ingest unit tests (built inline, independent of built-in specs)."""

from __future__ import annotations

import pytest

from streamdash.spec.models import Pipeline

APP_LOGS = {
    "time": {"field": "timestamp", "unit": "ms"},
    "schema": {
        "application_id": "string",
        "timestamp": "int64",
        "method": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
        "endpoint": "string",
        "status_code": "int32",
        "latency_ms": "float64",
        "level": "string?",
        "message": "string?",
        "meta": "json?",
        "client": {"type": "struct", "optional": True, "fields": {"ip": "string"}},
    },
}
CLICKS = {
    "time": {"field": "ts", "unit": "iso8601"},
    "schema": {"ts": "timestamp", "user": "string", "n": "int32?"},
    "max_event_bytes": 200,
}
SENSOR = {
    "adapter": "sensorlogger",
    "time": {"field": "time", "unit": "ns"},
    "schema": {
        "device_id": "string",
        "session_id": "string",
        "message_id": "int64",
        "sensor": "string",
        "time": "int64",
        "accuracy": "float64?",
        "x": "float64?",
        "y": "float64?",
        "z": "float64?",
    },
}


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline.model_validate(
        {"streams": {"app_logs": APP_LOGS, "clicks": CLICKS, "sensor": SENSOR}}
    )
