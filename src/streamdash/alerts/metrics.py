"""`streamdash_alerts_open{rule,severity}` for /metrics: read from the `alerts` table at
each scrape, so every API process reports the same numbers."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from streamdash.alerts.reader import AlertReader
from streamdash.errors import StoreUnavailable
from streamdash.spec.alerts import parse_alerts
from streamdash.spec.models import Pipeline

log = logging.getLogger(__name__)


class AlertsCollector(Collector):
    """Pass to `create_app(..., extra_collectors=[...])`. Rules of the spec without open
    alerts report 0, so a dashboard can tell "none open" from "no data"."""

    def __init__(self, reader: AlertReader, rules: Mapping[str, str]) -> None:
        self.reader = reader
        self.rules = dict(rules)
        """rule -> severity."""

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline, reader: AlertReader) -> AlertsCollector:
        rules = {name: rule.severity for name, rule in parse_alerts(pipeline).items()}
        return cls(reader, rules)

    def describe(self) -> Iterable[Metric]:
        # The family without reading the database: with auto_describe the registry would
        # otherwise call collect() when the API starts, i.e. query a database that `run`
        # may still be starting (and log a warning about it).
        yield self._gauge()

    @staticmethod
    def _gauge() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "streamdash_alerts_open", "Open alerts per rule and severity.",
            labels=["rule", "severity"],
        )  # fmt: skip

    def collect(self) -> Iterable[Metric]:
        try:
            counts = self.reader.open_counts()
        except StoreUnavailable as err:
            # No sample rather than a false zero while the database is down.
            log.warning("streamdash_alerts_open unavailable: %s", err)
            return
        gauge = self._gauge()
        series = {(rule, severity): 0 for rule, severity in self.rules.items()}
        series.update(counts)
        for (rule, severity), count in sorted(series.items()):
            gauge.add_metric([rule, severity], count)
        yield gauge
