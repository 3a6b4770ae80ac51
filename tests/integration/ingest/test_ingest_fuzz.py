"""Property: whatever a client sends, the API never answers 5xx, and the counts it answers
are exactly what landed in the log (accepted events) and the dead-letter stream."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ingest_support import PIPELINE, event

from streamdash.ingest.app import create_app
from streamdash.log.base import DEAD_LETTER_STREAM
from streamdash.log.sqlite import SqliteLog
from streamdash.spec.models import Pipeline

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELD_VALUES = (
    st.sampled_from(["GET", "app-1", 200, 1_700_000_000_000, 2.5, -1, 10**20]) | JSON_VALUES
)
EVENTS = st.builds(
    lambda base, changes, drop: {k: v for k, v in {**base, **changes}.items() if k not in drop},
    st.integers(0, 100).map(event),
    st.dictionaries(st.sampled_from([*event(), "extra", "é"]), FIELD_VALUES, max_size=3),
    st.sets(st.sampled_from(list(event())), max_size=2),
)


def encode(value: Any) -> bytes:
    return msgspec.json.encode(value)


LINES = (
    EVENTS.map(encode)
    | JSON_VALUES.map(encode)
    | st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" "))
    | st.sampled_from([b"", b"   ", b"{", b'{"timestamp": 1' + b"0" * 400 + b"}", b"1e999"])
)
NESTED = st.integers(1, 3000).flatmap(
    lambda n: st.sampled_from([b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n, b"[" * n])
)
READINGS = st.fixed_dictionaries(
    {"name": st.sampled_from(["accelerometer", "zzz"]) | JSON_VALUES},
    optional={
        "time": st.integers(-(2**70), 2**70) | JSON_VALUES,
        "values": st.dictionaries(st.sampled_from(["x", "time", "q"]), FIELD_VALUES),
        "accuracy": JSON_VALUES,
    },
)
GOOD_READINGS = st.builds(
    lambda t, x: {"name": "gyroscope", "time": 1_717_171_717_000_000_000 + t, "values": {"x": x}},
    st.integers(0, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
)
SENSOR_BODIES = st.builds(
    lambda meta, readings: encode({**meta, "payload": readings}),
    st.fixed_dictionaries(
        {"messageId": st.integers(0, 9), "sessionId": st.just("s"), "deviceId": st.text(max_size=5)}
    ),
    st.lists(st.one_of(GOOD_READINGS, GOOD_READINGS, READINGS, JSON_VALUES), max_size=6),
)
VALID_LINES = st.integers(0, 1000).map(lambda i: encode(event(i)))
MIXED_NDJSON = st.builds(
    lambda good, bad, rest: b"\n".join([good, bad, *rest]),
    VALID_LINES,
    st.sampled_from([b"{", b"{}", b"7", b'{"timestamp": -1}']),
    st.lists(st.one_of(VALID_LINES, LINES), max_size=8),
)
BODIES = (
    MIXED_NDJSON
    | MIXED_NDJSON
    | st.lists(LINES, max_size=12).map(b"\n".join)
    | st.lists(EVENTS | JSON_VALUES, max_size=8).map(encode)
    | EVENTS.map(encode)
    | JSON_VALUES.map(encode)
    | st.binary(max_size=300)
    | NESTED
    | SENSOR_BODIES
    | st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.lists(LINES, min_size=1, max_size=3).map(lambda lines: b"\n".join(lines) * 200)
)
VALID_TYPES = ["application/json", "application/x-ndjson", "application/json; charset=utf-8"]
CONTENT_TYPES = st.one_of(
    st.sampled_from(VALID_TYPES),
    st.sampled_from(VALID_TYPES),
    st.sampled_from(["APPLICATION/X-NDJSON", "text/plain", ""])
    | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
STREAMS = st.sampled_from(
    ["app_logs"] * 8 + ["sensor", "nope", DEAD_LETTER_STREAM, "app_logs/x", "..", "é"]
)


def answer_has_both(response: httpx.Response) -> bool:
    answer = response.json()
    return bool(answer["accepted"] and answer["rejected"])


def offsets(log: SqliteLog) -> dict[str, int]:
    return {s: log.end_offset(s) for s in ("app_logs", "sensor", DEAD_LETTER_STREAM)}


def dead_letters_since(log: SqliteLog, start: int) -> list[dict[str, Any]]:
    chunks = (
        log.read(DEAD_LETTER_STREAM, start, 10**9)
        if start < log.end_offset(DEAD_LETTER_STREAM)
        else []
    )
    return [msgspec.json.decode(line) for c in chunks for line in c.payload.splitlines()]


ROUTES = {
    # route -> (stream names, bodies, the outcomes every run must reach)
    "events": (STREAMS, BODIES, {202, 400, 404, 413, 415, 422}),
    "sensorlogger": (
        st.just("sensor"),
        st.one_of(SENSOR_BODIES, SENSOR_BODIES, BODIES),
        {200, 400, 413, 415, 422, 499},
    ),
}

OVERSIZED = b"[" + b" " * 9000 + b"]"  # over the test app's max_body_bytes of 8192
GOOD_READING = {"name": "gyroscope", "time": 1_717_171_717_000_000_000, "values": {"x": 1.0}}
BAD_READING = {"name": "gyroscope", "time": "yesterday", "values": {"x": 1.0}}


def sensor_body(readings: list[dict[str, Any]]) -> bytes:
    return encode({"messageId": 1, "sessionId": "s", "deviceId": "d", "payload": readings})


# One explicit example per outcome (and a partial acceptance), run first on every run. The
# random search reaches each of them only most of the time: the rare ones (413 needs a known
# stream, a valid Content-Type AND a body over the limit) were missed in about 1 run in 6,
# which made the coverage assertion below fail at random although the API was right.
EXAMPLES: dict[str, list[tuple[str, bytes, str]]] = {
    "events": [
        ("app_logs", encode(event(1)) + b"\n{}\n", "application/x-ndjson"),  # 202, partial
        ("app_logs", b"{", "application/json"),  # 400
        ("nope", b"{}", "application/json"),  # 404
        ("app_logs", OVERSIZED, "application/json"),  # 413
        ("app_logs", b"{}", "text/plain"),  # 415
        ("app_logs", b"7", "application/json"),  # 422
    ],
    "sensorlogger": [
        ("sensor", sensor_body([GOOD_READING, BAD_READING]), "application/json"),  # 200, partial
        ("sensor", b"{", "application/json"),  # 400
        ("sensor", OVERSIZED, "application/json"),  # 413
        ("sensor", b"{}", "text/plain"),  # 415
        ("sensor", b"7", "application/json"),  # 422
        ("sensor", sensor_body([BAD_READING]), "application/json"),  # 499
    ],
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_no_input_gives_5xx_and_counts_match_the_log(tmp_path: Path, route: str) -> None:
    streams, bodies, outcomes = ROUTES[route]
    log = SqliteLog(tmp_path / "log")
    app = create_app(
        Pipeline.model_validate(PIPELINE), log, token=None, reader=None, max_body_bytes=8192
    )

    async def send(path: str, body: bytes, content_type: str) -> httpx.Response:
        # raise_app_exceptions: an unhandled error fails the test instead of becoming a 500
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(path, content=body, headers={"content-type": content_type})

    seen: Counter[int | str] = Counter()

    def check(stream: str, body: bytes, content_type: str) -> None:
        before = offsets(log)
        path = (
            "/v1/sensorlogger"
            if route == "sensorlogger"
            else f"/v1/streams/{quote(stream, safe='')}/events"
        )
        target = stream
        response = asyncio.run(send(path, body, content_type))
        assert response.status_code < 500, response.text
        seen[response.status_code] += 1
        seen["partial"] += response.status_code in (200, 202) and answer_has_both(response)
        answer = response.json()
        after = offsets(log)
        if response.status_code in (200, 202, 499):
            assert after[target] - before[target] == answer["accepted"]
            dead = dead_letters_since(log, before[DEAD_LETTER_STREAM])
            assert len(dead) == answer["rejected"]
            assert {d["stream"] for d in dead} <= {target}
            assert [d["index"] for d in dead][: len(answer["errors"])] == [
                e["index"] for e in answer["errors"]
            ]
            assert len(answer["errors"]) == min(answer["rejected"], 100)
        else:
            assert set(answer) == {"error", "detail"}
            assert after == before

    test = given(streams, bodies, CONTENT_TYPES)(check)
    for args in reversed(EXAMPLES[route]):  # decorators apply bottom-up: keep listed order
        test = example(*args)(test)
    test = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])(
        test
    )
    try:
        test()
    finally:
        print(dict(seen))
        app.state.appender.close()
        log.close()
    # every outcome must be exercised, or this test proves little
    assert outcomes <= set(seen), seen
    assert seen["partial"] > 0, seen
