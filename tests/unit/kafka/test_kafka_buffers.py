"""A poll's messages held per partition until due: grouped by (topic, partition) in order
whatever the interleaving, error events handed back (a KafkaError must never be compared
with ==: confluent-kafka raises inside the comparison), revoked partitions skipped, and a
partition due at the batch size, after the longest wait, or when caught up."""

from __future__ import annotations

from confluent_kafka import KafkaError, Message

from streamdash.kafka.buffers import PartitionBuffers, partition_runs


def _message(topic: str, partition: int, offset: int) -> Message:
    return Message(topic=topic, partition=partition, offset=offset, value=b"{}")


def _offsets(messages: list[Message] | None) -> list[tuple[str, int, int]]:
    assert messages is not None
    return [(m.topic(), m.partition(), m.offset()) for m in messages]


def test_runs_follow_partition_and_topic_changes() -> None:
    messages = [
        _message("a", 0, 0),
        _message("a", 0, 1),
        _message("a", 1, 0),
        _message("b", 1, 0),  # same partition number, another topic
        _message("a", 0, 2),
    ]
    runs = partition_runs(messages)
    assert [(key, [m.offset() for m in run]) for key, run in runs] == [
        (("a", 0), [0, 1]),
        (("a", 1), [0]),
        (("b", 1), [0]),
        (("a", 0), [2]),
    ]
    assert partition_runs([]) == []


def test_buffers_group_in_order_and_hand_back_error_events() -> None:
    buffers = PartitionBuffers(batch_messages=3, max_wait_s=0.2)
    error = Message(topic="a", partition=0, error=KafkaError(KafkaError._TRANSPORT))
    owned = {("a", 0), ("a", 1)}
    events = buffers.add(
        [_message("a", 0, 0), _message("a", 1, 0), error, _message("x", 0, 0)], 0.0, owned
    )
    assert [e.error().code() for e in events] == [KafkaError._TRANSPORT]
    assert buffers.total == 2 and not buffers.has(("x", 0))  # not owned: skipped
    buffers.add([_message("a", 0, 1)], 0.1, owned)
    # not due: under the batch size, not waited long enough, not caught up
    assert buffers.due(("a", 0), 0.15, high_watermark=10) is None
    # caught up: the last buffered message is the last the broker has
    assert _offsets(buffers.due(("a", 0), 0.15, high_watermark=2)) == [("a", 0, 0), ("a", 0, 1)]
    assert not buffers.has(("a", 0)) and buffers.total == 1
    # waited long enough (since its oldest message arrived)
    assert _offsets(buffers.due(("a", 1), 0.2, high_watermark=None)) == [("a", 1, 0)]
    assert not buffers and buffers.total == 0


def test_a_full_batch_is_due_at_once() -> None:
    buffers = PartitionBuffers(batch_messages=3, max_wait_s=10.0)
    buffers.add([_message("a", 0, i) for i in range(4)], 0.0, {("a", 0)})
    batch = buffers.due(("a", 0), 0.0, high_watermark=100)
    assert [m.offset() for m in batch or []] == [0, 1, 2, 3]
    buffers.add([_message("a", 0, 4)], 0.0, {("a", 0)})
    assert _offsets(buffers.drop(("a", 0))) == [("a", 0, 4)] and buffers.total == 0
