"""Reports: time of `app-health` over a day (and a month) of stored 10 s windows, against
the bare cost of copying the same rows out of PostgreSQL, measured in the same run.

    .venv/bin/python benchmarks/report_query.py [--days 1 30] [--engines duckdb spark]

The result table is filled directly with synthetic rows (5 applications x one row per 10 s
window: 43,200 rows a day) through the real `PostgresSink`; producing them from events
would take hours of event time. The baseline is `COPY (SELECT <the report's columns> ...)
TO STDOUT` read by psycopg without parsing: what any report over these rows must pay.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pyarrow as pa

from streamdash.bench.workload import scratch_dir
from streamdash.reports import Period, build_report, open_engine
from streamdash.reports.app_health import APP_HEALTH, METRICS
from streamdash.reports.markdown import render_markdown
from streamdash.results import CommitBatch, ViewUpdate
from streamdash.runtime.queries import view_schemas
from streamdash.spec.loader import load_builtin
from streamdash.store.embedded import EmbeddedPostgres
from streamdash.store.postgres import PostgresSink

APPS = 5
WINDOW_S = 10
START = datetime(2024, 5, 1, tzinfo=UTC)
BATCH_ROWS = 200_000


def fill(url: str, days: int) -> int:
    """`days` of application_metrics rows; returns how many."""
    schema = view_schemas(load_builtin("app_logs"))["application_metrics"]
    windows = days * 86_400 // WINDOW_S
    rng = np.random.default_rng(1)
    start_us = int(START.timestamp() * 1e6)
    total = windows * APPS
    with PostgresSink(url) as sink:
        sink.open([schema])
        for first in range(0, total, BATCH_ROWS):
            n = min(BATCH_ROWS, total - first)
            index = np.arange(first, first + n)
            starts = start_us + (index // APPS) * WINDOW_S * 1_000_000
            requests = rng.integers(50, 500, n)
            errors = rng.binomial(requests, 0.03)
            columns: dict[str, pa.Array] = {
                "window_start": pa.array(starts, schema.arrow_schema.field("window_start").type),
                "window_end": pa.array(
                    starts + WINDOW_S * 1_000_000, schema.arrow_schema.field("window_end").type
                ),
                "application_id": pa.array([f"app-{i % APPS + 1}" for i in index]),
            }
            values = {
                "request_count": requests,
                "error_count": errors,
                "error_rate": errors / requests,
                "avg_latency_ms": rng.gamma(4, 25, n),
                "p95_latency_ms": rng.gamma(9, 30, n),
                "p99_latency_ms": rng.gamma(12, 35, n),
            }
            for method in ("get", "post", "put", "delete"):
                values[f"{method}_count"] = requests // 4
            for name, kind in schema.metrics:
                columns[name] = pa.array(values[name]).cast(kind)
            columns["final"] = pa.array(np.ones(n, dtype=bool))
            table = pa.table(columns, schema=schema.arrow_schema)
            sink.commit("bench", CommitBatch(updates=[ViewUpdate(schema.view, table)]))
    return total


def bare_copy_seconds(url: str, period: Period) -> float:
    columns = ", ".join(METRICS.columns)
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        out = io.BytesIO()
        with cursor.copy(
            f"COPY (SELECT {columns} FROM application_metrics WHERE window_start >= %s "
            "AND window_start < %s) TO STDOUT WITH (FORMAT csv)",
            (period.since, period.until),
        ) as copy:
            for block in copy:
                out.write(block)
    return time.perf_counter() - started


def report_seconds(url: str, period: Period, engine_name: str) -> tuple[float, float]:
    """(seconds to open the engine, seconds for the whole report incl. loading and md)."""
    started = time.perf_counter()
    engine = open_engine(engine_name, url, period)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    try:
        render_markdown(build_report(APP_HEALTH, engine, period))
    finally:
        engine.close()
    return opened, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--engines", nargs="+", default=["duckdb"])
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    with scratch_dir("reports") as base, EmbeddedPostgres(base / "pg") as server:
        rows = fill(server.url, max(args.days))
        print(f"filled application_metrics with {rows:,} rows ({max(args.days)} days)")
        for days in args.days:
            period = Period(START, START + timedelta(days=days))
            baseline = min(bare_copy_seconds(server.url, period) for _ in range(3))
            for name in args.engines:
                runs = [report_seconds(server.url, period, name) for _ in range(2)]
                opened, took = min(runs, key=lambda r: r[1])
                print(
                    f"{days:>3} d ({days * 86_400 // WINDOW_S * APPS:>9,} rows)  {name:<6}  "
                    f"report {took:6.2f} s  (+ engine start {opened:5.2f} s)  "
                    f"bare COPY {baseline:6.3f} s  ratio {took / baseline:5.1f}x"
                )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
