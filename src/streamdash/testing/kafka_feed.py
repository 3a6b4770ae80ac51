"""Events onto a Kafka topic for tests and benchmarks: one JSON event per message, keyed by
the stream's `key` field (so one key's events stay in one partition, in order)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` partitions (an existing topic is left as it is)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics([NewTopic(topic, num_partitions=partitions)])[topic]
    try:
        future.result(timeout=30)
    except KafkaException as err:
        if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def message_key(line: bytes, key_field: str | None) -> bytes | None:
    """The key of one event: its `key_field` value as UTF-8 text (None: no key)."""
    if key_field is None:
        return None
    try:
        event: Any = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    value = event.get(key_field) if isinstance(event, dict) else None
    return None if value is None else str(value).encode()


def produce(bootstrap: str, topic: str, lines: Iterable[bytes], key_field: str | None) -> int:
    """Send every line as one message and wait until all are acknowledged; return the count."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    failures: list[str] = []

    def delivered(err: Any, _message: Any) -> None:
        if err is not None:
            failures.append(str(err))

    sent = 0
    for line in lines:
        while True:
            try:
                producer.produce(topic, line, message_key(line, key_field), on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
    if producer.flush(60) or failures:
        raise KafkaException(f"{len(failures)} message(s) to {topic!r} failed: {failures[:3]}")
    return sent
