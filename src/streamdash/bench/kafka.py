"""Kafka benchmark: one topic of app_logs events on a real broker (tansu), consumed in the
same run by (1) a bare confluent-kafka consumer that decodes each value with msgspec — the
baseline — and by streamdash workers (Kafka -> engine -> PostgreSQL, exactly-once commits)
with (2) one and (3) two worker processes of one consumer group.

The baseline consumer uses the workers' own fetch settings (`FETCH_SETTINGS`): with
librdkafka's defaults it idles most of the time (see `FETCH_SETTINGS`), and a ratio to that
would credit the workers with a configuration fix. Its rate with the defaults is reported too.

A worker's rate is measured from the moment its group holds every partition (claims in
PostgreSQL) to the moment every partition is committed up to its end, as events per second
of the events committed in between — so joining the group is left out, a rebalance while
measuring is not. The CPU time of the workers, the broker and PostgreSQL over that span is
recorded (as cores used), and the load average: the machine is shared.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import psutil
import psycopg
from psycopg import sql

from streamdash.bench.cpu import CpuMeter
from streamdash.bench.processes import bench_env, spawn, stop, tail
from streamdash.bench.report import Measure
from streamdash.bench.workload import app_logs_lines, scratch_dir
from streamdash.kafka import confluent
from streamdash.kafka.keys import MessageKeys
from streamdash.kafka.producer import EventProducer
from streamdash.kafka.settings import FETCH_SETTINGS, KafkaSettings
from streamdash.store.embedded import EmbeddedPostgres
from streamdash.testing.tansu import CONSUMER_QUIRKS, TansuBroker

TOPIC = "logs"
PARTITIONS = 4
SPEC = """
streams:
  app_logs:
    topic: logs
    key: application_id
    time: {{field: timestamp, unit: ms}}
    schema:
      application_id: string
      timestamp: int64
      method: {{type: string, enum: [GET, POST, PUT, DELETE]}}
      endpoint: string
      status_code: int32
      latency_ms: float64
      level: {{type: string, enum: [INFO, WARN, ERROR]}}
      message: string
views:
  application_metrics:
    from: app_logs
    window: {{tumbling: 10s}}
    group_by: [application_id]
    metrics:
      request_count: count()
      error_rate: avg(CASE WHEN status_code >= 500 THEN 1.0 ELSE 0.0 END)
      avg_latency_ms: avg(latency_ms)
      p95_latency_ms: quantile(latency_ms, 0.95)
  method_metrics:
    from: app_logs
    window: {{tumbling: 10s}}
    group_by: [method]
    metrics:
      request_count: count()
      avg_latency_ms: avg(latency_ms)
log: kafka
kafka:
  group: {group}
  partitions: {partitions}
"""
"""app_logs with its view (written by each partition alone) and one grouped by method,
which every partition contributes to (merged across partitions)."""


@dataclass
class KafkaBenchResult:
    events: int
    partitions: int
    bare_events_per_s: float = 0.0
    one_worker_events_per_s: float = 0.0
    two_workers_events_per_s: float = 0.0
    bare_default_events_per_s: float = 0.0
    """The bare consumer with librdkafka's default fetch settings (for reference)."""
    counted: dict[str, int] = field(default_factory=dict)
    """sum(request_count) per run: must equal `events` (nothing lost or doubled)."""
    cores: dict[str, dict[str, float]] = field(default_factory=dict)
    """run -> process group -> CPU seconds per second of the run."""
    load_average: list[float] = field(default_factory=list)

    def measures(self) -> list[Measure]:
        bare = self.bare_events_per_s
        one = self.one_worker_events_per_s
        two = self.two_workers_events_per_s
        return [
            Measure("kafka", "bare consume + msgspec decode", bare, "events/s"),
            Measure(
                "kafka",
                "bare consume, librdkafka default fetch settings",
                self.bare_default_events_per_s,
                "events/s",
                bare,
                "bare consume",
            ),
            Measure(
                "kafka",
                "1 worker: Kafka -> engine -> PostgreSQL",
                one,
                "events/s",
                bare,
                "bare consume",
                ">= 0.5x bare",
                one >= 0.5 * bare,
            ),
            Measure(
                "kafka",
                "2 workers",
                two,
                "events/s",
                one,
                "1 worker",
                ">= 1.8x 1 worker",
                two >= 1.8 * one,
            ),
            *self._cpu_per_event(),
            *(
                Measure("kafka", f"{run}: CPU of the {group}", used, "cores")
                for run, groups in self.cores.items()
                for group, used in groups.items()
            ),
        ]

    def _cpu_per_event(self) -> list[Measure]:
        """CPU time per event of the consumer(s) alone: less dependent on what else the
        machine runs than a rate is (a rate also counts the time waiting for a core)."""
        rates = {
            "bare": self.bare_events_per_s,
            "1 worker(s)": self.one_worker_events_per_s,
            "2 worker(s)": self.two_workers_events_per_s,
        }
        used = {
            run: sum(groups.get(g, 0.0) for g in ("bare consumer", "workers"))
            for run, groups in self.cores.items()
        }
        per_event = {run: used[run] * 1e6 / rates[run] for run in used if rates.get(run)}
        bare = per_event.get("bare")
        return [
            Measure(
                "kafka",
                f"{run}: CPU per event",
                value,
                "CPU us/event",
                None if run == "bare" else bare,
                "" if run == "bare" else "bare consume",
            )
            for run, value in per_event.items()
        ]


