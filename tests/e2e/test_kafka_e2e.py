"""Every built-in view end to end through Kafka: generated events (with late and malformed
ones) produced to the seeds' topics keyed like the seeds, `streamdash worker` processes
consuming them into PostgreSQL, and the result tables, dead letters and counters equal to
the batch computation over the topics' contents — for one worker, and for three workers of
which one is killed with SIGKILL mid-stream and restarted later."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_reference import MINUTE, SECOND
from e2e_harness import FLUSH_AHEAD_US
from kafka_cluster import KafkaCluster
from kafka_reference import end_offsets, read_records, verify_kafka

from streamdash.sources.generators import generate
from streamdash.spec.loader import load_builtin
from streamdash.testing.tansu import TansuBroker

SEED = 23
LATE = 0.02
BAD = 0.01
PARTITIONS = 4
PLAN = {  # stream -> (items, items per second of event time)
    "app_logs": (3000, 20.0),
    "interactions": (3000, 20.0),
    "user_events": (3000, 10.0),
    "users": (1000, 5.0),
    "sensor": (300, 3.0),  # Sensor Logger bodies of ~10 readings each
}


@pytest.fixture
def cluster(tmp_path: Path, pg_db: str) -> Iterator[KafkaCluster]:
    with TansuBroker(log=tmp_path / "tansu.log") as broker:
        made = KafkaCluster(tmp_path / "cluster", pg_db, broker, load_builtin())
        made.create_topics(PARTITIONS)
        try:
            yield made
        finally:
            made.stop_all()


def _produce_all(cluster: KafkaCluster, scale: float = 1.0) -> dict[tuple[str, int], int]:
    """The generated data of every stream and the flush events; returns the end offset of
    every (topic, partition)."""
    now_us = time.time_ns() // 1000
    start_us = (now_us - 120 * MINUTE) // (5 * MINUTE) * (5 * MINUTE)
    for stream, (count, rate) in PLAN.items():
        items = list(
            generate(
                stream,
                count=int(count * scale),
                seed=SEED,
                start_us=start_us,
                rate=rate,
                late_fraction=LATE,
                bad_fraction=BAD,
            )
        )
        cluster.produce(stream, items)
    data_end_us = start_us + max(int(n * scale / r * SECOND) for n, r in PLAN.values())
    cluster.produce_flush(data_end_us + FLUSH_AHEAD_US, PARTITIONS)
    ends: dict[tuple[str, int], int] = {}
    for topic in cluster.topics:
        for partition, end in end_offsets(read_records(cluster.broker.bootstrap, topic)).items():
            ends[(topic, partition)] = end
    assert len(ends) == PARTITIONS * len(PLAN)
    return ends


def _check(cluster: KafkaCluster) -> None:
    verdict = verify_kafka(cluster.database_url, cluster.broker.bootstrap, cluster.pipeline)
    assert not verdict.problems, "\n".join(verdict.problems[:60])
    for name, result in verdict.results.items():
        assert result.rows, f"{name} has no rows"
        if result.view.window != "none":
            assert result.late, f"no late event for {name}"
    assert all(verdict.rejected.values()), verdict.rejected
    sessions = verdict.results["user_sessions"].rows.values()
    assert max(row["event_count"] for row in sessions) > 3


def test_every_builtin_view_through_kafka_equals_the_batch_computation(
    cluster: KafkaCluster,
) -> None:
    ends = _produce_all(cluster)
    cluster.start_worker("w1")
    cluster.wait_committed(ends)
    _check(cluster)


def test_three_workers_one_killed_mid_stream_lose_and_repeat_nothing(
    cluster: KafkaCluster,
) -> None:
    ends = _produce_all(cluster, scale=2.0)
    # small polls: many commits per partition, so the kill lands mid-stream
    for name in ("w1", "w2", "w3"):
        cluster.start_worker(name, "--batch", "300")
    total = sum(ends.values())
    deadline = time.monotonic() + 120
    while sum(cluster.committed().values()) < total * 0.25:
        assert time.monotonic() < deadline, cluster.outputs()
        time.sleep(0.1)
    held = cluster.owned_by("w2")
    progress = sum(cluster.committed().values())
    cluster.kill_worker("w2")  # its partitions move to w1 and w3 after the session timeout
    assert progress < total * 0.9, "the kill must land mid-stream"
    assert held, "the killed worker held no partition"
    before = cluster.epochs()
    time.sleep(8)
    cluster.start_worker("w2", "--batch", "300")  # and come back: a second rebalance
    cluster.wait_committed(ends)
    _check(cluster)
    # the partitions the killed worker held are claimed again by another worker. A partition
    # it had read to the end needs no more commits, so its claim may come after the last
    # commit: the group notices the dead member after the session timeout, and each join
    # can wait out tansu's rebalance timeout (`KafkaSettings.consumer_config`)
    deadline = time.monotonic() + 60
    while not all((after := cluster.epochs())[c] > before[c] for c in held):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert all(after[c] > before[c] for c in held), (held, before, after)
    assert set(Counter(k[0] for k in cluster.committed())) == set(cluster.topics)
