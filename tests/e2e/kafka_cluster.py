"""A Kafka deployment for end-to-end tests: a real broker (tansu), topics with several
partitions, generated events produced the way `generate --to kafka://` produces them, and
`streamdash worker` processes (started, killed with SIGKILL, restarted) sharing one
PostgreSQL database.

Flush events: one valid event per partition of each topic, far after the data (see
conftest.py: FLUSH_AHEAD_US), produced to that partition explicitly with a key of its own
("flush-<p>"), so that every partition's watermark passes every window of the data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import psycopg
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streamdash.kafka.generate import produce_generated
from streamdash.sources.generators import generate
from streamdash.spec.kafka import topic_of
from streamdash.spec.models import Pipeline
from streamdash.testing.tansu import TansuBroker

GROUP = "streamdash"
DEAD_LETTER_TOPIC = "streamdash_dead_letters"


def _flush_event(pipeline: Pipeline, stream: str, partition: int, at_us: int) -> bytes:
    item = next(generate(stream, count=1, seed=7, start_us=at_us))
    if stream == "sensor":
        body = msgspec.json.decode(item)
        reading = body["payload"][0]
        event = {
            "device_id": "",
            "session_id": body["sessionId"],
            "message_id": body["messageId"],
            "sensor": reading["name"],
            "time": reading["time"],
            **reading["values"],
        }
    else:
        event = msgspec.json.decode(item)
    key = pipeline.streams[stream].key
    assert key is not None
    event[key] = 10_000 + partition if isinstance(event[key], int) else f"flush-{partition}"
    return msgspec.json.encode(event)


class KafkaCluster:
    def __init__(
        self, root: Path, database_url: str, broker: TansuBroker, pipeline: Pipeline
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.broker = broker
        self.pipeline = pipeline
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}

    def pipeline_stream(self, topic: str) -> str:
        return next(s for s in self.pipeline.streams if topic_of(self.pipeline, s) == topic)

    @property
    def topics(self) -> list[str]:
        return [topic_of(self.pipeline, s) for s in self.pipeline.streams]

    def create_topics(self, partitions: int) -> None:
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        topics = [*self.topics, DEAD_LETTER_TOPIC]
        for future in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
            future.result()

    def produce(self, stream: str, items: list[bytes]) -> int:
        result = produce_generated(
            items, stream=stream, pipeline=self.pipeline, url=f"kafka://{self.broker.bootstrap}/"
        )
        return result.produced

    def produce_flush(self, at_us: int, partitions: int) -> None:
        producer = Producer({"bootstrap.servers": self.broker.bootstrap, "acks": "all"})
        for stream in self.pipeline.streams:
            for p in range(partitions):
                value = _flush_event(self.pipeline, stream, p, at_us)
                producer.produce(topic_of(self.pipeline, stream), value, b"flush", partition=p)
        assert producer.flush(30) == 0

    # -- workers ------------------------------------------------------------------------

    def start_worker(self, name: str, *extra: str, command: str = "worker") -> None:
        assert name not in self.workers or self.workers[name].poll() is not None
        env = {**os.environ, "STREAMDASH_DATABASE_URL": self.database_url}
        self.starts[name] = self.starts.get(name, 0) + 1
        out = (self.root / f"{name}-{self.starts[name]}.log").open("wb")
        with out:
            self.workers[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamdash",
                    command,
                    "--kafka",
                    self.broker.bootstrap,
                    *extra,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_api(self, port: int, data_dir: Path) -> None:
        """`streamdash serve --kafka` on `port`, until /healthz answers."""
        import httpx

        self.start_worker("api", "--port", str(port), "--data-dir", str(data_dir), command="serve")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.workers["api"].poll() is None, self.output("api")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the API did not start:\n{self.output('api')}")

    def kill_worker(self, name: str) -> None:
        proc = self.workers[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    def stop_all(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def output(self, name: str) -> str:
        path = self.root / f"{name}-{self.starts.get(name, 0)}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no output)"

    def outputs(self) -> str:
        return "\n".join(f"--- {n}:\n{self.output(n)}" for n in self.workers)

    # -- progress -----------------------------------------------------------------------

    def committed(self) -> dict[tuple[str, int], int]:
        """(topic, partition) -> committed next offset, from PostgreSQL."""
        prefix = f"kafka:{GROUP}:"
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            try:
                rows = conn.execute(
                    "SELECT consumer, next_offset FROM streamdash_offsets "
                    "WHERE consumer LIKE 'kafka:%%' AND next_offset IS NOT NULL"
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                return {}
        out: dict[tuple[str, int], int] = {}
        for consumer, offset in rows:
            topic, _, partition = str(consumer)[len(prefix) :].rpartition(":")
            out[(topic, int(partition))] = int(str(offset))
        return out

    def owned_by(self, name: str) -> list[str]:
        """The partitions (consumer names) the worker `name` holds, by its claims in
        PostgreSQL (a worker's owner name ends in its process id)."""
        pid = self.workers[name].pid
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT consumer FROM streamdash_kafka_partitions WHERE owner LIKE %s",
                (f"%:{pid}",),
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    def epochs(self) -> dict[str, int]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute("SELECT consumer, epoch FROM streamdash_kafka_partitions")
            return {str(c): int(str(e)) for c, e in rows.fetchall()}

    def wait_committed(self, ends: dict[tuple[str, int], int], timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            done = self.committed()
            behind = {k: (done.get(k, 0), end) for k, end in ends.items() if done.get(k, 0) < end}
            if not behind:
                return
            if all(p.poll() is not None for n, p in self.workers.items() if n != "api"):
                raise AssertionError(f"no worker is running:\n{self.outputs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"workers did not catch up: {behind}\n{self.outputs()}")
            time.sleep(0.25)
