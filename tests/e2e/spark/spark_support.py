"""Shared by the Spark end-to-end tests: the same generated events into the embedded log
and onto Kafka, the embedded engine's results, and a comparison of result tables that is
exact where both engines are exact and within the documented bounds where they are not.

The events are what ingest would store (validated; Sensor Logger bodies flattened), in the
same order in both places. A flush event per stream, far after the data (as in the other
e2e tests), makes every window holding data final in both engines.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from batch_reference import (
    DISTINCT_TOLERANCE,
    Distinct,
    Event,
    ViewDef,
    ViewResult,
    builtin_views,
    compute_view,
    demographics_by_id,
    linear_counting,
    read_stream,
)
from psycopg.rows import dict_row

from streamdash.engine import Processor
from streamdash.ingest.sensorlogger import sensorlogger_events
from streamdash.ingest.validate import EventValidator
from streamdash.log.sqlite import SqliteLog
from streamdash.runtime.tables import load_table
from streamdash.sources.generators import generate
from streamdash.spark.aggregates import DISTINCT_RSD, QUANTILE_ACCURACY
from streamdash.spec.models import Pipeline
from streamdash.store.postgres import PostgresSink
from streamdash.testing.kafka_feed import create_topic, produce

SECOND = 1_000_000
MINUTE = 60 * SECOND
FLUSH_AHEAD_US = 10 * MINUTE
"""A flush event lies this far after the data (beyond the largest window, 5 min, plus the
lateness): every window holding data is final once it is processed (as in ../conftest.py)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PARTITIONS = 3
Row = dict[str, Any]


def events_of(pipeline: Pipeline, stream: str, items: Iterable[bytes]) -> list[bytes]:
    """The events ingest would store for these generated items, in order."""
    spec = pipeline.streams[stream]
    validator = EventValidator(stream, spec)
    lines: list[bytes] = []
    if stream == "sensor":
        for body in items:
            lines += sensorlogger_events(body, validator).payload.splitlines()
        return lines
    body = b"".join(item + b"\n" for item in items)
    return validator.validate_ndjson(body).payload.splitlines()


@dataclass
class Dataset:
    """Events per stream, as lines, in log order."""

    lines: dict[str, list[bytes]]

    @classmethod
    def generated(
        cls,
        pipeline: Pipeline,
        plan: dict[str, tuple[int, float]],
        seed: int,
        start_us: int,
    ) -> Dataset:
        lines = {
            stream: events_of(
                pipeline, stream, generate(stream, count=n, seed=seed, start_us=start_us, rate=r)
            )
            for stream, (n, r) in plan.items()
        }
        return cls(lines)

    def flushes(self, pipeline: Pipeline, at_us: int) -> dict[str, list[bytes]]:
        """One valid event per stream at `at_us`, after all the data."""
        return {
            stream: events_of(pipeline, stream, generate(stream, count=1, seed=7, start_us=at_us))[
                :1
            ]
            for stream in self.lines
        }


def data_end_us(start_us: int, plan: dict[str, tuple[int, float]]) -> int:
    return start_us + max(int(n / rate * SECOND) for n, rate in plan.values())


def to_log(log: SqliteLog, lines: dict[str, list[bytes]], chunk: int = 500) -> None:
    for stream, events in lines.items():
        for i in range(0, len(events), chunk):
            part = events[i : i + chunk]
            log.append(stream, [(b"".join(line + b"\n" for line in part), len(part))])


def to_kafka(bootstrap: str, pipeline: Pipeline, lines: dict[str, list[bytes]]) -> None:
    for stream, events in lines.items():
        spec = pipeline.streams[stream]
        topic = spec.topic or stream
        create_topic(bootstrap, topic, PARTITIONS)
        produce(bootstrap, topic, events, spec.key)


def run_embedded(pipeline: Pipeline, log: SqliteLog, database_url: str) -> None:
    """The embedded engine over the whole log, into `database_url` (no wall clock)."""
    tables = {name: load_table(name, spec) for name, spec in pipeline.tables.items()}
    processor = Processor(pipeline, tables)
    try:
        with PostgresSink(database_url) as sink:
            sink.open(processor.schemas())
            for stream in pipeline.streams:
                chunks = log.read(stream, 0, 10_000_000)
                if chunks:
                    sink.commit("engine", processor.process(stream, chunks, now_us=0))
    finally:
        processor.close()


