"""An independent, plain-Python model of the engine's semantics, event by event, to
compare the vectorised engine against (no numpy, no DuckDB, no sketches)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NO_TIME = None


@dataclass
class Reference:
    lateness_us: int
    windows_of: Callable[[int], list[int]]
    """Window starts containing an event time (empty list: running view, key only)."""
    size_us: int
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    late_offsets: list[int] = field(default_factory=list)
    max_t: int | None = None

    def feed(
        self,
        offset: int,
        t_us: int,
        event: dict[str, Any],
        key: tuple[Any, ...],
        where: bool = True,
    ) -> None:
        wm = None if self.max_t is None else self.max_t - self.lateness_us
        starts = self.windows_of(t_us)
        if where:
            if not starts:
                self.groups[(None, *key)].append(event)
            else:
                live = [s for s in starts if wm is None or s + self.size_us > wm]
                if len(live) < len(starts):
                    self.late_offsets.append(offset)
                for s in live:
                    self.groups[(s, *key)].append(event)
        self.max_t = t_us if self.max_t is None else max(self.max_t, t_us)


def tumbling(size: int) -> Callable[[int], list[int]]:
    return lambda t: [t - t % size]


def hopping(size: int, every: int) -> Callable[[int], list[int]]:
    def starts(t: int) -> list[int]:
        last = t - t % every
        return [last - k * every for k in range(size // every)]

    return starts


def lower_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]
