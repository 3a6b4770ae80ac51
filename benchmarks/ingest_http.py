"""Ingest throughput: concurrent clients POST ~1 MB NDJSON bodies to a real `streamdash
serve` subprocess (uvicorn, SQLite log with synchronous=FULL), against msgspec decode and
the validator alone measured in the same run.

    .venv/bin/python benchmarks/ingest_http.py [--seconds 10] [--clients 4]

Same as `streamdash bench --only ingest`; the code is in streamdash.bench.ingest.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from streamdash.bench.ingest import run_ingest_benchmark
from streamdash.bench.report import render


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    render([run_ingest_benchmark(args.seconds, clients=args.clients)], Console())


if __name__ == "__main__":
    main()
