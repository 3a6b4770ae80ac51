"""Freshness benchmark: how long after a batch is posted its events are visible in
PostgreSQL, through the real processes (`streamdash serve`, `streamdash engine`, embedded
PostgreSQL) at a steady 20k events/s.

Visibility is read from `streamdash_offsets.next_offset` of the engine: offsets commit in
the same transaction as the result rows, so "next_offset >= the log end right after this
batch's 202" is exactly "this batch's effect is in the result tables".
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field

import httpx
import psycopg

from streamdash.bench.processes import NDJSON, Pipeline, running_pipeline
from streamdash.bench.report import Measure
from streamdash.bench.workload import (
    STREAM,
    app_logs_lines,
    median,
    ndjson,
    percentile,
    scratch_dir,
)
from streamdash.log.sqlite import SqliteLog

TARGET_P99_MS = 250.0
SPARK_P50_MS, SPARK_P99_MS = 458.0, 914.0
"""Spark Structured Streaming local[2] on this machine, from docs/environment.md: measured
earlier, not in this run."""
POLL_S = 0.005


@dataclass
class Posted:
    """One batch: when it was sent (monotonic s), and the log end after its 202."""

    sent: float
    acked: float
    log_end: int


class OffsetPoller:
    """Polls the engine's committed offset on its own connection; keeps every change."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.times: list[float] = []
        self.offsets: list[int] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="offset-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def latest(self) -> int:
        return self.offsets[-1] if self.offsets else 0

    def _run(self) -> None:
        query = (
            "SELECT next_offset FROM streamdash_offsets WHERE consumer = 'engine' AND stream = %s"
        )
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(query, (STREAM,)).fetchone()
                now = time.monotonic()
                self.polls += 1
                offset = int(row[0]) if row and row[0] is not None else 0
                if offset > self.latest:
                    self.times.append(now)
                    self.offsets.append(offset)
                self._stop.wait(POLL_S)

    def visible_at(self, log_end: int) -> float | None:
        """The first poll that saw `next_offset >= log_end`."""
        i = bisect.bisect_left(self.offsets, log_end)
        return self.times[i] if i < len(self.offsets) else None


def post_paced(
    pipeline: Pipeline, rate: float, seconds: float, interval: float, stop: threading.Event
) -> list[Posted]:
    """POST a batch every `interval` s (rate * interval events each) on a fixed schedule, so a
    slow request does not lower the offered rate: the next one goes out at once."""
    per_batch = max(1, round(rate * interval))
    batches = max(1, round(seconds / interval))
    log = SqliteLog(pipeline.data_dir / "log")
    posted: list[Posted] = []
    t0 = time.monotonic()
    wall0_us = time.time_ns() // 1000
    with httpx.Client(timeout=30) as http:
        for i in range(batches):
            if stop.is_set():
                break
            # event times follow the schedule, so windows close as they would in production
            lines = app_logs_lines(per_batch, seed=i, start_us=wall0_us + int(i * interval * 1e6))
            body = ndjson(lines)
            delay = t0 + i * interval - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            sent = time.monotonic()
            response = http.post(
                f"{pipeline.api_url}/v1/streams/{STREAM}/events", content=body, headers=NDJSON
            )
            acked = time.monotonic()
            if response.status_code != 202:
                raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")
            posted.append(Posted(sent, acked, log.end_offset(STREAM)))
    log.close()
    return posted


@dataclass
class FreshnessResult:
    rate: float
    seconds: float
    batches: int
    visible_p50_ms: float
    visible_p95_ms: float
    visible_p99_ms: float
    visible_max_ms: float
    ack_p50_ms: float
    ack_p99_ms: float
    achieved_rate: float
    never_visible: int
    polls: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def measures(self) -> list[Measure]:
        spark = "Spark local[2], earlier"
        return [
            Measure(
                "freshness", "post -> visible p50", self.visible_p50_ms, "ms", SPARK_P50_MS, spark
            ),
            Measure("freshness", "post -> visible p95", self.visible_p95_ms, "ms"),
            Measure(
                "freshness",
                "post -> visible p99",
                self.visible_p99_ms,
                "ms",
                SPARK_P99_MS,
                spark,
                "<= 250 ms",
                self.visible_p99_ms <= TARGET_P99_MS and self.never_visible == 0,
            ),
            Measure("freshness", "post -> 202 p99", self.ack_p99_ms, "ms"),
        ]


def run_freshness_benchmark(
    seconds: float = 30.0, *, rate: float = 20_000.0, interval: float = 0.05
) -> FreshnessResult:
    with scratch_dir("freshness") as tmp, running_pipeline(tmp) as pipeline:
        poller = OffsetPoller(pipeline.database_url)
        poller.start()
        stop = threading.Event()
        try:
            posted = post_paced(pipeline, rate, seconds, interval, stop)
            # let the last batches through: visibility of the tail counts as much as the rest
            deadline = time.monotonic() + 30.0
            while poller.latest < posted[-1].log_end and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            poller.stop()
    latencies: list[float] = []
    never = 0
    for batch in posted:
        seen = poller.visible_at(batch.log_end)
        if seen is None:
            never += 1
        else:
            latencies.append((seen - batch.sent) * 1000)
    acks = [(b.acked - b.sent) * 1000 for b in posted]
    span = posted[-1].sent - posted[0].sent if len(posted) > 1 else interval
    events = posted[-1].log_end
    return FreshnessResult(
        rate=rate,
        seconds=seconds,
        batches=len(posted),
        visible_p50_ms=median(latencies),
        visible_p95_ms=percentile(latencies, 95),
        visible_p99_ms=percentile(latencies, 99),
        visible_max_ms=max(latencies, default=float("nan")),
        ack_p50_ms=median(acks),
        ack_p99_ms=percentile(acks, 99),
        achieved_rate=events / (span + interval),
        never_visible=never,
        polls=poller.polls,
        latencies_ms=latencies,
    )
