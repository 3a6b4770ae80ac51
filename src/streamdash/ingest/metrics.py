"""Prometheus metrics of the ingest API, in a registry owned by one app (no global state:
two apps in one process, e.g. in tests, never share counters)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

from streamdash.ingest.validate import Rejection

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format served on GET /metrics."""

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestMetrics:
    """The counters and histograms of one ingest app.

    `extra_collectors` (e.g. the engine's lag / watermark / late gauges) are registered in the
    same registry so that one scrape of /metrics shows everything; more can be added later
    with `register`.
    """

    def __init__(self, extra_collectors: Iterable[Collector] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter(
            "streamdash_events_received",
            "Events received in request bodies (accepted + rejected), per stream.",
            ["stream"],
            registry=self.registry,
        )
        self.accepted = Counter(
            "streamdash_events_accepted",
            "Events made durable in the log and acknowledged, per stream.",
            ["stream"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "streamdash_events_rejected",
            "Events rejected individually and dead-lettered, per stream and reason.",
            ["stream", "reason"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "streamdash_ingest_request_seconds",
            "Time to answer an ingest request (read, validate, make durable), per route.",
            ["route"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.append_seconds = Histogram(
            "streamdash_log_append_seconds",
            "Time of one group-commit write to the log (all streams of the group).",
            buckets=_SECONDS,
            registry=self.registry,
        )
        for collector in extra_collectors:
            self.register(collector)

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def count(self, stream: str, accepted: int, rejections: list[Rejection]) -> None:
        """Count one acknowledged request's events."""
        self.received.labels(stream).inc(accepted + len(rejections))
        self.accepted.labels(stream).inc(accepted)
        for rejection in rejections:
            self.rejected.labels(stream, rejection.reason).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
