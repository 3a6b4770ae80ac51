"""Engine benchmark: a pre-written SqliteLog -> EngineRunner -> embedded PostgreSQL.

Measures the whole consume path the `streamdash engine` process runs (log read, decode,
windows, aggregates, upsert of results + offsets in one transaction per batch), the
Processor alone on the same chunks (no log, no PostgreSQL), and in the same process the
baseline: plain msgspec decode of the same lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from streamdash.bench.report import Measure
from streamdash.bench.workload import (
    STREAM,
    VIEW,
    app_logs_lines,
    msgspec_decode_rate,
    ndjson,
    scratch_dir,
)
from streamdash.engine import Processor
from streamdash.log.base import Chunk
from streamdash.log.sqlite import SqliteLog
from streamdash.runtime.runner import EngineRunner
from streamdash.spec.loader import load_builtin
from streamdash.store.embedded import EmbeddedPostgres
from streamdash.store.postgres import PostgresSink

TARGET_EVENTS_PER_S = 1_000_000


@dataclass
class EngineResult:
    events: int
    chunk_events: int
    runs: int
    log_to_postgres_events_per_s: float
    """Best of `runs`, each on a fresh database."""
    log_to_postgres_seconds: list[float] = field(default_factory=list)
    processor_events_per_s: float = 0.0
    msgspec_decode_events_per_s: float = 0.0
    result_rows: int = 0
    counted_events: int = 0
    """sum(request_count) in PostgreSQL: must equal `events` (nothing lost or doubled)."""

    def measures(self) -> list[Measure]:
        return [
            Measure(
                "engine",
                "log -> PostgreSQL",
                self.log_to_postgres_events_per_s,
                "events/s",
                self.msgspec_decode_events_per_s,
                "msgspec decode",
                ">= 1M events/s",
                self.log_to_postgres_events_per_s >= TARGET_EVENTS_PER_S,
            ),
            Measure(
                "engine",
                "Processor alone",
                self.processor_events_per_s,
                "events/s",
                self.msgspec_decode_events_per_s,
                "msgspec decode",
            ),
        ]


def write_log(directory: Path, lines: list[bytes], chunk_events: int) -> SqliteLog:
    """The events as chunks of `chunk_events`, appended ten chunks per durable write."""
    log = SqliteLog(directory)
    payloads = [
        (ndjson(lines[i : i + chunk_events]), len(lines[i : i + chunk_events]))
        for i in range(0, len(lines), chunk_events)
    ]
    for i in range(0, len(payloads), 10):
        log.append(STREAM, payloads[i : i + 10])
    return log


def _fresh_database(server: EmbeddedPostgres, name: str) -> str:
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.url_for(name)


def consume_all(log: SqliteLog, url: str, end: int) -> float:
    """Seconds for EngineRunner to take the log from offset 0 to `end` into PostgreSQL."""
    processor = Processor(load_builtin(STREAM))
    with PostgresSink(url) as sink:
        runner = EngineRunner(processor, log, sink, [STREAM])
        runner.start()  # creates the tables: setup, not throughput
        started = time.perf_counter()
        while runner.positions[STREAM] < end:
            runner.step()
        elapsed = time.perf_counter() - started
    processor.close()
    return elapsed


def processor_alone(chunks: list[Chunk], batch_events: int, repeat: int) -> float:
    """Events/s of Processor.process over the chunks, batched like the runner batches them."""
    batches: list[list[Chunk]] = [[]]
    for chunk in chunks:
        if batches[-1] and sum(c.count for c in batches[-1]) + chunk.count > batch_events:
            batches.append([])
        batches[-1].append(chunk)
    events = sum(c.count for c in chunks)
    best = float("inf")
    for _ in range(repeat):
        processor = Processor(load_builtin(STREAM))
        now_us = time.time_ns() // 1000
        started = time.perf_counter()
        for batch in batches:
            processor.process(STREAM, batch, now_us)
        best = min(best, time.perf_counter() - started)
        processor.close()
    return events / best


def _check_results(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*), coalesce(sum(request_count), 0) FROM {}").format(
                sql.Identifier(VIEW)
            )
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def run_engine_benchmark(
    events: int = 1_000_000, *, chunk_events: int = 10_000, runs: int = 3
) -> EngineResult:
    lines = app_logs_lines(events)
    decode_rate = msgspec_decode_rate(lines)
    with scratch_dir("engine") as tmp:
        log = write_log(tmp / "log", lines, chunk_events)
        end = log.end_offset(STREAM)
        chunks = log.read(STREAM, 0, end)
        processor_rate = processor_alone(chunks, batch_events=200_000, repeat=runs)
        server = EmbeddedPostgres(tmp / "pg")
        server.start()
        try:
            seconds: list[float] = []
            for run in range(runs):
                url = _fresh_database(server, f"bench_engine_{run}")
                seconds.append(consume_all(log, url, end))
            rows, counted = _check_results(url)
        finally:
            log.close()
            server.stop()
    return EngineResult(
        events=events,
        chunk_events=chunk_events,
        runs=runs,
        log_to_postgres_events_per_s=events / min(seconds),
        log_to_postgres_seconds=seconds,
        processor_events_per_s=processor_rate,
        msgspec_decode_events_per_s=decode_rate,
        result_rows=rows,
        counted_events=counted,
    )