def second_database(url: str) -> str:
    """A new empty database on the same server as `url` (dropped with the server)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = "spark_" + str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(url, dbname=name)


def table_rows(database_url: str, table: str) -> list[Row]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()  # names are identifiers


def to_us(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _keyed(view: ViewDef, rows: list[Row]) -> dict[tuple[Any, ...], Row]:
    out = {}
    for row in rows:
        keys = tuple(row[k] for k in view.keys)
        out[keys if view.window == "none" else (to_us(row["window_start"]), *keys)] = row
    return out


# -- the bounds of the approximate metrics -----------------------------------------------


def spark_quantile_ok(values: list[float], q: float, got: float) -> bool:
    """percentile_approx(x, q, accuracy) is a value of the data whose rank is within
    n / accuracy of rank ceil(q n) - 1 (aggregates.py, docs/spark.md)."""
    ordered = sorted(values)
    n = len(ordered)
    rank = max(math.ceil(q * n) - 1, 0)
    slack = math.ceil(n / QUANTILE_ACCURACY)
    low, high = ordered[max(rank - slack, 0)], ordered[min(rank + slack, n - 1)]
    return low <= got <= high


def embedded_quantile_ok(values: list[float], q: float, got: float) -> bool:
    """The DDSketch: within 1 % of the lower quantile (engine/sketches.py)."""
    exact = sorted(values)[math.floor(q * (len(values) - 1))]
    return abs(got - exact) <= (0.01 + 1e-9) * abs(exact)


def spark_distinct_ok(exact: int, got: int) -> bool:
    """approx_count_distinct: within three relative standard deviations (or one value)."""
    return abs(got - exact) <= max(1.0, 3 * DISTINCT_RSD * exact)


def embedded_distinct_ok(exact: Distinct, got: int) -> bool:
    """The engine's HyperLogLog: as batch_reference accepts it (within 5 %, or for a small
    set exactly what its registers say)."""
    return abs(got - exact) <= DISTINCT_TOLERANCE * exact or got == linear_counting(exact.values)


QUANTILES = {"p95_latency_ms": 0.95, "p99_latency_ms": 0.99}


def latency_values(events: list[Event]) -> dict[tuple[Any, ...], list[float]]:
    """application_metrics' latencies per (window start, application)."""
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for e in events:
        if e.data.get("latency_ms") is not None:
            start = e.t_us - e.t_us % (10 * SECOND)
            groups[(start, e.data["application_id"])].append(float(e.data["latency_ms"]))
    return groups


_NO_TRUTH = object()
"""The batch computation has no row for the key (the flush events' windows)."""


def _matches_truth(kind: str, want: Any, got: Any) -> bool:
    """Spark's value against the independent batch computation (exact metrics)."""
    if want is _NO_TRUTH:
        return True
    if kind == "time":
        return got is not None and to_us(got) == want
    if kind == "float":
        return _same_float(got, want)
    return bool(got == want)


def _same_float(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


@dataclass
class Parity:
    """The comparison of one view: embedded rows vs Spark rows vs the batch truth."""

    view: ViewDef
    truth: ViewResult
    embedded: dict[tuple[Any, ...], Row]
    spark: dict[tuple[Any, ...], Row]
    values: dict[tuple[Any, ...], list[float]]
    ingest_span_us: tuple[int, int]

    def problems(self) -> list[str]:
        name = self.view.name
        problems: list[str] = []
        embedded = self.embedded
        if self.view.window == "session":  # Spark writes sessions once closed: final ones
            embedded = {k: r for k, r in embedded.items() if r["final"]}
        for key in sorted(embedded.keys() - self.spark.keys(), key=repr)[:10]:
            problems.append(f"{name}: row {key} missing on Spark: {embedded[key]}")
        for key in sorted(self.spark.keys() - embedded.keys(), key=repr)[:10]:
            problems.append(f"{name}: row {key} only on Spark: {self.spark[key]}")
        for key in sorted(embedded.keys() & self.spark.keys(), key=repr):
            problems += self._row(key, embedded[key], self.spark[key])
        return problems

    def _row(self, key: tuple[Any, ...], emb: Row, spk: Row) -> list[str]:
        name = self.view.name
        problems: list[str] = []
        for column in ("final", *(("window_end",) if self.view.window != "none" else ())):
            if emb[column] != spk[column]:
                problems.append(f"{name} {key}: {column} {spk[column]} on Spark, {emb[column]}")
        truth = self.truth.rows.get(key, {})
        for column, kind in self.view.checks.items():
            e, s = emb[column], spk[column]
            if column == "ingested_at":  # when the event reached the log: Kafka's time here
                low, high = self.ingest_span_us
                ok = low <= to_us(s) <= high
            elif kind in ("exact", "time"):
                ok = e == s and _matches_truth(kind, truth.get(column, _NO_TRUTH), s)
            elif kind == "float":
                ok = _same_float(e, s) and _matches_truth(kind, truth.get(column, _NO_TRUTH), s)
            elif kind == "quantile":
                values = self.values[key]
                q = QUANTILES[column]
                ok = spark_quantile_ok(values, q, s) and embedded_quantile_ok(values, q, e)
            else:
                exact = truth[column]
                ok = spark_distinct_ok(exact, s) and embedded_distinct_ok(exact, e)
            if not ok:
                problems.append(f"{name} {key}: {column} = {s!r} on Spark, {e!r} embedded ({kind})")
        if name == "campaign_metrics":  # revenue / unique_users over the row's own estimate
            revenue, users = spk["revenue"], spk["unique_users"]
            want = None if revenue is None or not users else revenue / users
            if not _same_float(spk["revenue_per_user"], want):
                problems.append(f"{name} {key}: revenue_per_user {spk['revenue_per_user']}")
        return problems


def parity_problems(
    embedded_url: str,
    spark_url: str,
    log: SqliteLog,
    views: Iterable[str],
    ingest_span_us: tuple[int, int],
) -> tuple[list[str], dict[str, int]]:
    """Differences between the engines' tables for `views`, and the rows compared per view."""
    definitions = {v.name: v for v in builtin_views(demographics_by_id())}
    events: dict[str, list[Event]] = {}
    problems: list[str] = []
    counts: dict[str, int] = {}
    for name in views:
        view = definitions[name]
        if view.stream not in events:
            events[view.stream] = read_stream(log, view.stream)
        truth = compute_view(view, events[view.stream])
        parity = Parity(
            view,
            truth,
            _keyed(view, table_rows(embedded_url, name)),
            _keyed(view, table_rows(spark_url, name)),
            latency_values(events[view.stream]) if name == "application_metrics" else {},
            ingest_span_us,
        )
        problems += parity.problems()
        counts[name] = len(parity.spark)
    return problems, counts
