"""What one generator run is asked for: checked once, shared by every built-in stream."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from streamdash.errors import Fatal

DEFAULT_RATE = 1000.0
"""Events per second of *event time* when no rate is given. It only spaces the timestamps;
generators never sleep (real-time pacing is `pacing.paced`)."""

LATE_MIN_US = 30_000_000
LATE_MAX_US = 120_000_000
"""A late event's time lies this far behind its place in the schedule: always behind the
default 10 s watermark, so the engine must count it as late rather than window it."""


class GeneratorError(Fatal, ValueError):
    """A generator was asked for something it cannot produce (unknown stream, bad option)."""


@dataclass(frozen=True, slots=True)
class GeneratorOptions:
    """A validated request: `count` items, seeded, with event times from `start_us` on."""

    count: int
    seed: int
    start_us: int
    rate: float = DEFAULT_RATE
    late_fraction: float = 0.0
    bad_fraction: float = 0.0

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise GeneratorError("invalid generator options: " + "; ".join(problems))

    def scheduled_time_us(self, index: int) -> int:
        """Event time of item `index` before any lateness is applied.

        Same arithmetic as the vectorised `plan.item_batches` (int * 1e6 then one float
        division, floored), so tests can recompute the schedule exactly.
        """
        return self.start_us + math.floor(index * 1_000_000 / self.rate)


def _problems(options: GeneratorOptions) -> list[str]:
    problems = []
    if not _is_int(options.count) or options.count < 0:
        problems.append(f"count must be an integer >= 0, got {options.count!r}")
    # numpy's SeedSequence only takes non-negative entropy.
    if not _is_int(options.seed) or options.seed < 0:
        problems.append(f"seed must be an integer >= 0, got {options.seed!r}")
    if not _is_int(options.start_us) or options.start_us < 0:
        problems.append(f"start_us must be epoch microseconds >= 0, got {options.start_us!r}")
    if not _is_real(options.rate) or not math.isfinite(options.rate) or options.rate <= 0:
        problems.append(
            f"rate must be a finite number of events per second > 0, got {options.rate!r}"
        )
    for name in ("late_fraction", "bad_fraction"):
        value = getattr(options, name)
        if not _is_real(value) or not 0.0 <= value <= 1.0:
            problems.append(f"{name} must be a number between 0 and 1, got {value!r}")
    return problems


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def current_start_us() -> int:
    """Now, rounded down to the whole second, so default runs start on a window boundary."""
    return time.time_ns() // 1_000_000_000 * 1_000_000


def make_options(
    *,
    count: int,
    seed: int,
    start_us: int | None = None,
    rate: float | None = None,
    late_fraction: float = 0.0,
    bad_fraction: float = 0.0,
) -> GeneratorOptions:
    """Fill in the defaults (start now, 1000 events/s of event time) and validate."""
    return GeneratorOptions(
        count=count,
        seed=seed,
        start_us=current_start_us() if start_us is None else start_us,
        rate=DEFAULT_RATE if rate is None else rate,
        late_fraction=late_fraction,
        bad_fraction=bad_fraction,
    )
