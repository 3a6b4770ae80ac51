"""Event-time clocks and watermarks per stream.

The watermark *before* each event is the largest event time of all earlier events in log
order minus the allowed lateness. Computing it per event (instead of once per batch) makes
lateness a function of the log alone, not of how the log was cut into batches — which is
what lets a replay after a crash reproduce exactly the same results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

NO_TIME = -(1 << 62)
"""Stands for "no event seen yet": far below any real time, yet far enough from the int64
limit that window arithmetic on it cannot overflow."""


@dataclass(frozen=True, slots=True)
class StreamClock:
    """Event-time progress of one stream."""

    max_us: int = NO_TIME
    """Largest event time seen, including advances made while the stream was idle."""
    anchor_us: int = NO_TIME
    """`max_us` when events last arrived: idle advance counts from here."""
    last_event_wall_us: int | None = None
    """Wall-clock time (the caller's `now_us`) when events last arrived."""

    def watermark(self, lateness_us: int) -> int | None:
        return None if self.max_us == NO_TIME else self.max_us - lateness_us

    def after_events(self, batch_max_us: int, now_us: int) -> StreamClock:
        new_max = max(self.max_us, batch_max_us)
        return StreamClock(new_max, new_max, now_us)

    def after_idle(self, now_us: int, idle_timeout_us: int) -> StreamClock:
        """Once the stream has been quiet for `idle_timeout_us` of wall time, event time
        moves with the wall clock from where it was when the last event arrived, so that
        windows of a stream that stopped still close."""
        if self.last_event_wall_us is None:
            return self
        quiet = now_us - self.last_event_wall_us
        if quiet < idle_timeout_us:
            return self
        advanced = max(self.max_us, self.anchor_us + quiet)
        return StreamClock(advanced, self.anchor_us, self.last_event_wall_us)


def watermarks_before(
    t: npt.NDArray[np.int64], previous_max_us: int, lateness_us: int
) -> npt.NDArray[np.int64]:
    """The watermark in force before each event (events in log order)."""
    if len(t) == 0:
        return np.empty(0, dtype=np.int64)
    running = np.maximum.accumulate(t)
    before = np.empty_like(t)
    before[0] = previous_max_us
    np.maximum(running[:-1], previous_max_us, out=before[1:])
    seen = before != NO_TIME
    return np.where(seen, before - lateness_us, NO_TIME)
