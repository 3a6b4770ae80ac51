"""Benchmarks of streamdash, each against a baseline measured in the same run.

One module per benchmark; each `run_*_benchmark` function returns a result dataclass whose
`measures()` are the rows of the summary table. `run_benchmarks` is what `streamdash bench`
calls. The machine is shared and noisy: compare ratios to the same-run baseline, not
absolute numbers across runs. See docs/benchmarks.md for the commands and the results.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from streamdash.bench.report import BenchResult, Measure, render, write_json

DEFAULT_BENCHMARKS = ("engine", "ingest", "freshness", "startup", "dashboard", "memory", "kafka")
BENCHMARKS = (*DEFAULT_BENCHMARKS, "spark")
"""`spark` (the [spark] extra, a JVM, minutes) runs only when asked for by name."""
_ALIASES = {"start": "startup"}

__all__ = ["BENCHMARKS", "BenchResult", "Measure", "run_benchmarks", "select"]


def select(only: str | None) -> list[str]:
    """Benchmark names from `--only` (comma-separated); the default ones when None."""
    if not only:
        return list(DEFAULT_BENCHMARKS)
    names = [_ALIASES.get(n.strip(), n.strip()) for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(
            f"unknown benchmark(s) {', '.join(unknown)}; expected some of: {', '.join(BENCHMARKS)}"
        )
    return names


def _kafka(events: int) -> BenchResult:
    from streamdash.bench.kafka import run_kafka_benchmark

    return run_kafka_benchmark(events)


def run_benchmarks(
    events: int = 1_000_000,
    only: str | None = None,
    console: Console | None = None,
    *,
    json_path: Path | None = None,
    minutes: float = 10.0,
    seconds: float = 30.0,
) -> list[BenchResult]:
    """Run the selected benchmarks one after the other (never in parallel: they would measure
    each other), print the table, and write JSON to `json_path` if given.

    `events`: size of the engine benchmark. `seconds`: duration of the ingest (a third of it)
    and freshness runs, and of each viewer phase of the dashboard run. `minutes`: duration
    of the memory run.
    """
    from streamdash.bench.dashboard import run_dashboard_benchmark
    from streamdash.bench.engine import run_engine_benchmark
    from streamdash.bench.freshness import run_freshness_benchmark
    from streamdash.bench.ingest import run_ingest_benchmark
    from streamdash.bench.memory import run_memory_benchmark
    from streamdash.bench.spark import run_spark_benchmark
    from streamdash.bench.startup import run_startup_benchmark

    console = console or Console()
    runners: dict[str, Callable[[], BenchResult]] = {
        "engine": lambda: run_engine_benchmark(events),
        "ingest": lambda: run_ingest_benchmark(max(1.0, seconds / 3)),
        "freshness": lambda: run_freshness_benchmark(seconds),
        "startup": lambda: run_startup_benchmark(),
        "dashboard": lambda: run_dashboard_benchmark(seconds),
        "memory": lambda: run_memory_benchmark(minutes * 60),
        "kafka": lambda: _kafka(events),
        "spark": lambda: run_spark_benchmark(events, seconds=seconds),
    }
    results: list[BenchResult] = []
    for name in select(only):
        with console.status(f"running the {name} benchmark"):
            results.append(runners[name]())
    render(results, console)
    if json_path is not None:
        write_json(results, json_path)
        console.print(f"wrote {json_path}")
    return results
