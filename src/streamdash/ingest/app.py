"""The HTTP API: event ingest, Sensor Logger push, result and dead-letter queries, health,
metrics. Bodies are read as raw bytes (with a hard size limit) and validated with msgspec,
never through pydantic request models: that is what keeps ingest at millions of events/s.

Every error is JSON `{"error": code, "detail": text}`. A request is answered with success
only after its accepted events AND its dead letters are durable in the log.

Sensor Logger answers: 200 when at least one reading was accepted (or the payload was
empty); 499 with the JSON error when every reading was rejected (the app shows the text of a
499 to its user, so they learn why); 400 / 422 when the body is not a Sensor Logger body.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, get_args

import msgspec
from fastapi import FastAPI, Request
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from streamdash.errors import StoreUnavailable
from streamdash.ingest.appender import GroupCommitAppender, dead_letter_records
from streamdash.ingest.errors import (
    BodyTooLarge,
    InvalidHeader,
    InvalidParameter,
    NotFound,
    RequestRejected,
    Unauthorized,
    UnsupportedMediaType,
    error_response,
    install_error_handlers,
)
from streamdash.ingest.metrics import CONTENT_TYPE, IngestMetrics
from streamdash.ingest.sensorlogger import sensorlogger_events
from streamdash.ingest.validate import EventValidator, Validated
from streamdash.log.base import Log
from streamdash.results import DeadLetterReason
from streamdash.spec.models import Pipeline

MAX_LISTED_ERRORS = 100
_JSON_TYPES = frozenset({"application/json"})
_NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
_REASONS = frozenset(get_args(DeadLetterReason))


class ResultQueries(Protocol):
    """What the API reads from the result store (implemented by the store's reader)."""

    def views(self) -> list[dict[str, Any]]: ...

    def query_view(
        self, view: str, since: datetime | None, until: datetime | None, key: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Rows of a view's result table; raises KeyError for an unknown view."""
        ...

    def dead_letters(
        self, stream: str | None, reason: str | None, limit: int
    ) -> list[dict[str, Any]]: ...


def _json(content: object, status: int = 200) -> Response:
    body = msgspec.json.encode(content, enc_hook=str)  # Decimal, UUID ... as text
    return Response(body, status, media_type="application/json")


def _summary(result: Validated) -> dict[str, Any]:
    errors = [
        {"index": r.index, "reason": r.reason, "detail": r.detail}
        for r in result.rejections[:MAX_LISTED_ERRORS]
    ]
    return {"accepted": result.count, "rejected": len(result.rejections), "errors": errors}


_KEY = re.compile(r"^[A-Za-z0-9._:/+=-]{1,200}$")


def _idempotency_key(request: Request) -> str | None:
    """The producer's `Idempotency-Key` header: the same key on a retry means the same
    batch, stored once. Checked before anything is written."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _KEY.match(key):
        raise InvalidHeader(
            "Idempotency-Key must be 1-200 characters of letters, digits and ._:/+=-"
        )
    return key


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) before reading more than `limit` bytes of it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise RequestRejected(f"Content-Length {declared!r:.40} is not a byte count")
        if len(declared) > 18 or int(declared) > limit:
            raise BodyTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:  # chunked uploads announce no length: count while reading
            raise BodyTooLarge(f"body is over the limit of {limit} bytes; send smaller batches")
        parts.append(part)
    return b"".join(parts)


def _parse_time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(
            f"{name}={value!r:.60} is not a time; expected ISO-8601, e.g. 2024-05-01T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_limit(value: str | None, default: int = 1000, most: int = 100_000) -> int:
    if value is None:
        return default
    # isascii: int() rejects other Unicode digits; len: int() refuses 4300+ digit strings
    if not (value.isascii() and value.isdigit() and len(value) < 10 and 1 <= int(value) <= most):
        raise InvalidParameter(f"limit={value!r:.40} is not valid; expected an integer 1..{most}")
    return int(value)


def create_app(
    pipeline: Pipeline,
    log: Log,
    *,
    token: str | None,
    reader: ResultQueries | None,
    max_body_bytes: int = 16 << 20,
    extra_collectors: Iterable[Collector] = (),
    append_timeout_s: float = 10.0,
) -> FastAPI:
    """The API of one pipeline. `token`: when set (the CLI passes STREAMDASH_TOKEN), writes
    need `Authorization: Bearer <token>`. `reader`: None answers query routes with 503."""
    validators = {name: EventValidator(name, spec) for name, spec in pipeline.streams.items()}
    sensor_streams = [n for n, s in pipeline.streams.items() if s.adapter == "sensorlogger"]
    metrics = IngestMetrics(extra_collectors)
    appender = GroupCommitAppender(
        log, timeout_s=append_timeout_s, observe_append=metrics.append_seconds.observe
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        appender.close()

    app = FastAPI(
        title="streamdash", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.pipeline, app.state.log = pipeline, log
    app.state.appender, app.state.metrics = appender, metrics
    install_error_handlers(app)

    def authorize(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, credential = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credential.strip().encode(), token.encode()
        ):
            raise Unauthorized("missing or wrong token; expected 'Authorization: Bearer <token>'")

    async def commit(stream: str, result: Validated, received_us: int, request: Request) -> None:
        key = _idempotency_key(request)
        dead = dead_letter_records(stream, result.rejections, received_us)
        await appender.append(
            stream, result.payload, result.count, dead, len(result.rejections), key
        )
        metrics.count(stream, result.count, result.rejections)

    @app.post("/v1/streams/{stream}/events")
    async def post_events(stream: str, request: Request) -> Response:
        with metrics.request_seconds.labels("events").time():
            received_us = time.time_ns() // 1000
            authorize(request)
            validator = validators.get(stream)
            if validator is None:
                known = ", ".join(sorted(validators)) or "none"
                raise NotFound(f"unknown stream {stream!r:.80}; known streams: {known}")
            kind = _media_type(request)
            if kind not in _JSON_TYPES | _NDJSON_TYPES:
                raise UnsupportedMediaType(
                    f"Content-Type {kind or '(none)'!r:.80} is not supported; expected "
                    "application/json (an object or an array) or application/x-ndjson"
                )
            body = await _read_body(request, max_body_bytes)
            if kind in _JSON_TYPES:
                result = validator.validate_json(body)
            else:
                result = validator.validate_ndjson(body)
            await commit(stream, result, received_us, request)
            return _json(_summary(result), 202)

    @app.post("/v1/sensorlogger")
    async def post_sensorlogger(request: Request) -> Response:
        with metrics.request_seconds.labels("sensorlogger").time():
            received_us = time.time_ns() // 1000
            authorize(request)
            if not sensor_streams:
                raise NotFound("no stream of this pipeline has `adapter: sensorlogger`")
            stream = sensor_streams[0]
            kind = _media_type(request)
            if kind not in _JSON_TYPES:
                raise UnsupportedMediaType(
                    f"Content-Type {kind or '(none)'!r:.80} is not supported; expected "
                    "application/json (the Sensor Logger app's push body)"
                )
            body = await _read_body(request, max_body_bytes)
            result = sensorlogger_events(body, validators[stream])
            await commit(stream, result, received_us, request)
            summary = _summary(result)
            if result.count == 0 and result.rejections:
                first = result.rejections[0]
                detail = (
                    f"all {len(result.rejections)} readings were rejected; "
                    f"reading {first.index}: {first.detail}"
                )
                return _json({"error": "all_rejected", "detail": detail, **summary}, 499)
            return _json(summary, 200)

    @app.get("/v1/streams")
    async def get_streams() -> Response:
        streams = []
        for name, spec in pipeline.streams.items():
            streams.append(
                {
                    "name": name,
                    "description": spec.description,
                    "time": {"field": spec.time.field, "unit": spec.time.unit},
                    "key": spec.key,
                    "adapter": spec.adapter,
                    "fields": {
                        f: s.type + ("?" if s.optional else "") for f, s in spec.schema_.items()
                    },
                }
            )
        return _json(streams)

    def store() -> ResultQueries:
        if reader is None:
            raise StoreUnavailable("the result store is not configured or not running")
        return reader

    @app.get("/v1/views")
    async def get_views() -> Response:
        return _json(await run_in_threadpool(store().views))

    @app.get("/v1/views/{view}")
    async def get_view(view: str, request: Request) -> Response:
        query = request.query_params
        since = _parse_time("since", query.get("since"))
        until = _parse_time("until", query.get("until"))
        limit = _parse_limit(query.get("limit"))
        try:
            rows = await run_in_threadpool(
                store().query_view, view, since, until, query.get("key"), limit
            )
        except KeyError:
            known = ", ".join(sorted(pipeline.views)) or "none"
            raise NotFound(f"unknown view {view!r:.80}; known views: {known}") from None
        return _json(rows)

    @app.get("/v1/dead-letters")
    async def get_dead_letters(request: Request) -> Response:
        query = request.query_params
        reason = query.get("reason")
        if reason is not None and reason not in _REASONS:
            raise InvalidParameter(
                f"reason={reason!r:.40} is unknown; expected one of {', '.join(sorted(_REASONS))}"
            )
        limit = _parse_limit(query.get("limit"), default=100)
        rows = await run_in_threadpool(store().dead_letters, query.get("stream"), reason, limit)
        return _json(rows)

    @app.get("/healthz")
    async def healthz() -> Response:
        if not appender.healthy:
            return error_response(503, "log_unavailable", "the log writer is not running")
        return _json({"status": "ok"})

    @app.get("/metrics")
    async def get_metrics() -> Response:
        # in a worker thread: extra collectors may read a database (never block ingest)
        return Response(await run_in_threadpool(metrics.exposition), media_type=CONTENT_TYPE)

    return app
