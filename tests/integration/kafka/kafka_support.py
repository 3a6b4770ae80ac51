"""Reading topics back in tests: every message of a topic, with partition, offset, key,
value and headers, through a plain consumer (no group)."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result()


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[Message]:
    """At least `expected` messages of `topic` (all partitions), in partition/offset order."""
    import time

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-reader"})
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = list(metadata.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for m in consumer.consume(10_000, 0.2):
                assert m.error() is None, m.error()
                got.append(
                    Message(m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ()))
                )
    finally:
        consumer.close()
    return sorted(got, key=lambda m: (m.partition, m.offset))
