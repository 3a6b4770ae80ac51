"""Deterministic synthetic events for the five built-in streams (see docs/product.md).

`generate(stream, count=..., seed=...)` yields one JSON object per item, as bytes without a
trailing newline; the same arguments give byte-identical output. Event times start at
`start_us` and advance by `1 / rate` seconds per item; generators never sleep (wrap them in
`paced` for real time). `late_fraction` of the items get a time 30-120 s behind their place
in the schedule; `bad_fraction` are malformed in one of several seeded ways, unmarked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from streamdash.sources.generators.app_logs import generate_app_logs
from streamdash.sources.generators.demographics import demographics_rows
from streamdash.sources.generators.interactions import generate_interactions
from streamdash.sources.generators.options import GeneratorError, GeneratorOptions, make_options
from streamdash.sources.generators.pacing import paced
from streamdash.sources.generators.sensor import generate_sensor
from streamdash.sources.generators.user_events import generate_user_events
from streamdash.sources.generators.users import generate_users

StreamGenerator = Callable[[GeneratorOptions], Iterator[bytes]]
TableGenerator = Callable[[int, int, int], list[dict[str, Any]]]
"""`(count, seed, version) -> rows`; each version is the previous one with a few rows changed."""

GENERATORS: Mapping[str, StreamGenerator] = MappingProxyType(
    {
        "app_logs": generate_app_logs,
        "sensor": generate_sensor,
        "user_events": generate_user_events,
        "interactions": generate_interactions,
        "users": generate_users,
    }
)
"""Stream name -> generator. Read-only: streams are added here, not at run time."""

TABLE_GENERATORS: Mapping[str, TableGenerator] = MappingProxyType(
    {"user_demographics": demographics_rows}
)
"""Reference-table name -> row generator, as named by a spec's `source: {generator: ...}`."""

__all__ = [
    "GENERATORS",
    "TABLE_GENERATORS",
    "GeneratorError",
    "GeneratorOptions",
    "demographics_rows",
    "generate",
    "paced",
    "table_rows",
]


def generate(
    stream: str,
    *,
    count: int,
    seed: int,
    start_us: int | None = None,
    rate: float | None = None,
    late_fraction: float = 0.0,
    bad_fraction: float = 0.0,
) -> Iterator[bytes]:
    """Yield `count` items of built-in `stream` (for `sensor`, one app push body each).

    `start_us` defaults to now (whole seconds) and `rate` to 1000 items per second of event
    time. Raises GeneratorError for an unknown stream or an invalid option, before yielding.
    """
    generator = GENERATORS.get(stream)
    if generator is None:
        known = ", ".join(sorted(GENERATORS))
        raise GeneratorError(f"no generator for stream {stream!r}; expected one of: {known}")
    options = make_options(
        count=count,
        seed=seed,
        start_us=start_us,
        rate=rate,
        late_fraction=late_fraction,
        bad_fraction=bad_fraction,
    )
    return generator(options)


def table_rows(table: str, *, count: int, seed: int, version: int = 0) -> list[dict[str, Any]]:
    """Rows of a generated reference table; raise GeneratorError for an unknown table."""
    generator = TABLE_GENERATORS.get(table)
    if generator is None:
        known = ", ".join(sorted(TABLE_GENERATORS))
        raise GeneratorError(f"no generator for table {table!r}; expected one of: {known}")
    return generator(count, seed, version)
