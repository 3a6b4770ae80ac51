"""The live status line of `streamdash run/demo`: per stream, events/s in and processed,
lag, watermark delay, late and rejected counts. It reads the log and the store only (never
the engine's memory), like every other observer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
from rich.table import Table

from streamdash.log.base import Log
from streamdash.spec.models import Pipeline


@dataclass
class StreamStatus:
    received: int = 0
    processed: int = 0
    in_rate: float = 0.0
    out_rate: float = 0.0
    watermark_us: int | None = None
    late: int = 0
    rejected: int = 0


@dataclass
class StatusBoard:
    pipeline: Pipeline
    log: Log
    database_url: str
    consumer: str = "engine"
    streams: dict[str, StreamStatus] = field(default_factory=dict)
    _last: float = 0.0
    error: str | None = None

    def refresh(self) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last, 1e-6) if self._last else None
        self._last = now
        try:
            with psycopg.connect(self.database_url, connect_timeout=2) as conn:
                offsets: dict[str, int] = dict(
                    conn.execute(
                        "SELECT stream, next_offset FROM streamdash_offsets WHERE consumer = %s",
                        (self.consumer,),
                    ).fetchall()
                )
                marks: dict[str, int | None] = dict(
                    conn.execute(
                        "SELECT stream, watermark_us FROM streamdash_offsets WHERE consumer = %s",
                        (self.consumer,),
                    ).fetchall()
                )
                counters = conn.execute(
                    "SELECT scope, name, value FROM streamdash_counters"
                ).fetchall()
            self.error = None
        except psycopg.Error as err:
            self.error = f"database: {str(err).strip().splitlines()[0]}"
            return
        late_by_stream: dict[str, int] = {}
        rejected: dict[str, int] = {}
        for scope, name, value in counters:
            if name == "late" and scope in self.pipeline.views:
                stream = self.pipeline.views[scope].from_
                late_by_stream[stream] = late_by_stream.get(stream, 0) + int(value)
            elif name == "rejected":
                rejected[scope] = rejected.get(scope, 0) + int(value)
        for stream in self.pipeline.streams:
            status = self.streams.setdefault(stream, StreamStatus())
            received = self.log.end_offset(stream)
            processed = int(offsets.get(stream, 0))
            if elapsed is not None:
                status.in_rate = (received - status.received) / elapsed
                status.out_rate = (processed - status.processed) / elapsed
            status.received, status.processed = received, processed
            mark = marks.get(stream)
            status.watermark_us = int(mark) if mark is not None else None
            status.late = late_by_stream.get(stream, 0)
            status.rejected = rejected.get(stream, 0)

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
