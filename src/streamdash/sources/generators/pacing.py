"""Releasing items in real time at a steady rate, without drift.

Item `i` is due at `start + i / rate` on the monotonic clock. Sleeping until a fixed schedule
(rather than `sleep(1 / rate)` after each item) means time spent by the consumer or lost to
oversleeping is absorbed instead of accumulating. Items are released in small bursts, one
`tick` apart, because one sleep per event cannot keep up at thousands of events a second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from streamdash.sources.generators.options import GeneratorError

T = TypeVar("T")

DEFAULT_TICK_S = 0.01


def paced(
    items: Iterable[T],
    rate: float,
    *,
    tick: float = DEFAULT_TICK_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """Yield `items` at `rate` per second of wall-clock time, in bursts about `tick` apart.

    A consumer that falls behind gets the overdue items at once (the schedule is kept, so
    the long-run rate stays `rate`). `clock` and `sleep` are injectable for tests.
    """
    if not math.isfinite(rate) or rate <= 0:
        raise GeneratorError(f"rate must be a finite number of items per second > 0, got {rate!r}")
    if not math.isfinite(tick) or tick <= 0:
        raise GeneratorError(f"tick must be a finite number of seconds > 0, got {tick!r}")
    burst = max(1, round(rate * tick))
    start = clock()
    for index, item in enumerate(items):
        if index and index % burst == 0:
            delay = start + index / rate - clock()
            if delay > 0:
                sleep(delay)
        yield item
