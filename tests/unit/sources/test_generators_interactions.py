"""interactions events: ids in range, type mix, epoch-second timestamps."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest

from streamdash.sources.generators import generate

START_US = 1_700_000_000_123_000


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    lines = generate("interactions", count=10_000, seed=2, start_us=START_US)
    return [msgspec.json.decode(line) for line in lines]


def test_shape(events: list[dict[str, Any]]) -> None:
    assert list(events[0]) == ["user_id", "item_id", "interaction_type", "timestamp"]


def test_ids_are_in_range_and_all_used(events: list[dict[str, Any]]) -> None:
    assert {e["user_id"] for e in events} == set(range(1, 101))
    assert {e["item_id"] for e in events} == set(range(1, 51))


def test_popular_ids_lead_so_top_tables_have_a_head(events: list[dict[str, Any]]) -> None:
    users = Counter(e["user_id"] for e in events)
    assert users[1] > 2 * users[100]


def test_interaction_types_are_about_45_45_10(events: list[dict[str, Any]]) -> None:
    kinds = Counter(e["interaction_type"] for e in events)
    assert set(kinds) == {"click", "view", "purchase"}
    assert abs(kinds["click"] / len(events) - 0.45) < 0.03
    assert abs(kinds["view"] / len(events) - 0.45) < 0.03
    assert abs(kinds["purchase"] / len(events) - 0.10) < 0.03


def test_timestamp_is_epoch_seconds_with_milliseconds(events: list[dict[str, Any]]) -> None:
    assert events[0]["timestamp"] == 1_700_000_000.123
    assert events[1]["timestamp"] == 1_700_000_000.124
    assert all(isinstance(e["timestamp"], float) for e in events)
