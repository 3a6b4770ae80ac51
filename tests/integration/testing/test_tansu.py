"""The broker the Kafka tests run against really speaks Kafka: topics with partitions, an
idempotent producer, a consumer group with manual commits, and a restart."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streamdash.testing.tansu import CONSUMER_QUIRKS, TansuBroker


def _consume_all(bootstrap: str, topic: str, expected: int) -> list[tuple[int, bytes]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "test",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **CONSUMER_QUIRKS,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple[int, bytes]] = []
    for _ in range(60):
        for message in consumer.consume(1000, 0.5):
            assert message.error() is None, message.error()
            got.append((message.partition(), message.value()))
        if len(got) >= expected:
            break
    consumer.close()
    return got


def test_partitions_idempotent_producer_and_group(kafka_broker: TansuBroker) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    for future in admin.create_topics([NewTopic("t", 3, 1)]).values():
        future.result()
    producer = Producer(
        {"bootstrap.servers": kafka_broker.bootstrap, "enable.idempotence": True, "acks": "all"}
    )
    for i in range(300):
        producer.produce("t", key=f"k{i % 7}", value=b'{"i": %d}' % i)
    assert producer.flush(10) == 0
    got = _consume_all(kafka_broker.bootstrap, "t", 300)
    assert sorted(v for _, v in got) == sorted(b'{"i": %d}' % i for i in range(300))
    assert {p for p, _ in got} == {0, 1, 2}


def test_restart_on_the_same_port() -> None:
    with TansuBroker() as broker:
        port = broker.port
        broker.restart()
        assert broker.running and broker.port == port
    assert not broker.running
