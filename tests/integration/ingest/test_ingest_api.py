"""The HTTP API through a real uvicorn server and the real SQLite log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from typing import Any

import httpx
import msgspec
import pytest
from ingest_support import MemoryResults, Served, event, ndjson, stored

from streamdash.ingest.app import create_app
from streamdash.log.base import DEAD_LETTER_STREAM
from streamdash.log.sqlite import SqliteLog
from streamdash.spec.models import Pipeline

NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}
T0 = 1_717_171_717_123_456_789


def post(served: Served, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(served.url + path, content=content, headers=headers, timeout=30)


def assert_error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code
    for word in words:
        assert word in body["detail"]


def test_partial_acceptance_and_dead_letters(serve: Callable[..., Served], log: SqliteLog) -> None:
    served = serve()
    good = [event(i) for i in range(3)]
    bad_lines = [msgspec.json.encode(event(9, method="FETCH")), b"{oops", b"\xff\xfe"]
    body = ndjson(good[:1]) + bad_lines[0] + b"\n" + ndjson(good[1:2]) + bad_lines[1] + b"\n"
    body += bad_lines[2] + b"\n" + ndjson(good[2:])
    response = post(served, "/v1/streams/app_logs/events", body, NDJSON)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (3, 3)
    assert [(e["index"], e["reason"]) for e in answer["errors"]] == [
        (1, "invalid"),
        (3, "malformed"),
        (4, "malformed"),
    ]
    assert "GET, POST, PUT, DELETE" in answer["errors"][0]["detail"]
    assert stored(log, "app_logs") == good
    dead = stored(log, DEAD_LETTER_STREAM)
    assert [(d["stream"], d["index"], d["reason"]) for d in dead] == [
        ("app_logs", 1, "invalid"),
        ("app_logs", 3, "malformed"),
        ("app_logs", 4, "malformed"),
    ]
    assert dead[0]["raw"] == bad_lines[0].decode()
    assert dead[2]["raw_b64"] == "//4="
    assert all(d["received_us"] > 1_700_000_000_000_000 for d in dead)


def test_json_array_and_object(serve: Callable[..., Served], log: SqliteLog) -> None:
    served = serve()
    array = msgspec.json.encode([event(1), event(2, status_code="x"), event(3)])
    answer = post(served, "/v1/streams/app_logs/events", array, JSON).json()
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    single = post(
        served,
        "/v1/streams/app_logs/events",
        msgspec.json.encode(event(4)),
        {"content-type": "application/json; charset=utf-8"},
    )
    assert single.status_code == 202
    assert stored(log, "app_logs") == [event(1), event(3), event(4)]


def test_errors_list_is_capped(serve: Callable[..., Served]) -> None:
    answer = post(serve(), "/v1/streams/app_logs/events", b'{"x":1}\n' * 250, NDJSON).json()
    assert (answer["accepted"], answer["rejected"], len(answer["errors"])) == (0, 250, 100)


@pytest.mark.parametrize(
    ("path", "content", "headers", "status", "code", "words"),
    [
        ("/v1/streams/nope/events", b"{}", JSON, 404, "unknown", ["app_logs, sensor"]),
        ("/v1/streams/app_logs/events", b"{", JSON, 400, "malformed", ["not valid JSON"]),
        ("/v1/streams/app_logs/events", b"", NDJSON, 400, "malformed", ["no events"]),
        ("/v1/streams/app_logs/events", b"1\n2\n", NDJSON, 422, "wrong_shape", ["object"]),
        ("/v1/streams/app_logs/events", b'"hi"', JSON, 422, "wrong_shape", ["string"]),
        (
            "/v1/streams/app_logs/events",
            b"{}",
            {"content-type": "text/csv"},
            415,
            "unsupported_media_type",
            ["application/x-ndjson"],
        ),
        ("/v1/streams/app_logs/events", b"{}", {}, 415, "unsupported_media_type", ["(none)"]),
        ("/v1/sensorlogger", b"{nope", JSON, 400, "malformed", ["Sensor Logger"]),
        ("/v1/sensorlogger", b"{}", JSON, 422, "wrong_shape", ["messageId"]),
    ],
)
def test_refused_requests(
    serve: Callable[..., Served],
    log: SqliteLog,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
    words: list[str],
) -> None:
    code = "not_found" if code == "unknown" else code
    assert_error(post(serve(), path, content, headers), status, code, *words)
    assert log.streams() == []  # nothing of a refused request is stored


def test_body_over_the_limit(serve: Callable[..., Served], log: SqliteLog) -> None:
    served = serve(max_body_bytes=1000)
    assert_error(
        post(served, "/v1/streams/app_logs/events", ndjson([event()] * 20), NDJSON),
        413,
        "too_large",
        "1000",
    )
    assert post(served, "/v1/streams/app_logs/events", ndjson([event()]), NDJSON).status_code == 202


def test_chunked_body_is_not_read_past_the_limit(pipeline: Pipeline, log: SqliteLog) -> None:
    # Drive the ASGI app directly to see exactly how much of the body it pulls.
    app = create_app(pipeline, log, token=None, reader=None, max_body_bytes=10_000)
    pulled: list[int] = []
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 4096, "more_body": len(pulled) < 1000}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/streams/app_logs/events",
        "headers": [(b"content-type", b"application/x-ndjson")],
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    app.state.appender.close()
    assert sent[0]["status"] == 413
    assert len(pulled) == 3  # 3 x 4096 > 10_000: stop there, not at 1000 chunks


def test_token_is_required_for_writes_only(serve: Callable[..., Served], log: SqliteLog) -> None:
    served = serve(token="s3cret")
    path = "/v1/streams/app_logs/events"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret"}):
        response = post(served, path, ndjson([event()]), {**NDJSON, **headers})
        assert_error(response, 401, "unauthorized", "Bearer")
        assert response.headers["www-authenticate"] == "Bearer"
    assert_error(post(served, "/v1/sensorlogger", b"{}", JSON), 401, "unauthorized")
    ok = post(served, path, ndjson([event()]), {**NDJSON, "authorization": "Bearer s3cret"})
    assert ok.status_code == 202
    assert httpx.get(served.url + "/v1/streams").status_code == 200
    assert len(stored(log, "app_logs")) == 1


def test_log_unavailable_is_503_and_nothing_acknowledged(
    serve: Callable[..., Served], log: SqliteLog
) -> None:
    (log.directory / "app_logs.db").mkdir()  # SQLite cannot open it: every append fails
    response = post(serve(), "/v1/streams/app_logs/events", ndjson([event()]), NDJSON)
    assert_error(response, 503, "log_unavailable", "app_logs")
    assert response.headers["retry-after"] == "1"


def test_sensorlogger(serve: Callable[..., Served], log: SqliteLog) -> None:
    served = serve()
    envelope = {"messageId": 3, "sessionId": "s", "deviceId": "d"}
    readings = [
        {"name": "accelerometer", "time": T0, "values": {"x": 1.0}},
        {"name": "gyroscope", "time": "later"},
    ]
    ok = post(
        served, "/v1/sensorlogger", msgspec.json.encode({**envelope, "payload": readings}), JSON
    )
    assert ok.status_code == 200, ok.text
    assert (ok.json()["accepted"], ok.json()["rejected"]) == (1, 1)
    empty = post(served, "/v1/sensorlogger", msgspec.json.encode({**envelope, "payload": []}), JSON)
    assert (empty.status_code, empty.json()["accepted"]) == (200, 0)
    none = post(
        served, "/v1/sensorlogger", msgspec.json.encode({**envelope, "payload": readings[1:]}), JSON
    )
    assert_error(none, 499, "all_rejected", "reading 0", "time")
    assert stored(log, "sensor") == [
        {
            "device_id": "d",
            "session_id": "s",
            "message_id": 3,
            "sensor": "accelerometer",
            "time": T0,
            "x": 1.0,
        }
    ]
    assert [d["index"] for d in stored(log, DEAD_LETTER_STREAM)] == [1, 0]


def test_sensorlogger_without_such_stream(log: SqliteLog) -> None:
    pipeline = Pipeline.model_validate(
        {"streams": {"a": {"time": {"field": "t", "unit": "s"}, "schema": {"t": "int64"}}}}
    )
    with Served(create_app(pipeline, log, token=None, reader=None)) as served:
        assert_error(post(served, "/v1/sensorlogger", b"{}", JSON), 404, "not_found", "adapter")


def test_queries(serve: Callable[..., Served]) -> None:
    reader = MemoryResults()
    served = serve(reader=reader)
    streams = httpx.get(served.url + "/v1/streams").json()
    assert [s["name"] for s in streams] == ["app_logs", "sensor"]
    assert streams[0]["time"] == {"field": "timestamp", "unit": "ms"}
    assert streams[0]["fields"]["level"] == "string?"
    assert httpx.get(served.url + "/v1/views").json()[0]["view"] == "per_app"
    rows = httpx.get(
        served.url + "/v1/views/per_app",
        params={"since": "2024-05-01T00:00:00Z", "key": "app-1", "limit": "5"},
    ).json()
    assert rows == [{"window_start": "2024-05-01T12:00:00Z", "application_id": "app-1", "n": 3}]
    view, since, until, key, limit = reader.calls[-1]
    assert (view, since.isoformat(), until, key, limit) == (
        "per_app",
        "2024-05-01T00:00:00+00:00",
        None,
        "app-1",
        5,
    )
    assert_error(httpx.get(served.url + "/v1/views/nope"), 404, "not_found", "per_app")
    assert_error(
        httpx.get(served.url + "/v1/views/per_app?since=monday"),
        422,
        "invalid_parameter",
        "ISO-8601",
    )
    assert_error(httpx.get(served.url + "/v1/views/per_app?limit=0"), 422, "invalid_parameter")
    assert httpx.get(served.url + "/v1/dead-letters?stream=app_logs&reason=late").json() == []
    assert reader.calls[-1] == ("app_logs", "late", 100)
    assert_error(
        httpx.get(served.url + "/v1/dead-letters?reason=bad"), 422, "invalid_parameter", "malformed"
    )


def test_queries_without_a_store(serve: Callable[..., Served]) -> None:
    served = serve(reader=None)
    for path in ("/v1/views", "/v1/views/per_app", "/v1/dead-letters"):
        assert_error(httpx.get(served.url + path), 503, "store_unavailable")


def test_unknown_routes_and_methods_answer_json(serve: Callable[..., Served]) -> None:
    served = serve()
    assert_error(httpx.get(served.url + "/nope"), 404, "not_found")
    assert_error(httpx.delete(served.url + "/v1/streams"), 405, "method_not_allowed")
    assert httpx.get(served.url + "/docs").status_code == 404


def test_health_and_metrics(serve: Callable[..., Served]) -> None:
    served = serve()
    assert httpx.get(served.url + "/healthz").json() == {"status": "ok"}
    body = ndjson([event(1), event(2)]) + b'{"x":1}\n'
    post(served, "/v1/streams/app_logs/events", body, NDJSON)
    metrics = httpx.get(served.url + "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'streamdash_events_received_total{stream="app_logs"} 3.0' in text
    assert 'streamdash_events_accepted_total{stream="app_logs"} 2.0' in text
    assert 'streamdash_events_rejected_total{reason="invalid",stream="app_logs"} 1.0' in text
    assert 'streamdash_ingest_request_seconds_count{route="events"} 1.0' in text
    assert "streamdash_log_append_seconds_count 1.0" in text


class BrokenResults(MemoryResults):
    def views(self) -> list[dict[str, Any]]:
        raise RuntimeError("secret internals /etc/passwd")


def test_unexpected_errors_are_a_bare_json_500(serve: Callable[..., Served]) -> None:
    # a server-side bug (here in the store reader), never client input: no stack trace leaks
    response = httpx.get(serve(reader=BrokenResults()).url + "/v1/views")
    assert_error(response, 500, "internal", "server log")
    assert "secret" not in response.text
