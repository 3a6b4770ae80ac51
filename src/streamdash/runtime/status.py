"""What the pipeline is doing, read from the log and the store only (never the engine's
memory), like every other observer — so it also works for an engine running elsewhere.

Two readers of the same numbers: the live status line of `streamdash run/demo`
(`StatusBoard`) and the pipeline part of the API's Prometheus `/metrics`
(`PipelineCollector`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from rich.table import Table

from streamdash.errors import LogUnavailable
from streamdash.log.base import Log
from streamdash.log.sqlite import SqliteLog
from streamdash.spec.models import Pipeline

ENGINE_SCOPE = "engine"
"""Counter scope of the engine's own numbers ("batches", "batch_us"), next to views/streams."""


@dataclass(frozen=True)
class Progress:
    """One consumer's committed progress and all counters, as stored by the engine's sink."""

    offsets: dict[str, int] = field(default_factory=dict)
    """stream -> next log offset to read = events whose results are committed."""
    watermarks: dict[str, int] = field(default_factory=dict)
    """stream -> watermark (epoch us)."""
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    """(scope, name) -> value; scope is a view ("late"), a stream ("rejected") or "engine"."""


def read_progress(database_url: str, consumer: str = "engine") -> Progress:
    """Raises psycopg.Error when the database cannot be read. Tables that do not exist yet
    (no engine has started) read as no progress."""
    with psycopg.connect(database_url, connect_timeout=2, autocommit=True) as conn:
        try:
            rows = conn.execute(
                "SELECT stream, next_offset, watermark_us FROM streamdash_offsets "
                "WHERE consumer = %s",
                (consumer,),
            ).fetchall()
            counters = conn.execute("SELECT scope, name, value FROM streamdash_counters").fetchall()
        except psycopg.errors.UndefinedTable:
            return Progress()
    offsets = {str(s): int(o) for s, o, _ in rows if isinstance(o, int)}
    marks = {str(s): int(m) for s, _, m in rows if isinstance(m, int)}
    values = {(str(s), str(n)): int(v) for s, n, v in counters if isinstance(v, int)}
    return Progress(offsets, marks, values)


@dataclass
class StreamStatus:
    received: int = 0
    processed: int = 0
    in_rate: float = 0.0
    out_rate: float = 0.0
    watermark_us: int | None = None
    late: int = 0
    rejected: int = 0


def late_by_stream(pipeline: Pipeline, counters: dict[tuple[str, str], int]) -> dict[str, int]:
    late: dict[str, int] = {}
    for (scope, name), value in counters.items():
        if name == "late" and scope in pipeline.views:
            stream = pipeline.views[scope].from_
            late[stream] = late.get(stream, 0) + value
    return late


@dataclass
class StatusBoard:
    pipeline: Pipeline
    log: Log
    database_url: str
    consumer: str = "engine"
    streams: dict[str, StreamStatus] = field(default_factory=dict)
    _last: float = 0.0
    error: str | None = None

    def read(self) -> tuple[dict[str, int], Progress]:
        """(events logged per stream, the committed progress); raises psycopg.Error."""
        progress = read_progress(self.database_url, self.consumer)
        return {s: self.log.end_offset(s) for s in self.pipeline.streams}, progress

    def refresh(self) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last, 1e-6) if self._last else None
        self._last = now
        try:
            ends, progress = self.read()
            self.error = None
        except psycopg.Error as err:
            self.error = f"database: {str(err).strip().splitlines()[0]}"
            return
        late = late_by_stream(self.pipeline, progress.counters)
        for stream in self.pipeline.streams:
            status = self.streams.setdefault(stream, StreamStatus())
            received = ends.get(stream, 0)
            processed = progress.offsets.get(stream, 0)
            if elapsed is not None:
                status.in_rate = (received - status.received) / elapsed
                status.out_rate = (processed - status.processed) / elapsed
            status.received, status.processed = received, processed
            status.watermark_us = progress.watermarks.get(stream)
            status.late = late.get(stream, 0)
            status.rejected = progress.counters.get((stream, "rejected"), 0)

    def render(self) -> Table:
        table = Table(
            title=self.error or "streamdash — live",
            title_style=("bold red" if self.error else "bold"),
            expand=False,
        )
        for column in ("stream", "in/s", "out/s", "lag", "wm delay", "late", "rejected", "total"):
            table.add_column(
                column, justify="left" if column == "stream" else "right", no_wrap=True
            )
        now_us = time.time() * 1e6
        for name, s in self.streams.items():
            delay = "-" if s.watermark_us is None else f"{(now_us - s.watermark_us) / 1e6:,.1f}s"
            table.add_row(
                name,
                f"{s.in_rate:,.0f}",
                f"{s.out_rate:,.0f}",
                f"{s.received - s.processed:,}",
                delay,
                f"{s.late:,}",
                f"{s.rejected:,}",
                f"{s.received:,}",
            )
        return table


