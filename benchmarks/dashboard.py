"""Dashboard: event posted -> visible in Chromium, server CPU and database queries/s with 1,
5 and 20 open viewers.

    .venv/bin/python benchmarks/dashboard.py [--seconds 30] [--viewers 1,5,20] [--json out.json]

Same as `streamdash bench --only dashboard`; the code is in streamdash.bench.dashboard.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from streamdash.bench.dashboard import run_dashboard_benchmark
from streamdash.bench.report import render, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per viewer count")
    parser.add_argument("--viewers", default="1,5,20", help="comma-separated viewer counts")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    counts = tuple(int(n) for n in args.viewers.split(","))
    result = run_dashboard_benchmark(args.seconds, viewer_counts=counts)
    render([result], Console())
    if args.json is not None:
        write_json([result], args.json)


if __name__ == "__main__":
    main()
