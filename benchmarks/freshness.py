"""Freshness: post -> visible in PostgreSQL, p50/p95/p99, at 20k events/s through real
`streamdash serve` + `streamdash engine` processes and an embedded PostgreSQL.

    .venv/bin/python benchmarks/freshness.py [--seconds 30] [--rate 20000]

Same as `streamdash bench --only freshness`; the code is in streamdash.bench.freshness.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from streamdash.bench.freshness import run_freshness_benchmark
from streamdash.bench.report import render


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20_000.0)
    args = parser.parse_args()
    render([run_freshness_benchmark(args.seconds, rate=args.rate)], Console())


if __name__ == "__main__":
    main()
