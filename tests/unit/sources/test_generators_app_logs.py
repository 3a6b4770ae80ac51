"""app_logs events: fields, ranges and the distributions the dashboard relies on."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest

from streamdash.sources.generators import generate

START_US = 1_700_000_000_000_000
KEYS = [
    "application_id",
    "timestamp",
    "method",
    "endpoint",
    "status_code",
    "latency_ms",
    "level",
    "message",
]


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return list(generate("app_logs", count=20_000, seed=5, start_us=START_US))


@pytest.fixture(scope="module")
def events(lines: list[bytes]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in lines]


def test_every_event_has_exactly_the_product_fields_in_order(events: list[dict[str, Any]]) -> None:
    for event in events[:500]:
        assert list(event) == KEYS


def test_fast_path_writes_what_a_json_encoder_would(lines: list[bytes]) -> None:
    for line in lines:
        assert msgspec.json.encode(msgspec.json.decode(line)) == line


def test_values_are_in_range(events: list[dict[str, Any]]) -> None:
    assert {e["application_id"] for e in events} == {f"app-{i}" for i in range(1, 6)}
    assert {e["method"] for e in events} == {"GET", "POST", "PUT", "DELETE"}
    assert all(e["endpoint"].startswith("/") for e in events)
    assert all(isinstance(e["latency_ms"], float) and e["latency_ms"] > 0 for e in events)
    assert all(round(e["latency_ms"], 2) == e["latency_ms"] for e in events)
    assert all(100 <= e["status_code"] < 600 for e in events)


def test_methods_are_get_heavy(events: list[dict[str, Any]]) -> None:
    methods = Counter(e["method"] for e in events)
    assert methods["GET"] > methods["POST"] > methods["PUT"] > methods["DELETE"] > 0
    assert 0.55 < methods["GET"] / len(events) < 0.65


def test_status_is_mostly_success_with_a_few_server_errors(events: list[dict[str, Any]]) -> None:
    codes = Counter(e["status_code"] for e in events)
    success = codes[200] + codes[201]
    server = sum(n for code, n in codes.items() if code >= 500)
    client = sum(n for code, n in codes.items() if 400 <= code < 500)
    assert success / len(events) > 0.85
    assert 0.02 <= server / len(events) <= 0.05
    assert client > 0


def test_error_rates_differ_between_applications(events: list[dict[str, Any]]) -> None:
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for event in events:
        totals[event["application_id"]] += 1
        errors[event["application_id"]] += event["status_code"] >= 500
    rates = sorted(errors[app] / totals[app] for app in totals)
    assert rates[-1] - rates[0] > 0.02


def test_level_matches_status(events: list[dict[str, Any]]) -> None:
    for event in events:
        code = event["status_code"]
        expected = "ERROR" if code >= 500 else "WARN" if code >= 400 else "INFO"
        assert event["level"] == expected, event
        assert str(code) in event["message"]


def test_latency_depends_on_the_endpoint(events: list[dict[str, Any]]) -> None:
    def median(endpoint: str) -> float:
        values: list[float] = sorted(e["latency_ms"] for e in events if e["endpoint"] == endpoint)
        return values[len(values) // 2]

    assert median("/health") < median("/api/users") < median("/api/checkout")


def test_post_success_is_201_and_other_success_200(events: list[dict[str, Any]]) -> None:
    for event in events:
        if event["status_code"] in (200, 201):
            assert (event["status_code"] == 201) == (event["method"] == "POST")
