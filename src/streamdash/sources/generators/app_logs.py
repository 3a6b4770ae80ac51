"""`app_logs`: HTTP request logs of five applications (topic `logs`).

Each application has its own error rates and latency scale, so the per-application gauges
and trend lines of the dashboard differ. Events are drawn vectorised and written from
precomputed JSON fragments: this is the stream benchmarks lean on, and per-event dicts plus
an encoder would cost several times more.
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import msgspec
import numpy as np

from streamdash.sources.generators.faults import FaultTargets, malform
from streamdash.sources.generators.options import GeneratorOptions
from streamdash.sources.generators.plan import item_batches
from streamdash.sources.generators.seeding import numpy_rng, python_rng

STREAM = "app_logs"

APPLICATIONS = ("app-1", "app-2", "app-3", "app-4", "app-5")
SERVER_ERROR_SHARE = np.array([0.02, 0.035, 0.05, 0.015, 0.03])
CLIENT_ERROR_SHARE = np.array([0.05, 0.06, 0.08, 0.04, 0.07])
LATENCY_SCALE = np.array([1.0, 1.2, 1.5, 0.8, 1.1])

METHODS = ("GET", "POST", "PUT", "DELETE")
METHOD_WEIGHTS = np.array([0.6, 0.2, 0.12, 0.08])

ENDPOINTS = (
    "/api/users",
    "/api/products",
    "/api/orders",
    "/api/cart",
    "/api/checkout",
    "/api/search",
    "/api/auth/login",
    "/health",
)
ENDPOINT_WEIGHTS = np.array([0.2, 0.25, 0.15, 0.12, 0.06, 0.12, 0.06, 0.04])
ENDPOINT_MEDIAN_MS = np.array([40.0, 60.0, 90.0, 35.0, 180.0, 120.0, 70.0, 3.0])
LATENCY_SIGMA = 0.55
TIMEOUT_SLOWDOWN = 4.0
"""502/503/504 come from a slow or dead upstream: they take longer than the median."""

STATUS_CODES = (200, 201, 400, 401, 403, 404, 429, 500, 502, 503, 504)
_CLIENT_ERRORS = np.array([2, 3, 4, 5, 6])
_CLIENT_WEIGHTS = np.array([0.2, 0.15, 0.1, 0.4, 0.15])
_SERVER_ERRORS = np.array([7, 8, 9, 10])
_SERVER_WEIGHTS = np.array([0.5, 0.2, 0.2, 0.1])
_SLOW_STATUSES = np.array([8, 9, 10])
_OK, _CREATED, _POST = 0, 1, 1

FAULT_TARGETS = FaultTargets(
    time_path=("timestamp",),
    int_path=("status_code",),
    text_path=("message",),
    enum_path=("method",),
    unknown_enum_values=("PATCH", "HEAD", "get", "TRACE"),
)


def level_of(status_code: int) -> str:
    """INFO for success, WARN for a client error, ERROR for a server error."""
    if status_code >= 500:
        return "ERROR"
    return "WARN" if status_code >= 400 else "INFO"


def _message(method: str, endpoint: str, status_code: int) -> str:
    return f"{method} {endpoint} -> {status_code} {HTTPStatus(status_code).phrase}"


def _json(text: str) -> str:
    return msgspec.json.encode(text).decode()


def _fragments() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """JSON text around the two per-event numbers, for every (app, method, endpoint, status).

    Keys are written in product.md order; the result equals msgspec's encoding of the dict.
    """
    heads, middles, tails = [], [], []
    for app in APPLICATIONS:
        for method in METHODS:
            for endpoint in ENDPOINTS:
                for code in STATUS_CODES:
                    heads.append(f'{{"application_id":{_json(app)},"timestamp":')
                    middles.append(
                        f',"method":{_json(method)},"endpoint":{_json(endpoint)},'
                        f'"status_code":{code},"latency_ms":'
                    )
                    tails.append(
                        f',"level":{_json(level_of(code))},'
                        f'"message":{_json(_message(method, endpoint, code))}}}'
                    )
    return tuple(heads), tuple(middles), tuple(tails)


_HEADS, _MIDDLES, _TAILS = _fragments()


def generate_app_logs(options: GeneratorOptions) -> Iterator[bytes]:
    """Yield `options.count` app_logs events as JSON objects (see product.md)."""
    content = numpy_rng(options.seed, STREAM, "content")
    detail = python_rng(options.seed, STREAM, "fault-detail")
    heads, middles, tails = _HEADS, _MIDDLES, _TAILS
    for batch in item_batches(options, STREAM, FAULT_TARGETS.kinds):
        keys, latencies = _draw(content, len(batch))
        millis = (batch.times_us // 1000).tolist()
        for key, ms, latency, fault in zip(
            keys.tolist(), millis, latencies.tolist(), batch.faults, strict=True
        ):
            if fault is None:
                yield f"{heads[key]}{ms}{middles[key]}{latency}{tails[key]}".encode()
            else:
                yield malform(_event(key, ms, latency), fault, FAULT_TARGETS, detail)


def _draw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Fragment keys and latencies (ms, 2 decimals) of `size` events."""
    app = rng.integers(0, len(APPLICATIONS), size)
    method = rng.choice(len(METHODS), size, p=METHOD_WEIGHTS)
    endpoint = rng.choice(len(ENDPOINTS), size, p=ENDPOINT_WEIGHTS)
    outcome = rng.random(size)
    server_share = SERVER_ERROR_SHARE[app]
    is_server = outcome < server_share
    is_client = ~is_server & (outcome < server_share + CLIENT_ERROR_SHARE[app])
    success = np.where(method == _POST, _CREATED, _OK)
    client = rng.choice(_CLIENT_ERRORS, size, p=_CLIENT_WEIGHTS)
    server = rng.choice(_SERVER_ERRORS, size, p=_SERVER_WEIGHTS)
    status = np.where(is_server, server, np.where(is_client, client, success))
    median = ENDPOINT_MEDIAN_MS[endpoint] * LATENCY_SCALE[app]
    latency = rng.lognormal(np.log(median), LATENCY_SIGMA)
    latency = np.where(np.isin(status, _SLOW_STATUSES), latency * TIMEOUT_SLOWDOWN, latency)
    latency = np.round(np.maximum(latency, 0.1), 2)
    key = ((app * len(METHODS) + method) * len(ENDPOINTS) + endpoint) * len(STATUS_CODES) + status
    return key, latency


def _event(key: int, ms: int, latency: float) -> dict[str, Any]:
    """The dict form of one event, for the rare malformed item."""
    key, status = divmod(key, len(STATUS_CODES))
    key, endpoint = divmod(key, len(ENDPOINTS))
    app, method = divmod(key, len(METHODS))
    code = STATUS_CODES[status]
    return {
        "application_id": APPLICATIONS[app],
        "timestamp": ms,
        "method": METHODS[method],
        "endpoint": ENDPOINTS[endpoint],
        "status_code": code,
        "latency_ms": latency,
        "level": level_of(code),
        "message": _message(METHODS[method], ENDPOINTS[endpoint], code),
    }
