"""The ingest API with Kafka as the log, under load, while the broker is stopped and
started again: while it is down every request is answered 503 with a reason within the
delivery timeout (nothing is acknowledged that the broker has not stored), the producers
retry with their Idempotency-Key, the API recovers by itself when the broker is back, and
the final results equal the batch computation over the topics — every acknowledged event
counted exactly once (the workers drop the retries' repeats), ingest's rejects in the
dead-letter table exactly once.

The broker keeps its topics in `s3://` storage on a local S3-compatible server, so that a
restart loses nothing (the tansu build here has no `postgres://` storage engine)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

import httpx
import pytest
from batch_reference import MINUTE, SECOND
from e2e_harness import FLUSH_AHEAD_US, free_port
from kafka_cluster import DEAD_LETTER_TOPIC, KafkaCluster
from kafka_reference import end_offsets, read_records, verify_kafka

from streamdash.kafka.progress import KafkaStatusBoard, stream_offsets
from streamdash.log.sqlite import SqliteLog
from streamdash.sources.generators import generate
from streamdash.spec.loader import load_builtin
from streamdash.testing.s3 import S3Server
from streamdash.testing.tansu import TansuBroker

PARTITIONS = 3
STREAMS = {"app_logs": 6000, "interactions": 6000, "user_events": 3000}
BATCH = 100
PAUSE_S = 0.05
"""Between two requests of the load: it lasts well beyond the broker's downtime."""


@pytest.fixture
def cluster(tmp_path: Path, pg_db: str) -> Iterator[KafkaCluster]:
    with (
        S3Server(log=tmp_path / "s3.log") as s3,
        TansuBroker(storage=s3.storage_url, env=s3.tansu_env(), log=tmp_path / "tansu.log") as b,
    ):
        pipeline = load_builtin("app_logs", "interactions", "user_events")
        made = KafkaCluster(tmp_path / "cluster", pg_db, b, pipeline)
        made.create_topics(PARTITIONS)
        try:
            yield made
        finally:
            made.stop_all()


class Load:
    """Posts every stream's batches with an Idempotency-Key each, retrying a batch (same key)
    until it is acknowledged; records the 503 answers."""

    def __init__(self, url: str, batches: list[tuple[str, bytes]]) -> None:
        self.url = url
        self.batches = batches
        self.acknowledged = 0
        self.unavailable: list[tuple[float, str]] = []
        self.error: str | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=30.0) as client:
                for stream, body in self.batches:
                    self._post(client, stream, body)
                    time.sleep(PAUSE_S)
        except Exception as err:  # reported by the test
            self.error = repr(err)

    def _post(self, client: httpx.Client, stream: str, body: bytes) -> None:
        headers = {"Content-Type": "application/x-ndjson", "Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                answer = client.post(f"/v1/streams/{stream}/events", content=body, headers=headers)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if answer.status_code == 202:
                self.acknowledged += 1
                return
            assert answer.status_code == 503, answer.text
            self.unavailable.append((time.monotonic() - started, answer.json()["detail"]))
            time.sleep(0.3)
        raise AssertionError("a batch was never acknowledged")


def test_ingest_answers_503_while_the_broker_is_down_and_recovers(
    cluster: KafkaCluster, tmp_path: Path
) -> None:
    port = free_port()
    cluster.start_api(port, tmp_path / "api-data")
    cluster.start_worker("w1")
    start_us = (time.time_ns() // 1000 - 120 * MINUTE) // (5 * MINUTE) * (5 * MINUTE)
    per_stream: list[list[tuple[str, bytes]]] = []
    for stream, count in STREAMS.items():
        items = list(
            generate(stream, count=count, seed=5, start_us=start_us, rate=20.0, bad_fraction=0.01)
        )
        bodies = [b"\n".join(items[i : i + BATCH]) + b"\n" for i in range(0, count, BATCH)]
        per_stream.append([(stream, body) for body in bodies])
    batches = [b for group in zip_longest(*per_stream) for b in group if b is not None]
    load = Load(f"http://127.0.0.1:{port}", batches)
    thread = threading.Thread(target=load.run)
    thread.start()
    while load.acknowledged < len(batches) // 4:
        assert thread.is_alive(), load.error
        time.sleep(0.05)
    cluster.broker.stop(kill=True)  # a crash: SIGKILL
    time.sleep(8)
    assert load.unavailable, "no request was refused while the broker was down"
    cluster.broker.start()
    thread.join(240)
    assert not thread.is_alive() and load.error is None, load.error
    assert load.acknowledged == len(batches)
    # refused within the delivery timeout (5 s), with the reason
    assert max(seconds for seconds, _ in load.unavailable) < 15
    assert any("Kafka" in detail for _, detail in load.unavailable), load.unavailable[:3]
    data_end_us = start_us + int(max(STREAMS.values()) / 20.0 * SECOND)
    cluster.produce_flush(data_end_us + FLUSH_AHEAD_US, PARTITIONS)
    ends = {}
    for topic in [*cluster.topics, DEAD_LETTER_TOPIC]:
        for partition, end in end_offsets(read_records(cluster.broker.bootstrap, topic)).items():
            ends[(topic, partition)] = end
    cluster.wait_committed(ends)
    verdict = verify_kafka(
        cluster.database_url, cluster.broker.bootstrap, cluster.pipeline, DEAD_LETTER_TOPIC
    )
    assert not verdict.problems, "\n".join(verdict.problems[:60])
    assert all(verdict.rejected.values()), verdict.rejected
    _check_lag(cluster, port, ends, tmp_path)


def _check_lag(
    cluster: KafkaCluster, port: int, ends: dict[tuple[str, int], int], tmp_path: Path
) -> None:
    """/metrics and the status line read the workers' progress: per partition, the high
    watermark the worker's consumer saw and the committed offset; nothing lags any more."""
    time.sleep(2.5)  # idle workers report their high watermarks every 2 s
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for (topic, partition), end in ends.items():
        if topic == DEAD_LETTER_TOPIC:
            continue
        stream = cluster.pipeline_stream(topic)
        labels = f'partition="{partition}",stream="{stream}",topic="{topic}"'
        assert f"streamdash_kafka_partition_lag_messages{{{labels}}} 0.0" in text, labels
        assert f"streamdash_kafka_partition_committed_offset{{{labels}}} {end}.0" in text
    logs_total = sum(end for (topic, _), end in ends.items() if topic == "logs")
    assert f'streamdash_stream_processed_events_total{{stream="app_logs"}} {logs_total}.0' in text
    board = KafkaStatusBoard(cluster.pipeline, SqliteLog(tmp_path / "unused"), cluster.database_url)
    board.refresh()
    assert board.error is None
    status = board.streams["app_logs"]
    assert status.processed == logs_total and status.received - status.processed == 0
    received, rows = stream_offsets(cluster.database_url, "streamdash", cluster.pipeline)
    assert received["app_logs"] == logs_total  # what the dashboard's health cards show
    assert rows["app_logs"]["next_offset"] == logs_total
