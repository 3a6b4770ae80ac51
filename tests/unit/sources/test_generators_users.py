"""users: randomuser.me-shaped sign-up profiles in the shape of spec/builtin/users.yaml."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

import msgspec
import pytest

from streamdash.sources.generators import generate

START_US = 1_700_000_000_000_000
SHAPE = {
    "id": str,
    "created_at": str,
    "gender": str,
    "name": {"title": str, "first": str, "last": str},
    "location": {"street": str, "city": str, "state": str, "country": str, "postcode": str},
    "email": str,
    "login": {"username": str},
    "dob": {"date": str, "age": int},
    "registered": {"date": str, "age": int},
    "phone": str,
    "picture": {"large": str, "medium": str, "thumbnail": str},
    "nat": str,
}
ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def users() -> list[dict[str, Any]]:
    lines = generate("users", count=3000, seed=6, start_us=START_US)
    return [msgspec.json.decode(line) for line in lines]


def matches(value: Any, shape: Any) -> bool:
    if isinstance(shape, dict):
        return (
            isinstance(value, dict)
            and list(value) == list(shape)
            and all(matches(value[key], sub) for key, sub in shape.items())
        )
    return isinstance(value, shape) and not isinstance(value, bool)


def parse(text: str) -> datetime:
    assert ISO_MILLIS.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def whole_years(earlier: datetime, later: datetime) -> int:
    years = later.year - earlier.year
    return years - (
        (later.month, later.day, later.time()) < (earlier.month, earlier.day, earlier.time())
    )


def test_every_profile_has_exactly_the_shape(users: list[dict[str, Any]]) -> None:
    assert all(matches(user, SHAPE) for user in users)


def test_created_at_is_the_event_time(users: list[dict[str, Any]]) -> None:
    assert users[0]["created_at"] == "2023-11-14T22:13:20.000Z"
    assert users[1]["created_at"] == "2023-11-14T22:13:20.001Z"


def test_ages_agree_with_the_dates(users: list[dict[str, Any]]) -> None:
    for user in users:
        created = parse(user["created_at"])
        born, registered = parse(user["dob"]["date"]), parse(user["registered"]["date"])
        assert user["dob"]["age"] == whole_years(born, created)
        assert user["registered"]["age"] == whole_years(registered, created)
        assert 18 <= user["dob"]["age"] <= 75
        assert born < registered <= created


def test_values_vary_and_look_like_randomuser(users: list[dict[str, Any]]) -> None:
    assert {u["gender"] for u in users} == {"male", "female"}
    nats = Counter(u["nat"] for u in users)
    assert len(nats) >= 5
    assert len({u["id"] for u in users}) == len(users)
    for user in users:
        assert user["email"].endswith("@example.com") and user["email"].isascii()
        assert user["picture"]["large"].startswith("https://randomuser.me/api/portraits/")
        folder = "women" if user["gender"] == "female" else "men"
        assert f"/{folder}/" in user["picture"]["thumbnail"]


def test_non_ascii_names_survive_encoding(users: list[dict[str, Any]]) -> None:
    assert any(not user["name"]["first"].isascii() for user in users)
