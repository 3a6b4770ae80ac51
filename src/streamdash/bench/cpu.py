"""CPU time of the processes of a benchmark run (a process and its children), so that a rate
can be read together with what it cost: on a 2-core machine shared with the broker,
PostgreSQL and other people's work, "twice the workers" is only twice the rate if there are
cores to run them on."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import psutil

Root = tuple[int, bool]
"""(pid, whether its descendants count too)"""


def _cpu_seconds(pid: int, descendants: bool) -> dict[int, float]:
    """pid -> user + system CPU seconds of `pid` (and its descendants; gone ones skipped)."""
    found: dict[int, float] = {}
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in [root, *(root.children(recursive=True) if descendants else [])]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                found[process.pid] = times.user + times.system
    return found


@dataclass
class CpuMeter:
    """`start()`, run, `stop()`: CPU seconds per named group of processes in between, and
    the wall time; `cores()` = CPU seconds / wall seconds per group."""

    groups: dict[str, list[Root]]
    """name -> the processes of the group."""
    seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    _before: dict[str, dict[int, float]] = field(default_factory=dict)
    _started: float = 0.0

    def start(self) -> None:
        self._before = {name: self._sample(pids) for name, pids in self.groups.items()}
        self._started = time.perf_counter()

    def stop(self) -> None:
        self.wall_s = time.perf_counter() - self._started
        for name, pids in self.groups.items():
            before = self._before.get(name, {})
            after = self._sample(pids)
            # a process born during the run counts from zero; one that ended is not counted
            self.seconds[name] = sum(t - before.get(pid, 0.0) for pid, t in after.items())

    def cores(self) -> dict[str, float]:
        if not self.wall_s:
            return {}
        return {name: round(s / self.wall_s, 2) for name, s in self.seconds.items()}

    @staticmethod
    def _sample(roots: list[Root]) -> dict[int, float]:
        sample: dict[int, float] = {}
        for pid, descendants in roots:
            sample.update(_cpu_seconds(pid, descendants))
        return sample
