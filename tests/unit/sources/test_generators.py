"""The generator contract shared by all built-in streams: registry, options, determinism,
event-time schedule, and the late and bad shares (judged only by validating the output)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest

from streamdash.sources.generators import GENERATORS, GeneratorError, generate
from streamdash.sources.generators.options import GeneratorOptions

START_US = 1_700_000_000_000_000
WATERMARK_US = 10_000_000
MAX_STRING = 65_535
STREAMS = ("app_logs", "sensor", "user_events", "interactions", "users")

Field = tuple[tuple[str, ...], tuple[type, ...], frozenset[str] | None, bool]
"""(path, accepted types, allowed values or None, nullable)"""
NUMBER = (int, float)


def field(
    path: str, types: tuple[type, ...], enum: set[str] | None = None, nullable: bool = False
) -> Field:
    return (tuple(path.split(".")), types, None if enum is None else frozenset(enum), nullable)


SCHEMAS: dict[str, list[Field]] = {
    "app_logs": [
        field("application_id", (str,)),
        field("timestamp", (int,)),
        field("method", (str,), {"GET", "POST", "PUT", "DELETE"}),
        field("endpoint", (str,)),
        field("status_code", (int,)),
        field("latency_ms", NUMBER),
        field("level", (str,), {"INFO", "WARN", "ERROR"}),
        field("message", (str,)),
    ],
    "user_events": [
        field("event_id", (str,)),
        field("event_type", (str,), {"click", "purchase"}),
        field("user_id", (str,)),
        field("campaign_id", (str,)),
        field("timestamp", (str,)),
        *(field(name, (str,), nullable=True) for name in ("product_id", "order_id", "currency")),
        field("units", (int,), nullable=True),
        field("unit_price", NUMBER, nullable=True),
        field("total_amount", NUMBER, nullable=True),
        *(
            field(name, (str,), nullable=True)
            for name in ("page_url", "user_agent", "ip_address", "payment_method")
        ),
        field("shipping_address", (str,), nullable=True),
        field("metadata", (dict,), nullable=True),
    ],
    "interactions": [
        field("user_id", (int,)),
        field("item_id", (int,)),
        field("interaction_type", (str,), {"click", "view", "purchase"}),
        field("timestamp", NUMBER),
    ],
    "users": [
        field("id", (str,)),
        field("created_at", (str,)),
        field("gender", (str,)),
        *(field(f"name.{key}", (str,)) for key in ("title", "first", "last")),
        *(
            field(f"location.{key}", (str,))
            for key in ("street", "city", "state", "country", "postcode")
        ),
        field("email", (str,)),
        field("login.username", (str,)),
        field("dob.date", (str,)),
        field("dob.age", (int,)),
        field("registered.date", (str,)),
        field("registered.age", (int,)),
        field("phone", (str,)),
        *(field(f"picture.{key}", (str,)) for key in ("large", "medium", "thumbnail")),
        field("nat", (str,)),
    ],
}

TIME_FIELDS = {"app_logs": "timestamp", "user_events": "timestamp", "interactions": "timestamp"}


def problem(stream: str, line: bytes) -> str | None:
    """Why a strict validator would reject the item (json/missing/type/enum/oversize)."""
    try:
        item = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return "json"
    if not isinstance(item, dict):
        return "json"
    if stream == "sensor":
        return sensor_problem(item)
    for path, types, enum, nullable in SCHEMAS[stream]:
        value: Any = item
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return "missing"
            value = value[key]
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            return "type"
        if isinstance(value, str) and len(value) > MAX_STRING:
            return "oversize"
        if enum is not None and value not in enum:
            return "enum"
    return None


def sensor_problem(body: dict[str, Any]) -> str | None:
    top = {"messageId": int, "sessionId": str, "deviceId": str, "payload": list}
    for key, kind in top.items():
        if key not in body:
            return "missing"
        if not isinstance(body[key], kind) or isinstance(body[key], bool):
            return "type"
        if isinstance(body[key], str) and len(body[key]) > MAX_STRING:
            return "oversize"
    for reading in body["payload"]:
        if "time" not in reading or "name" not in reading or "values" not in reading:
            return "missing"
        if not isinstance(reading["time"], int) or not isinstance(reading["values"], dict):
            return "type"
    return None


def iso_us(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(moment.timestamp() * 1_000_000)


EVENT_TIME_US: dict[str, Callable[[dict[str, Any]], int]] = {
    "app_logs": lambda e: e["timestamp"] * 1000,
    "user_events": lambda e: iso_us(e["timestamp"]),
    "interactions": lambda e: round(e["timestamp"] * 1_000_000),
    "users": lambda e: iso_us(e["created_at"]),
    "sensor": lambda body: max(r["time"] for r in body["payload"]) // 1000,
}


def items(stream: str, count: int = 200, seed: int = 7, **options: Any) -> list[bytes]:
    return list(generate(stream, count=count, seed=seed, start_us=START_US, **options))


def test_registry_has_exactly_the_five_built_in_streams() -> None:
    assert set(GENERATORS) == set(STREAMS)


def test_registry_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        GENERATORS["extra"] = GENERATORS["users"]  # type: ignore[index]


def test_unknown_stream_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(GeneratorError, match=r"'clicks'.*app_logs, interactions, sensor"):
        generate("clicks", count=1, seed=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"count": -1}, "count must be an integer >= 0"),
        ({"seed": -5}, "seed must be an integer >= 0"),
        ({"rate": 0.0}, "rate must be"),
        ({"rate": float("inf")}, "rate must be"),
        ({"late_fraction": 1.5}, "late_fraction must be a number between 0 and 1"),
        ({"bad_fraction": -0.1}, "bad_fraction must be a number between 0 and 1"),
        ({"start_us": -1}, "start_us must be epoch microseconds"),
    ],
)
def test_invalid_options_are_refused_before_anything_is_generated(
    options: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"count": 10, "seed": 1, **options}
    with pytest.raises(GeneratorError, match=message):
        generate("app_logs", **arguments)


@pytest.mark.parametrize("stream", STREAMS)
def test_same_seed_gives_byte_identical_output(stream: str) -> None:
    options: dict[str, Any] = {"late_fraction": 0.1, "bad_fraction": 0.1, "rate": 50.0}
    assert items(stream, **options) == items(stream, **options)


@pytest.mark.parametrize("stream", STREAMS)
def test_different_seeds_give_different_output(stream: str) -> None:
    first, second = items(stream, seed=1), items(stream, seed=2)
    assert len(first) == len(second) == 200
    assert sum(a != b for a, b in zip(first, second, strict=True)) > 150


def test_streams_with_the_same_seed_are_unrelated() -> None:
    assert items("app_logs")[:5] != items("app_logs", seed=8)[:5]
    assert items("interactions")[0] != items("app_logs")[0]


@pytest.mark.parametrize("stream", STREAMS)
def test_items_are_single_json_objects_without_newlines(stream: str) -> None:
    for line in items(stream, bad_fraction=0.3):
        assert b"\n" not in line
    for line in items(stream):
        assert isinstance(msgspec.json.decode(line), dict)
        assert problem(stream, line) is None


@pytest.mark.parametrize("stream", STREAMS)
def test_count_zero_yields_nothing(stream: str) -> None:
    assert items(stream, count=0) == []


@pytest.mark.parametrize("stream", STREAMS)
def test_event_times_follow_start_and_rate(stream: str) -> None:
    schedule = GeneratorOptions(count=50, seed=3, start_us=START_US, rate=4.0)
    for index, line in enumerate(items(stream, count=50, seed=3, rate=4.0)):
        event_us = EVENT_TIME_US[stream](msgspec.json.decode(line))
        # Times are written with millisecond precision (sensor: ns); 250 ms apart here.
        assert abs(event_us - schedule.scheduled_time_us(index)) < 1000
        assert schedule.scheduled_time_us(index) == START_US + index * 250_000


def test_default_rate_spaces_events_one_millisecond_apart() -> None:
    times = [msgspec.json.decode(line)["timestamp"] for line in items("app_logs", count=5)]
    assert times == [START_US // 1000 + i for i in range(5)]


def test_default_start_is_now_in_whole_seconds() -> None:
    import time

    before = time.time()
    first = msgspec.json.decode(next(generate("app_logs", count=1, seed=0)))["timestamp"]
    assert first % 1000 == 0
    assert before - 1 <= first / 1000 <= time.time()


@pytest.mark.parametrize("stream", STREAMS)
def test_late_and_bad_fractions_give_about_those_shares(stream: str) -> None:
    count = 4000 if stream == "sensor" else 10_000
    lines = items(stream, count=count, seed=11, late_fraction=0.1, bad_fraction=0.1)
    schedule = GeneratorOptions(count=count, seed=11, start_us=START_US)
    problems = Counter(problem(stream, line) for line in lines)
    bad = count - problems[None]
    assert abs(bad / count - 0.1) < 0.02, problems
    expected_kinds = {"json", "missing", "type", "oversize"} | (
        set() if stream in ("sensor", "users") else {"enum"}
    )
    assert set(problems) - {None} == expected_kinds, "each kind of fault should occur"

    late = 0
    for index, line in enumerate(lines):
        if problem(stream, line) is not None:
            continue
        behind = schedule.scheduled_time_us(index) - EVENT_TIME_US[stream](
            msgspec.json.decode(line)
        )
        if behind > WATERMARK_US:
            assert 30_000_000 <= behind <= 120_001_000
            late += 1
        else:
            assert -1000 < behind < 1000, "an on-time event sits at its place in the schedule"
    assert abs(late / problems[None] - 0.1) < 0.02


@pytest.mark.parametrize("stream", STREAMS)
def test_late_and_bad_fractions_leave_the_other_events_unchanged(stream: str) -> None:
    plain = items(stream, count=300)
    mixed = items(stream, count=300, late_fraction=0.2, bad_fraction=0.2)
    unchanged = sum(a == b for a, b in zip(plain, mixed, strict=True))
    # About 0.8 * 0.8 of the items are neither late nor bad, hence byte-identical.
    assert 0.55 < unchanged / 300 < 0.75


@pytest.mark.parametrize("stream", STREAMS)
def test_fractions_of_zero_and_one(stream: str) -> None:
    assert all(problem(stream, line) is None for line in items(stream, bad_fraction=0.0))
    assert all(problem(stream, line) is not None for line in items(stream, bad_fraction=1.0))
