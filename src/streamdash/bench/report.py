"""What every benchmark reports, and how the reports are shown (rich table) and saved (JSON).

A benchmark result is a dataclass of raw numbers plus `measures()`: the rows of the summary
table. Each row carries its same-run baseline and target, because on a shared machine an
absolute number means little without a reference measured a few seconds earlier.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Measure:
    """One row of the summary table."""

    benchmark: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    """The same-run reference for `value` (same unit), e.g. plain msgspec decode."""
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


class BenchResult(Protocol):
    def measures(self) -> list[Measure]: ...


def _number(value: float, unit: str) -> str:
    if unit == "events/s":
        return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"
    if unit in ("MB", "MB/min"):
        return f"{value:.1f}"
    if unit in ("s", "cores", "CPU us/event"):
        return f"{value:.2f}"
    return f"{value:.0f}"


def render(results: list[BenchResult], console: Console) -> None:
    table = Table(title="streamdash benchmarks (baseline measured in the same run)")
    for column in ("benchmark", "measure", "value", "unit", "baseline", "ratio", "target", "met"):
        table.add_column(column, justify="right" if column in ("value", "ratio") else "left")
    for result in results:
        for m in result.measures():
            baseline = (
                f"{_number(m.baseline, m.unit)} ({m.baseline_name})"
                if m.baseline is not None
                else ""
            )
            ratio = f"{m.ratio:.2f}x" if m.ratio is not None else ""
            met = "" if m.met is None else ("[green]yes[/]" if m.met else "[red]no[/]")
            table.add_row(
                m.benchmark,
                m.name,
                _number(m.value, m.unit),
                m.unit,
                baseline,
                ratio,
                m.target,
                met,
            )
    console.print(table)


def machine() -> dict[str, Any]:
    """Enough about the machine to read the numbers: they depend on it more than on the code."""
    load1, load5, _ = psutil.getloadavg()
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m_5m": [round(load1, 2), round(load5, 2)],
    }


def write_json(results: list[BenchResult], path: Path) -> None:
    payload = {
        "machine": machine(),
        "results": [
            {
                "type": type(r).__name__,
                "raw": dataclasses.asdict(r),  # type: ignore[call-overload]
                "measures": [{**dataclasses.asdict(m), "ratio": m.ratio} for m in r.measures()],
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
