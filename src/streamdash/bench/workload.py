"""The shared workload and the same-run baseline: app_logs events from the built-in
generator, and the cost of merely decoding them with msgspec."""

from __future__ import annotations

import contextlib
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from streamdash.sources.generators import generate

STREAM = "app_logs"
VIEW = "application_metrics"
EVENT_RATE = 20_000.0
"""Event-time spacing of generated events (events/s): the rate of the latency benchmarks, so
the engine benchmark sees the same window sizes (~200k events per 10 s window)."""


def app_logs_lines(count: int, *, seed: int = 7, start_us: int | None = None) -> list[bytes]:
    """`count` app_logs events as JSON lines (no newline), event times ending about now."""
    if start_us is None:
        start_us = time.time_ns() // 1000 - int(count / EVENT_RATE * 1e6)
    return list(generate(STREAM, count=count, seed=seed, start_us=start_us, rate=EVENT_RATE))


def ndjson(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def msgspec_decode_rate(lines: list[bytes], repeat: int = 3) -> float:
    """Events/s of `msgspec.json.decode` of each line into Python objects (best of `repeat`):
    what merely looking at every event in Python costs, the floor every design must beat."""
    decode = msgspec.json.Decoder().decode
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for line in lines:
            decode(line)
        best = min(best, time.perf_counter() - started)
    return len(lines) / best


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); values need not be sorted."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory under the system temp dir, removed afterwards.

    Never under a home directory, and mode 755: as root the embedded PostgreSQL runs as a
    service account that must be able to enter it (mkdtemp makes 700 directories).
    """
    path = Path(tempfile.mkdtemp(prefix=f"streamdash-bench-{prefix}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