def _produce(bootstrap: str, lines: list[bytes]) -> None:
    settings = KafkaSettings(bootstrap, partitions=PARTITIONS, delivery_timeout_s=120.0)
    admin = confluent().admin.AdminClient({"bootstrap.servers": bootstrap})
    topic = confluent().admin.NewTopic(TOPIC, PARTITIONS, 1)
    for future in admin.create_topics([topic]).values():
        future.result()
    producer = EventProducer(settings)
    keys = MessageKeys("application_id")
    for i in range(0, len(lines), 50_000):
        batch = lines[i : i + 50_000]
        producer.send(TOPIC, batch, keys.keys(batch))
    producer.close()


def bare_consume_rate(
    bootstrap: str, events: int, fetch: dict[str, Any], group: str = "bench-bare"
) -> tuple[float, dict[str, float]]:
    """Events/s of a plain consumer that reads the whole topic and decodes every value, and
    the cores it used (this process: the consumer's threads run in it)."""
    kafka = confluent()
    consumer = kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, **CONSUMER_QUIRKS, **fetch}
    )
    consumer.assign([kafka.TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    decode = msgspec.json.Decoder().decode
    meter = CpuMeter({"bare consumer": [(os.getpid(), False)]})
    gc.freeze()  # what the workers do (see `run_worker`): the same treatment
    seen = 0
    started = 0.0
    try:
        while seen < events:
            messages = consumer.consume(100_000, 1.0)
            if messages and not started:
                started = time.perf_counter()
                meter.start()
            for message in messages:
                decode(message.value())
            seen += len(messages)
    finally:
        consumer.close()
    elapsed = time.perf_counter() - started
    meter.stop()
    return events / elapsed, meter.cores()


def _progress(url: str, group: str) -> tuple[int, int]:
    """(distinct owners of the topic's partitions, sum of committed offsets)."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            owners = conn.execute(
                "SELECT count(DISTINCT owner), count(*) FROM streamdash_kafka_partitions "
                "WHERE grp = %s AND topic = %s",
                (group, TOPIC),
            ).fetchone()
            done = conn.execute(
                "SELECT coalesce(sum(next_offset), 0) FROM streamdash_offsets "
                "WHERE consumer LIKE %s",
                (f"kafka:{group}:{TOPIC}:%",),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0, 0
    assert owners is not None and done is not None
    return (int(owners[0]) if int(owners[1]) == PARTITIONS else 0), int(done[0])


def _worker_rate(
    root: Path, server: EmbeddedPostgres, broker: TansuBroker, events: int, workers: int
) -> tuple[float, int, dict[str, float]]:
    group = f"bench{workers}"
    database = f"bench_kafka_{workers}"
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = server.url.rsplit("/", 1)[0] + f"/{database}"
    spec = root / f"{group}.yaml"
    spec.write_text(SPEC.format(group=group, partitions=PARTITIONS))
    env = bench_env(root / group, url)
    logs = [root / f"{group}-{i}.log" for i in range(workers)]
    bootstrap = broker.bootstrap
    procs = [spawn(["worker", str(spec), "--kafka", bootstrap], env, log) for log in logs]
    meter = CpuMeter(
        {
            "workers": [(p.pid, False) for p in procs],
            "broker": [(broker.pid or 0, False)],
            "postgres": [(server.pid or 0, True)],
        }
    )
    try:
        deadline = time.monotonic() + 180
        started = None
        base = 0
        while True:
            owners, done = _progress(url, group)
            if started is None and owners >= workers:
                started, base = time.perf_counter(), done
                meter.start()
            if done >= events and started is not None:
                elapsed = time.perf_counter() - started
                meter.stop()
                break
            for proc, log in zip(procs, logs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"a worker exited:\n{tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not finish ({done}/{events}):\n{tail(logs[0])}")
            time.sleep(0.02)
    finally:
        for proc in procs:
            stop(proc)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(sum(request_count), 0) FROM application_metrics")
        counted = int(row.fetchone()[0])  # type: ignore[index]
    return (events - base) / elapsed, counted, meter.cores()


def run_kafka_benchmark(events: int = 1_000_000) -> KafkaBenchResult:
    result = KafkaBenchResult(events, PARTITIONS)
    with scratch_dir("kafka") as root:
        lines = app_logs_lines(events)
        server = EmbeddedPostgres(root / "pg")
        server.start()
        try:
            with TansuBroker(log=root / "tansu.log") as broker:
                _produce(broker.bootstrap, lines)
                result.bare_default_events_per_s, _ = bare_consume_rate(
                    broker.bootstrap, events, {}, "bench-bare-default"
                )
                rate, cores = bare_consume_rate(broker.bootstrap, events, FETCH_SETTINGS)
                result.bare_events_per_s = rate
                result.cores["bare"] = cores
                for workers in (1, 2):
                    rate, counted, cores = _worker_rate(root, server, broker, events, workers)
                    if workers == 1:
                        result.one_worker_events_per_s = rate
                    else:
                        result.two_workers_events_per_s = rate
                    result.counted[f"{workers} worker(s)"] = counted
                    result.cores[f"{workers} worker(s)"] = cores
        finally:
            server.stop()
    result.load_average = [round(x, 2) for x in psutil.getloadavg()]
    return result
