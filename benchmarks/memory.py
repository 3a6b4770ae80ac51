"""Memory: RSS of the API and engine processes, sampled every 10 s at 20k events/s.

    .venv/bin/python benchmarks/memory.py [--minutes 10]

Same as `streamdash bench --only memory`; the code is in streamdash.bench.memory.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from streamdash.bench.memory import run_memory_benchmark
from streamdash.bench.report import render


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    render([run_memory_benchmark(args.minutes * 60)], Console())


if __name__ == "__main__":
    main()
