"""Durations in specs: `10s`, `500ms`, `1m`, `5min`, `1h`, `1d`, or a bare number of seconds."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS_US = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "sec": 1_000_000,
    "m": 60_000_000,
    "min": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|sec|s|min|m|h|d)\s*$")


def parse_duration_us(value: object) -> int:
    """Return the duration in whole microseconds; raise ValueError naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '10s', '500ms', '5min', got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return int(value * 1_000_000)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return int(float(match.group(1)) * _UNITS_US[match.group(2)])
    raise ValueError(
        f"expected a duration like '10s', '500ms', '5min', '1h' or a number of seconds, "
        f"got {value!r}"
    )


def format_duration_us(us: int) -> str:
    """The shortest exact spelling of a duration, for messages and round-trips."""
    for unit, size in (
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("min", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
    ):
        if us and us % size == 0:
            return f"{us // size}{unit}"
    return f"{us}us"


Duration = Annotated[
    int,
    BeforeValidator(parse_duration_us),
    PlainSerializer(format_duration_us, return_type=str),
]
"""A duration field: written as text in YAML, held as integer microseconds."""
