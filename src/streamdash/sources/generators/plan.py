"""The per-item plan every stream shares: event time (with lateness) and fault, in batches.

Drawn vectorised with numpy, from random streams separate from the content, so the same
seed yields the same events whatever the late and bad fractions are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from streamdash.sources.generators.faults import Fault
from streamdash.sources.generators.options import LATE_MAX_US, LATE_MIN_US, GeneratorOptions
from streamdash.sources.generators.seeding import numpy_rng

BATCH_SIZE = 8192
"""Items planned per numpy call: large enough to amortise numpy, small enough for memory."""


@dataclass(frozen=True, slots=True)
class ItemBatch:
    """Items `[first, first + len(times_us))`: event time (us) and fault (None = valid)."""

    first: int
    times_us: np.ndarray
    faults: list[Fault | None]

    def __len__(self) -> int:
        return len(self.faults)


def item_batches(
    options: GeneratorOptions,
    stream: str,
    kinds: tuple[Fault, ...],
    batch_size: int = BATCH_SIZE,
) -> Iterator[ItemBatch]:
    """Plan `options.count` items of `stream`, whose faults are drawn from `kinds`."""
    timing = numpy_rng(options.seed, stream, "timing")
    faulting = numpy_rng(options.seed, stream, "faults")
    for first in range(0, options.count, batch_size):
        size = min(batch_size, options.count - first)
        index = np.arange(first, first + size, dtype=np.int64)
        times = options.start_us + np.floor(index * 1_000_000 / options.rate).astype(np.int64)
        late = timing.random(size) < options.late_fraction
        behind = timing.integers(LATE_MIN_US, LATE_MAX_US, size, endpoint=True)
        # Clamped so a start near the epoch never yields a negative time.
        times = np.maximum(np.where(late, times - behind, times), 0)
        bad = faulting.random(size) < options.bad_fraction
        kind = faulting.integers(0, len(kinds), size)
        faults = [kinds[k] if b else None for b, k in zip(bad.tolist(), kind.tolist(), strict=True)]
        yield ItemBatch(first=first, times_us=times, faults=faults)
