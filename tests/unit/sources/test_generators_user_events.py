"""user_events (Avro `UserEvent`): click/purchase mix, null order fields on clicks,
amounts, and the id conventions the join and derived fields of the built-in spec use."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import msgspec
import pytest

from streamdash.sources.generators import generate

START_US = 1_700_000_000_000_000
ORDER_FIELDS = (
    "product_id",
    "order_id",
    "units",
    "unit_price",
    "total_amount",
    "currency",
    "payment_method",
    "shipping_address",
)
KEYS = [
    "event_id",
    "event_type",
    "user_id",
    "campaign_id",
    "timestamp",
    "product_id",
    "order_id",
    "units",
    "unit_price",
    "total_amount",
    "currency",
    "page_url",
    "user_agent",
    "ip_address",
    "payment_method",
    "shipping_address",
    "metadata",
]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    lines = generate("user_events", count=10_000, seed=9, start_us=START_US)
    return [msgspec.json.decode(line) for line in lines]


def test_fields_in_schema_order(events: list[dict[str, Any]]) -> None:
    assert all(list(event) == KEYS for event in events)


def test_click_purchase_mix_is_80_20(events: list[dict[str, Any]]) -> None:
    types = Counter(e["event_type"] for e in events)
    assert set(types) == {"click", "purchase"}
    assert abs(types["purchase"] / len(events) - 0.2) < 0.03


def test_order_fields_are_null_for_clicks_and_set_for_purchases(
    events: list[dict[str, Any]],
) -> None:
    for event in events:
        values = [event[name] for name in ORDER_FIELDS]
        if event["event_type"] == "click":
            assert values == [None] * len(values)
        else:
            assert None not in values
            assert event["total_amount"] == round(event["units"] * event["unit_price"], 2)
            assert 1 <= event["units"] <= 5


def test_some_purchases_are_high_value(events: list[dict[str, Any]]) -> None:
    amounts = [e["total_amount"] for e in events if e["event_type"] == "purchase"]
    high = sum(amount > 100 for amount in amounts)
    assert 0.2 < high / len(amounts) < 0.9


def test_ids_follow_the_spec_conventions(events: list[dict[str, Any]]) -> None:
    assert {e["user_id"] for e in events} == {f"user_{i}" for i in range(1, 101)}
    campaign_types = {e["campaign_id"].split("_")[0] for e in events}
    assert campaign_types == {"email", "social", "search", "display", "affiliate"}
    assert len({e["campaign_id"] for e in events}) == 8
    assert all(UUID.match(e["event_id"]) for e in events)
    assert len({e["event_id"] for e in events}) == len(events)


def test_timestamp_is_iso_utc_with_milliseconds(events: list[dict[str, Any]]) -> None:
    assert events[0]["timestamp"] == "2023-11-14T22:13:20.000Z"
    assert events[1]["timestamp"] == "2023-11-14T22:13:20.001Z"


def test_always_present_fields(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert event["page_url"].startswith("https://")
        assert event["user_agent"].startswith("Mozilla/5.0")
        assert len(event["ip_address"].split(".")) == 4
        metadata = event["metadata"]
        assert metadata and all(isinstance(v, str) for v in metadata.values())