class PipelineCollector:
    """Prometheus collector of the pipeline's progress for the API's `/metrics`: per stream
    the events in the log, processed (committed) and the lag between them, the watermark,
    late events per view, rejected events per stream, and the engine's batch count and time.

    The numbers come from the store and the log, so every API process of a data dir shows
    the same values however many there are. They are read at most once per `ttl_s` (a
    scrape, or several Prometheus servers scraping, costs the database one query per
    second at most). A scrape never fails because the store is down: it then shows
    `streamdash_store_up 0` and what the log alone knows.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        log_dir: Path | None,
        database_url: str | None,
        *,
        consumer: str = "engine",
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipeline = pipeline
        self.database_url = database_url
        self.consumer = consumer
        self.ttl_s = ttl_s
        self.clock = clock
        self.reads = 0
        """How many times the store and log were actually read (the rest were cached)."""
        # A log of its own, closed after each read: scrapes run on whichever worker thread
        # is free, and SqliteLog keeps one connection per thread that would otherwise linger
        self._log = SqliteLog(log_dir) if log_dir is not None else None
        """None: no embedded log (a subclass reads the ends elsewhere)."""
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._read_at: float | None = None

    def describe(self) -> Iterable[Metric]:
        # Every family name (the registry checks them for clashes) without reading the
        # database: auto_describe would otherwise call collect() at registration.
        every = Progress(counters={(ENGINE_SCOPE, "batches"): 0, (ENGINE_SCOPE, "batch_us"): 0})
        return self._families(every, {}, store_up=True)

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # concurrent scrapes: one reads, the others wait and share it
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.ttl_s:
                self._cached = self._read()
                self._read_at = self.clock()
                self.reads += 1
            families = self._cached
        yield from families

    def _read(self) -> list[Metric]:
        ends, progress = self.sample()
        return self._families(progress, ends, store_up=progress is not None)

    def sample(self) -> tuple[dict[str, int], Progress | None]:
        """(events logged per stream, the committed progress or None if unreadable)."""
        ends: dict[str, int] = {}
        log = self._log
        try:
            for stream in self.pipeline.streams if log is not None else ():
                ends[stream] = log.end_offset(stream)  # type: ignore[union-attr]
        except LogUnavailable:
            pass  # whatever was read is shown; the ingest side reports log health (/healthz)
        finally:
            if log is not None:
                log.close()
        progress: Progress | None = None
        if self.database_url is not None:
            try:
                progress = read_progress(self.database_url, self.consumer)
            except psycopg.Error:
                progress = None
        return ends, progress

    def _families(
        self, progress: Progress | None, ends: dict[str, int], *, store_up: bool
    ) -> list[Metric]:
        up = GaugeMetricFamily(
            "streamdash_store_up",
            "1 when the result store could be read for these metrics, else 0.",
            value=1.0 if store_up else 0.0,
        )
        logged = CounterMetricFamily(
            "streamdash_stream_logged_events",
            "Events in the durable log (the log end offset), per stream.",
            labels=["stream"],
        )
        processed = CounterMetricFamily(
            "streamdash_stream_processed_events",
            "Events whose results are committed to the store (committed log offset), per stream.",
            labels=["stream"],
        )
        lag = GaugeMetricFamily(
            "streamdash_stream_lag_events",
            "Events in the log not yet in results (log end offset - committed offset).",
            labels=["stream"],
        )
        watermark = GaugeMetricFamily(
            "streamdash_stream_watermark_seconds",
            "Event-time watermark of the stream (epoch seconds); windows before it are final.",
            labels=["stream"],
        )
        late = CounterMetricFamily(
            "streamdash_view_late_events",
            "Events that arrived after their window closed (dead-lettered), per view.",
            labels=["view", "stream"],
        )
        rejected = CounterMetricFamily(
            "streamdash_stream_rejected_events",
            "Events rejected at ingest and moved to the dead-letter table, per stream.",
            labels=["stream"],
        )
        batches = CounterMetricFamily(
            "streamdash_engine_batches", "Engine micro-batches committed to the store."
        )
        batch_seconds = CounterMetricFamily(
            "streamdash_engine_batch_seconds",
            "Time the engine spent processing committed micro-batches (seconds).",
        )
        families: list[Metric] = [up, logged]
        for stream in self.pipeline.streams:
            if stream in ends:
                logged.add_metric([stream], ends[stream])
        if progress is None:
            return families
        families += [processed, lag, watermark, late, rejected]
        for stream in self.pipeline.streams:
            committed = progress.offsets.get(stream, 0)
            processed.add_metric([stream], committed)
            if stream in ends:
                # the log and the store are read a moment apart: never a negative lag
                lag.add_metric([stream], max(ends[stream] - committed, 0))
            mark = progress.watermarks.get(stream)
            if mark is not None:
                watermark.add_metric([stream], mark / 1_000_000)
        for view, spec in self.pipeline.views.items():
            late.add_metric([view, spec.from_], progress.counters.get((view, "late"), 0))
        rejected_scopes = {s for s, n in progress.counters if n == "rejected"}
        for stream in sorted(rejected_scopes | set(self.pipeline.streams)):
            rejected.add_metric([stream], progress.counters.get((stream, "rejected"), 0))
        # the engine adds these to each batch; an older engine (or none yet) does not
        if (ENGINE_SCOPE, "batches") in progress.counters:
            batches.add_metric([], progress.counters[(ENGINE_SCOPE, "batches")])
            families.append(batches)
        if (ENGINE_SCOPE, "batch_us") in progress.counters:
            batch_seconds.add_metric([], progress.counters[(ENGINE_SCOPE, "batch_us")] / 1e6)
            families.append(batch_seconds)
        return families
