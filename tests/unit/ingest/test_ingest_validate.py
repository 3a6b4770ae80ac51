from __future__ import annotations

import msgspec
import pytest

from streamdash.ingest.errors import MalformedBody, TooManyInvalid, WrongShape
from streamdash.ingest.validate import EventValidator
from streamdash.spec.models import Pipeline

GOOD = {
    "application_id": "app-1",
    "timestamp": 1_700_000_000_000,
    "method": "GET",
    "endpoint": "/api",
    "status_code": 200,
    "latency_ms": 12.5,
}


def line(**changes: object) -> bytes:
    event = {**GOOD, **changes}
    return msgspec.json.encode({k: v for k, v in event.items() if v is not ...})


@pytest.fixture
def app_logs(pipeline: Pipeline) -> EventValidator:
    return EventValidator("app_logs", pipeline.streams["app_logs"])


def test_valid_ndjson_is_stored_verbatim_with_unknown_fields(app_logs: EventValidator) -> None:
    body = line(extra={"kept": [1, 2]}, level=None) + b"\n" + line(meta={"a": 1}) + b"\n"
    result = app_logs.validate_ndjson(body)
    assert (result.count, result.rejections) == (2, [])
    assert result.payload == body


def test_last_line_without_newline_gets_one(app_logs: EventValidator) -> None:
    result = app_logs.validate_ndjson(line() + b"\r\n" + line())
    assert result.payload == line() + b"\n" + line() + b"\n"


@pytest.mark.parametrize(
    ("bad", "reason", "words"),
    [
        (line(method="FETCH"), "invalid", ["$.method", "GET, POST, PUT, DELETE"]),
        (line(status_code=2**31), "invalid", ["$.status_code", "int32"]),
        (line(status_code="200"), "invalid", ["$.status_code", "int"]),
        (line(timestamp=...), "invalid", ["timestamp", "epoch milliseconds"]),
        (line(timestamp=None), "invalid", ["timestamp", "null"]),
        (line(timestamp=-1), "invalid", ["timestamp", "1970..2200"]),
        (line(timestamp=7_289_654_400_000), "invalid", ["timestamp", "1970..2200"]),
        (line(timestamp=1.7e12), "invalid", ["timestamp", "float"]),
        (line(client={"ip": 5}), "invalid", ["$.client.ip", "string"]),
        (line(endpoint=...), "invalid", ["endpoint", "string"]),
        (b"[1, 2]", "invalid", ["object"]),
        (b'{"application_id": "a", ', "malformed", ["not valid JSON"]),
        (b"\xff\xfe{}", "malformed", ["not valid JSON"]),
        (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "malformed", ["recursion"]),
        (b'{"timestamp": "soon", "a": }', "malformed", ["not valid JSON"]),
    ],
)
def test_bad_lines_are_rejected_individually(
    app_logs: EventValidator, bad: bytes, reason: str, words: list[str]
) -> None:
    result = app_logs.validate_ndjson(line() + b"\n" + bad + b"\n\n   \n" + line(endpoint="/x"))
    assert result.count == 2
    assert result.payload == line() + b"\n" + line(endpoint="/x") + b"\n"
    [rejection] = result.rejections
    assert (rejection.index, rejection.reason, rejection.raw) == (1, reason, bad)
    for word in words:
        assert word in rejection.detail


def test_json_array_is_compacted_one_event_per_line(app_logs: EventValidator) -> None:
    pretty = b'[\n  {"application_id": "a",\n "timestamp": 1700000000000, "method": "PUT",'
    pretty += b' "endpoint": "/", "status_code": 500, "latency_ms": 1, "x": [1, 2]},\n 7]'
    result = app_logs.validate_json(pretty)
    assert result.count == 1
    assert result.payload == (
        b'{"application_id":"a","timestamp":1700000000000,"method":"PUT","endpoint":"/",'
        b'"status_code":500,"latency_ms":1,"x":[1,2]}\n'
    )
    assert [(r.index, r.reason, r.raw) for r in result.rejections] == [(1, "invalid", b"7")]


def test_json_object_is_one_event(app_logs: EventValidator) -> None:
    assert app_logs.validate_json(line()).payload == line() + b"\n"
    assert app_logs.validate_json(b"[]").count == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"", MalformedBody), (b"{", MalformedBody), (b"42", WrongShape), (b"[1, []]", WrongShape)],
)
def test_json_bodies_refused_as_a_whole(
    app_logs: EventValidator, body: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        app_logs.validate_json(body)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", MalformedBody),
        (b"\n \n", MalformedBody),
        (b"junk\n", MalformedBody),
        (b"1\n2", WrongShape),
    ],
)
def test_ndjson_bodies_refused_as_a_whole(
    app_logs: EventValidator, body: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        app_logs.validate_ndjson(body)


def test_too_many_invalid_refuses_the_body(pipeline: Pipeline) -> None:
    validator = EventValidator("app_logs", pipeline.streams["app_logs"], max_rejections=3)
    assert len(validator.validate_ndjson(b"{}\n" * 3 + line()).rejections) == 3
    with pytest.raises(TooManyInvalid, match="more than 3"):
        validator.validate_ndjson(b"{}\n" * 4 + line())


def test_iso8601_time_and_max_event_bytes(pipeline: Pipeline) -> None:
    validator = EventValidator("clicks", pipeline.streams["clicks"])
    lines = [
        b'{"ts": "2024-05-01T12:00:00Z", "user": "u"}',
        b'{"ts": "2024-05-01T12:00:00.5", "user": "u"}',  # naive: taken as UTC
        b'{"ts": "1969-12-31T23:59:59Z", "user": "u"}',
        b'{"ts": "2201-01-01T00:00:00Z", "user": "u"}',
        b'{"ts": "yesterday", "user": "u"}',
        b'{"ts": 1714564800, "user": "u"}',
        b'{"ts": "2024-05-01T12:00:00Z", "user": "' + b"u" * 300 + b'"}',
    ]
    result = validator.validate_ndjson(b"\n".join(lines))
    assert result.payload == lines[0] + b"\n" + lines[1] + b"\n"
    reasons = [(r.index, r.reason) for r in result.rejections]
    assert reasons == [
        (2, "invalid"),
        (3, "invalid"),
        (4, "invalid"),
        (5, "invalid"),
        (6, "too_large"),
    ]
    assert "1970..2200" in result.rejections[0].detail
    assert "200" in result.rejections[4].detail


def test_lines_that_only_parse_together_are_rejected(app_logs: EventValidator) -> None:
    # A JSON value spread over two lines is not NDJSON even if the whole body parses.
    body = b'{"application_id": "a",\n"timestamp": 1}\n' + line()
    result = app_logs.validate_ndjson(body)
    assert result.count == 1
    assert [r.reason for r in result.rejections] == ["malformed", "malformed"]
