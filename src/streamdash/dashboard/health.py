"""The overview page's numbers per stream: events/s received and processed, lag,
watermark delay, late and rejected counts, latest event time, and a short rate history.

Read from the store (`streamdash_offsets`, `streamdash_counters`) and, when the data dir
is local, the embedded log's end offsets — never from the engine's memory. Rates are
differences between samples; `HealthTracker.sample` is called through the shared cache,
so all viewers see (and pay for) one sample per tick.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streamdash.log.base import Log
from streamdash.spec.models import Pipeline
from streamdash.store.reader import ResultReader

HISTORY = 120
"""Samples of rate history kept per stream (about two minutes at one per second)."""


@dataclass(frozen=True)
class StreamHealth:
    stream: str
    received: int | None
    """Events in the log (None: the log is not readable from here, e.g. Kafka)."""
    processed: int
    in_rate: float | None
    out_rate: float | None
    watermark_us: int | None
    lateness_us: int
    late: int
    rejected: int
    history: tuple[float, ...] = ()
    """Recent processed events/s, oldest first (the sparkline)."""

    @property
    def lag(self) -> int | None:
        return None if self.received is None else max(self.received - self.processed, 0)

    def watermark_delay_s(self, now_us: float) -> float | None:
        return None if self.watermark_us is None else (now_us - self.watermark_us) / 1e6

    @property
    def latest_event_us(self) -> int | None:
        """The newest event time seen: the watermark trails it by the allowed lateness."""
        return None if self.watermark_us is None else self.watermark_us + self.lateness_us


@dataclass
class _Sample:
    at: float
    received: int | None
    processed: int


@dataclass
class HealthTracker:
    """Keeps the previous sample of each stream to turn counts into rates."""

    pipeline: Pipeline
    reader: ResultReader
    log: Log | None = None
    consumer: str = "engine"
    clock: Callable[[], float] = time.monotonic
    progress: Callable[[], tuple[dict[str, int], dict[str, dict[str, int | None]]]] | None = None
    """With Kafka as the log: () -> (events per stream in its topic, per stream its committed
    `next_offset` and `watermark_us`), summed over the partitions (see kafka/progress.py)."""
    _last: dict[str, _Sample] = field(default_factory=dict)
    _history: dict[str, deque[float]] = field(default_factory=dict)

    def sample(self) -> list[StreamHealth]:
        """One reading of every stream (raises `StoreUnavailable` when the DB is down)."""
        ends: dict[str, int] | None = None
        if self.progress is not None:
            ends, offsets = self.progress()
        else:
            offsets = self.reader.offsets().get(self.consumer, {})
        counters = self.reader.counters()
        late = self._late_per_stream(counters)
        now = self.clock()
        out = []
        for name, spec in self.pipeline.streams.items():
            row = offsets.get(name, {})
            processed = int(row.get("next_offset") or 0)
            if ends is not None:
                received: int | None = ends.get(name, 0)
            else:
                received = self.log.end_offset(name) if self.log is not None else None
            current = _Sample(now, received, processed)
            in_rate, out_rate = self._rates(name, current)
            history = self._history.setdefault(name, deque(maxlen=HISTORY))
            if out_rate is not None:
                history.append(out_rate)
            mark = row.get("watermark_us")
            out.append(
                StreamHealth(
                    stream=name,
                    received=received,
                    processed=processed,
                    in_rate=in_rate,
                    out_rate=out_rate,
                    watermark_us=int(mark) if mark is not None else None,
                    lateness_us=spec.lateness,
                    late=late.get(name, 0),
                    rejected=int(counters.get(name, {}).get("rejected", 0)),
                    history=tuple(history),
                )
            )
        return out

    def _rates(self, name: str, current: _Sample) -> tuple[float | None, float | None]:
        previous = self._last.get(name)
        self._last[name] = current
        if previous is None or current.at <= previous.at:
            return None, None
        elapsed = current.at - previous.at
        out_rate = max(current.processed - previous.processed, 0) / elapsed
        in_rate = None
        if current.received is not None and previous.received is not None:
            in_rate = max(current.received - previous.received, 0) / elapsed
        return in_rate, out_rate

    def _late_per_stream(self, counters: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
        """Late events are counted per view; a stream's total is the sum over its views."""
        late: dict[str, int] = {}
        for view, spec in self.pipeline.views.items():
            count = int(counters.get(view, {}).get("late", 0))
            late[spec.from_] = late.get(spec.from_, 0) + count
        return late
