"""Result tables made the way production makes them — the built-in generators' events through
the real engine (`Processor`, in micro-batches) and the real sink (`PostgresSink`) into a real
PostgreSQL — plus the expected report numbers computed independently, in plain Python, from
the raw events (no SQL, no engine code). A uniquely named module: tests import from it."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from streamdash.engine import Processor
from streamdash.log.base import Chunk
from streamdash.runtime.tables import load_table
from streamdash.sources.generators import generate, table_rows
from streamdash.spec.loader import load_builtin
from streamdash.store.postgres import PostgresSink

S = 1_000_000
START_US = 1_714_564_800 * S
"""2024-05-01T12:00:00Z: a multiple of 10 s and of 5 min, so windows start with the data."""
BATCH_EVENTS = 700
"""Events per engine step: windows are updated across many commits, as in production."""

Event = dict[str, Any]


def at(minutes: float) -> datetime:
    """The time `minutes` after START_US."""
    return datetime.fromtimestamp(START_US / S + minutes * 60, UTC)


def produce(url: str, plan: dict[str, tuple[int, float]], seed: int = 3) -> dict[str, list[Event]]:
    """Run `stream -> (events, events per second of event time)` of built-in streams through
    the engine into `url`; return the raw events of each stream."""
    pipeline = load_builtin(*plan)
    tables = {name: load_table(name, spec) for name, spec in pipeline.tables.items()}
    processor = Processor(pipeline, tables)
    now_us = START_US + 86_400 * S
    raw: dict[str, list[Event]] = {}
    try:
        with PostgresSink(url) as sink:
            sink.open(processor.schemas())
            for stream, (count, rate) in plan.items():
                lines = [
                    item.rstrip(b"\n")
                    for item in generate(
                        stream, count=count, seed=seed, start_us=START_US, rate=rate
                    )
                ]
                for start in range(0, len(lines), BATCH_EVENTS):
                    part = lines[start : start + BATCH_EVENTS]
                    payload = b"".join(line + b"\n" for line in part)
                    chunk = Chunk(stream, start, len(part), now_us, payload)
                    batch = processor.process(stream, [chunk], now_us)
                    batch.offsets[stream] = chunk.end
                    sink.commit("engine", batch)
                raw[stream] = [msgspec.json.decode(line) for line in lines]
    finally:
        processor.close()
    return raw


def lower_quantile(values: list[float], q: float) -> float:
    """The value at 0-based rank floor(q (n - 1)): what the engine's sketch approximates."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def window_start(t_us: int, size_s: int) -> int:
    return t_us // (size_s * S) * (size_s * S)


def in_period(window_us: int, since: datetime, until: datetime) -> bool:
    return since.timestamp() * S <= window_us < until.timestamp() * S


@dataclass
class AppExpectation:
    requests: int = 0
    errors: int = 0
    latency_sum: float = 0.0
    latencies: list[float] = field(default_factory=list)
    windows: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests

    @property
    def p95_estimate(self) -> float:
        """The documented derivation: window p95s weighted by the windows' requests."""
        total = sum(
            lower_quantile([e["latency_ms"] for e in w], 0.95) * len(w)
            for w in self.windows.values()
        )
        return total / self.requests

    @property
    def max_window_p95(self) -> float:
        return max(
            lower_quantile([e["latency_ms"] for e in w], 0.95) for w in self.windows.values()
        )


def app_expectations(
    events: Iterable[Event], since: datetime, until: datetime
) -> dict[str, AppExpectation]:
    """Per application, over the 10 s windows that start in [since, until)."""
    out: dict[str, AppExpectation] = defaultdict(AppExpectation)
    for event in events:
        start = window_start(int(event["timestamp"]) * 1000, 10)
        if not in_period(start, since, until):
            continue
        app = out[event["application_id"]]
        app.requests += 1
        app.errors += int(event["status_code"] >= 500)
        app.latency_sum += event["latency_ms"]
        app.latencies.append(event["latency_ms"])
        app.windows[start].append(event)
    return dict(out)


def _iso_us(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * S)


@dataclass
class CampaignTotals:
    clicks: int = 0
    purchases: int = 0
    revenue: float = 0.0


def campaign_expectations(
    events: Iterable[Event], since: datetime, until: datetime
) -> dict[tuple[str, str | None], CampaignTotals]:
    """(campaign, country of the user in user_demographics or None) -> totals, over the
    5-minute windows that start in [since, until)."""
    spec = load_builtin("user_events").tables["user_demographics"].source
    assert spec.generator is not None
    country = {
        row["id"]: row["country"]
        for row in table_rows(spec.generator, count=spec.rows, seed=spec.seed)
    }
    out: dict[tuple[str, str | None], CampaignTotals] = defaultdict(CampaignTotals)
    for event in events:
        if not in_period(window_start(_iso_us(event["timestamp"]), 300), since, until):
            continue
        totals = out[(event["campaign_id"], country.get(event["user_id"]))]
        if event["event_type"] == "click":
            totals.clicks += 1
        else:
            totals.purchases += 1
            totals.revenue += event.get("total_amount") or 0.0
    return dict(out)


def rolled_up(
    totals: dict[tuple[str, str | None], CampaignTotals], by: int
) -> dict[str | None, CampaignTotals]:
    """Totals per campaign (by=0) or per country (by=1)."""
    out: dict[str | None, CampaignTotals] = defaultdict(CampaignTotals)
    for key, value in totals.items():
        into = out[key[by]]
        into.clicks += value.clicks
        into.purchases += value.purchases
        into.revenue += value.revenue
    return dict(out)


@dataclass(frozen=True)
class ReportData:
    """What the `report_db` fixture yields: the database and the raw events it was made of."""

    url: str
    events: dict[str, list[Event]]
