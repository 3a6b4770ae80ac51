"""Startup: launching `streamdash run` -> first result row in PostgreSQL, cold and warm.

    .venv/bin/python benchmarks/startup.py [--rounds 3]

Same as `streamdash bench --only startup`; the code is in streamdash.bench.startup.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from streamdash.bench.report import render
from streamdash.bench.startup import run_startup_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    render([run_startup_benchmark(args.rounds)], Console())


if __name__ == "__main__":
    main()
