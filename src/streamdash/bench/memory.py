"""Memory benchmark: RSS of the API and engine processes under a steady 20k events/s.

Sampled every `sample_every` seconds; the slope is a least-squares fit over the samples
after the first minute-or-tenth (start-up allocations and the first windows are not a leak).
A flat slope is what matters: state per window-key is bounded and closed windows are dropped.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

import psutil

from streamdash.bench.freshness import post_paced
from streamdash.bench.processes import running_pipeline
from streamdash.bench.report import Measure
from streamdash.bench.workload import scratch_dir

MB = 1 << 20


@dataclass
class RssSeries:
    process: str
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    uss_mb: list[float] = field(default_factory=list)
    """Unique set size: memory only this process holds (RSS minus shared libraries/pages)."""

    @property
    def start_mb(self) -> float:
        return self.rss_mb[0]

    @property
    def end_mb(self) -> float:
        return self.rss_mb[-1]

    @property
    def max_mb(self) -> float:
        return max(self.rss_mb)

    def slope_mb_per_min(self, after: float = 0.1) -> float:
        """Least-squares slope of RSS over the samples after the first `after` share of the
        run (the warm-up: start-up allocations and the first windows are not a leak)."""
        warm = self.seconds[-1] * after if self.seconds else 0.0
        points = [(t, m) for t, m in zip(self.seconds, self.rss_mb, strict=True) if t >= warm]
        if len(points) < 2:
            return 0.0
        mean_t = sum(t for t, _ in points) / len(points)
        mean_m = sum(m for _, m in points) / len(points)
        var = sum((t - mean_t) ** 2 for t, _ in points)
        cov = sum((t - mean_t) * (m - mean_m) for t, m in points)
        return cov / var * 60 if var else 0.0


@dataclass
class MemoryResult:
    seconds: float
    rate: float
    events: int
    series: list[RssSeries]

    def measures(self) -> list[Measure]:
        out: list[Measure] = []
        for s in self.series:
            out += [
                Measure("memory", f"{s.process} RSS start", s.start_mb, "MB"),
                Measure("memory", f"{s.process} RSS end", s.end_mb, "MB"),
                Measure("memory", f"{s.process} RSS max", s.max_mb, "MB"),
                Measure("memory", f"{s.process} RSS slope", s.slope_mb_per_min(), "MB/min"),
                Measure(
                    "memory",
                    f"{s.process} RSS slope, 2nd half",
                    s.slope_mb_per_min(after=0.5),
                    "MB/min",
                ),
            ]
            if s.uss_mb:
                out.append(Measure("memory", f"{s.process} USS end", s.uss_mb[-1], "MB"))
        return out


def _sample(series: RssSeries, process: psutil.Process, now: float) -> None:
    series.seconds.append(now)
    series.rss_mb.append(float(process.memory_info().rss) / MB)
    # reads /proc/PID/smaps: may be refused for another user's process
    with contextlib.suppress(psutil.AccessDenied):
        series.uss_mb.append(float(process.memory_full_info().uss) / MB)


def run_memory_benchmark(
    seconds: float = 600.0, *, rate: float = 20_000.0, sample_every: float = 10.0
) -> MemoryResult:
    with scratch_dir("memory") as tmp, running_pipeline(tmp) as pipeline:
        processes = {
            "api": psutil.Process(pipeline.api.pid),
            "engine": psutil.Process(pipeline.engine.pid),
        }
        series = {name: RssSeries(name) for name in processes}
        stop = threading.Event()
        posted: list[int] = []
        errors: list[BaseException] = []

        def feed() -> None:
            try:
                batches = post_paced(pipeline, rate, seconds, 0.05, stop)
                posted.append(batches[-1].log_end if batches else 0)
            except BaseException as err:  # surfaced below; a dead feeder must fail the run
                errors.append(err)

        feeder = threading.Thread(target=feed, name="memory-feeder", daemon=True)
        began = time.monotonic()
        feeder.start()
        try:
            while True:
                now = time.monotonic() - began
                for name, process in processes.items():
                    _sample(series[name], process, now)
                if not feeder.is_alive() or now >= seconds:
                    break
                stop.wait(min(sample_every, max(0.0, seconds - now)))
        finally:
            stop.set()
            feeder.join()
    if errors:
        raise RuntimeError(f"the feeder failed: {errors[0]!r}") from errors[0]
    return MemoryResult(seconds, rate, posted[0] if posted else 0, list(series.values()))
