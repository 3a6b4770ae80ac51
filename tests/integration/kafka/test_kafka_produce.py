"""Producing to a real broker (tansu): `generate --to kafka://` for all five streams keyed
like the seeds, topic creation (or a clear refusal), and the Kafka log's append: acknowledged
only after the broker's ack, and a bounded error when the broker is gone."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest
from kafka_support import create_topic, read_topic

from streamdash.errors import LogUnavailable
from streamdash.kafka.generate import parse_kafka_url, produce_generated
from streamdash.kafka.headers import REQUEST_HEADER, SEQ_HEADER
from streamdash.kafka.settings import KafkaSettings
from streamdash.kafka.topics import TopicMissing, ensure_topics
from streamdash.log.kafka import KafkaLog
from streamdash.sources.generators import generate
from streamdash.spec.loader import load_builtin
from streamdash.testing.tansu import TansuBroker

START_US = 1_717_000_000_000_000


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    with TansuBroker(log=tmp_path_factory.mktemp("tansu") / "tansu.log") as running:
        yield running


@pytest.mark.parametrize("stream", ["app_logs", "sensor", "user_events", "interactions", "users"])
def test_generate_to_kafka_keys_like_the_seeds(broker: TansuBroker, stream: str) -> None:
    pipeline = load_builtin()
    spec = pipeline.streams[stream]
    items = list(generate(stream, count=200, seed=3, start_us=START_US))
    result = produce_generated(
        items, stream=stream, pipeline=pipeline, url=f"kafka://{broker.bootstrap}/"
    )
    assert result.topic == spec.topic
    expected = 200
    if stream == "sensor":  # one message per reading
        expected = sum(len(msgspec.json.decode(body)["payload"]) for body in items)
    assert result.produced == expected
    messages = read_topic(broker.bootstrap, result.topic, expected)
    assert len(messages) == expected
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    for message in messages:
        assert message.value is not None
        event = msgspec.json.decode(message.value)
        assert message.key == str(event[spec.key]).encode()  # keyed by the spec's key
        partitions_of[message.key].add(message.partition)
    assert all(len(p) == 1 for p in partitions_of.values())  # one key, one partition
    assert len({m.partition for m in messages}) > 1


def test_kafka_urls() -> None:
    assert parse_kafka_url("kafka://h:1,h:2/t").bootstrap == "h:1,h:2"
    assert parse_kafka_url("kafka://h:1/t").topic == "t"
    assert parse_kafka_url("kafka://h:1").topic is None
    with pytest.raises(Exception, match="kafka://HOST:PORT/TOPIC"):
        parse_kafka_url("http://h:1/t")


def test_missing_topics_are_created_or_refused(broker: TansuBroker) -> None:
    settings = KafkaSettings(broker.bootstrap, partitions=3)
    with pytest.raises(TopicMissing, match="nope_1, nope_2"):
        ensure_topics(replace(settings, create_topics=False), ["nope_1", "nope_2"])
    assert ensure_topics(settings, ["made_here"]) == {"made_here": 3}
    create_topic(broker.bootstrap, "already", 2)
    assert ensure_topics(settings, ["already", "made_here"]) == {"already": 2, "made_here": 3}


def test_log_append_waits_for_acks_with_request_headers(broker: TansuBroker) -> None:
    pipeline = load_builtin("interactions")
    settings = KafkaSettings(broker.bootstrap, partitions=2)
    ensure_topics(settings, ["user_interactions"])
    log = KafkaLog(pipeline, settings)
    lines = list(generate("interactions", count=5, seed=1, start_us=START_US))
    payload = b"\n".join(lines) + b"\n"
    log.append("interactions", [(payload, 5)], ["req-1"])
    log.close()
    got = [m for m in read_topic(broker.bootstrap, "user_interactions", 5) if m.headers]
    assert sorted(m.value for m in got) == sorted(lines)
    seqs = sorted(int(dict(m.headers)[SEQ_HEADER]) for m in got)
    assert seqs == [0, 1, 2, 3, 4]
    assert {dict(m.headers)[REQUEST_HEADER] for m in got} == {b"req-1"}


def test_log_append_fails_in_bounded_time_when_the_broker_is_down(tmp_path: Path) -> None:
    pipeline = load_builtin("app_logs")
    with TansuBroker(log=tmp_path / "tansu.log") as down:
        settings = KafkaSettings(down.bootstrap, partitions=1, delivery_timeout_s=2.0)
        ensure_topics(settings, ["logs"])
        log = KafkaLog(pipeline, settings)
        line = next(generate("app_logs", count=1, seed=1, start_us=START_US))
        log.append("app_logs", [(line + b"\n", 1)])
        down.stop()
        started = time.monotonic()
        with pytest.raises(LogUnavailable, match=r"not acknowledged|did not store"):
            log.append("app_logs", [(line + b"\n", 1)])
        assert time.monotonic() - started < 6.0
        down.start()  # memory storage: the topic is gone, and is made again
        ensure_topics(settings, ["logs"])
        deadline = time.monotonic() + 30
        while True:  # the same producer recovers by itself once the broker is back
            try:
                log.append("app_logs", [(line + b"\n", 1)])
                break
            except LogUnavailable:
                assert time.monotonic() < deadline, "the producer did not recover"
        log.close()
