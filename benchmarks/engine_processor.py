"""Engine throughput: a pre-written SqliteLog -> EngineRunner -> embedded PostgreSQL, the
Processor alone, and plain msgspec decode of the same lines, in one run.

    .venv/bin/python benchmarks/engine_processor.py [--events 1000000] [--chunk 10000] [--runs 3]

Same as `streamdash bench --only engine`; the code is in streamdash.bench.engine.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from streamdash.bench.engine import run_engine_benchmark
from streamdash.bench.report import render


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="events per log chunk")
    parser.add_argument("--runs", type=int, default=3, help="best of this many")
    args = parser.parse_args()
    result = run_engine_benchmark(args.events, chunk_events=args.chunk, runs=args.runs)
    render([result], Console())


if __name__ == "__main__":
    main()
