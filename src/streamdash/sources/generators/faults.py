"""Malformed items for testing rejection paths: each bad item is broken in one seeded way.

Nothing in the payload says it is bad; a consumer can only tell by validating it, exactly as
with real traffic. Every fault is built so that a strict validator of the stream's schema
must reject it.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Any

import msgspec

OVERSIZE_CHARS = 70_000
"""Length of an oversize string: above 65,535, the largest `max_length` a built-in spec is
expected to allow for any string field, yet far below the 1 MiB event limit, so the item is
rejected by the schema and not by the transport."""

JsonPath = tuple[str | int, ...]
"""Keys and list indexes from the top of an event down to one value."""


class Fault(enum.Enum):
    BROKEN_JSON = "broken_json"
    MISSING_TIME = "missing_time"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_ENUM = "unknown_enum"
    OVERSIZE_STRING = "oversize_string"


@dataclass(frozen=True, slots=True)
class FaultTargets:
    """Where a stream's events can be broken: the event-time field, an integer field, a
    string field, and an enum field with values outside its allowed set (if it has one)."""

    time_path: JsonPath
    int_path: JsonPath
    text_path: JsonPath
    enum_path: JsonPath | None = None
    unknown_enum_values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.enum_path is None) != (not self.unknown_enum_values):
            raise ValueError("enum_path and unknown_enum_values must be given together")

    @property
    def kinds(self) -> tuple[Fault, ...]:
        """The faults this stream can exhibit (no enum field: no unknown-enum fault)."""
        if self.enum_path is None:
            return tuple(kind for kind in Fault if kind is not Fault.UNKNOWN_ENUM)
        return tuple(Fault)


_NOT_AN_INT = ("n/a", "", "unknown", "twelve", "NULL")
"""Strings no lax validator coerces to an integer (unlike "200", which pydantic accepts)."""


def malform(
    event: dict[str, Any], fault: Fault, targets: FaultTargets, rng: random.Random
) -> bytes:
    """Encode `event` broken by `fault`. Takes ownership of `event` (it may be mutated)."""
    if fault is Fault.BROKEN_JSON:
        return _break_json(msgspec.json.encode(event), rng)
    if fault is Fault.MISSING_TIME:
        parent, key = _parent(event, targets.time_path)
        del parent[key]
    elif fault is Fault.WRONG_TYPE:
        parent, key = _parent(event, targets.int_path)
        parent[key] = rng.choice((*_NOT_AN_INT, f"{parent[key]}ms"))
    elif fault is Fault.UNKNOWN_ENUM:
        if targets.enum_path is None:
            raise ValueError(f"fault {fault.value} needs an enum field; this stream has none")
        parent, key = _parent(event, targets.enum_path)
        parent[key] = rng.choice(targets.unknown_enum_values)
    else:
        parent, key = _parent(event, targets.text_path)
        parent[key] = _oversize(str(parent[key]), rng)
    return msgspec.json.encode(event)


def _parent(event: dict[str, Any], path: JsonPath) -> tuple[Any, Any]:
    container: Any = event
    for step in path[:-1]:
        container = container[step]
    return container, path[-1]


def _break_json(encoded: bytes, rng: random.Random) -> bytes:
    # Each variant is invalid JSON for any object, and none adds a newline (NDJSON-safe).
    variant = rng.randrange(4)
    if variant == 0:
        # Any proper prefix of an object is incomplete: a cut-off write.
        return encoded[: rng.randrange(1, len(encoded))]
    if variant == 1:
        return encoded + b"}"
    if variant == 2:
        return encoded[:-1] + b",}"
    return encoded.replace(b'"', b"'", 1)


def _oversize(original: str, rng: random.Random) -> str:
    token = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789 ", k=64))
    return (original + " " + token * (OVERSIZE_CHARS // len(token) + 1))[:OVERSIZE_CHARS]
