"""`streamdash generate STREAM --to kafka://HOST:PORT/TOPIC`: generated events straight into
a topic, one message per event, keyed by the stream's `key` like the seed pipelines keyed
theirs. Sensor Logger bodies are flattened into one event per reading first (the topic
holds readings, as ingest would have written them); what the flattening rejects is produced
as it is, like a faulty producer would, and becomes a dead letter in the workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from urllib.parse import urlsplit

from streamdash.errors import Fatal, StreamdashError
from streamdash.kafka.keys import MessageKeys
from streamdash.kafka.producer import EventProducer
from streamdash.kafka.settings import KafkaSettings
from streamdash.kafka.topics import ensure_topics
from streamdash.spec.kafka import topic_of
from streamdash.spec.models import Pipeline

BATCH = 5000


@dataclass(frozen=True)
class KafkaTarget:
    bootstrap: str
    topic: str | None


def parse_kafka_url(url: str) -> KafkaTarget:
    """`kafka://host:port[,host:port]/[topic]` -> its brokers and topic (None: the stream's)."""
    parts = urlsplit(url)
    if parts.scheme != "kafka" or not parts.netloc:
        raise Fatal(f"{url!r} is not a Kafka URL; expected kafka://HOST:PORT/TOPIC")
    topic = parts.path.strip("/") or None
    if topic is not None and "/" in topic:
        raise Fatal(f"{url!r}: a topic name has no '/'; expected kafka://HOST:PORT/TOPIC")
    return KafkaTarget(parts.netloc, topic)


@dataclass
class ProduceResult:
    topic: str
    partitions: int
    produced: int = 0

    def summary(self) -> str:
        return (
            f"produced {self.produced} message(s) to topic {self.topic} "
            f"({self.partitions} partition(s)), each acknowledged by the broker"
        )


def _events(stream: str, pipeline: Pipeline, items: Iterable[bytes]) -> Iterator[bytes]:
    spec = pipeline.streams[stream]
    if spec.adapter != "sensorlogger":
        yield from items
        return
    from streamdash.ingest.sensorlogger import sensorlogger_events
    from streamdash.ingest.validate import EventValidator
    from streamdash.log.kafka import ndjson_lines

    validator = EventValidator(stream, spec)
    for body in items:
        try:
            result = sensorlogger_events(body, validator)
        except StreamdashError:  # not a Sensor Logger body at all
            yield body
            continue
        yield from ndjson_lines(result.payload, result.count)
        for rejection in result.rejections:
            yield rejection.raw


def produce_generated(
    items: Iterable[bytes],
    *,
    stream: str,
    pipeline: Pipeline,
    url: str,
    rate: float | None = None,
) -> ProduceResult:
    """Produce generated `items` of `stream`, paced at `rate` events/s when given."""
    from streamdash.sources.generators import paced

    target = parse_kafka_url(url)
    settings = KafkaSettings.for_pipeline(pipeline, target.bootstrap)
    topic = target.topic or topic_of(pipeline, stream)
    settings = replace(settings, delivery_timeout_s=30.0)
    partitions = ensure_topics(settings, [topic])[topic]
    producer = EventProducer(settings)
    keys = MessageKeys(pipeline.streams[stream].key)
    result = ProduceResult(topic, partitions)
    # items are paced, not events: `rate` counts Sensor Logger bodies like the generator does
    events = _events(stream, pipeline, paced(items, rate) if rate else items)
    try:
        while batch := list(islice(events, BATCH)):
            producer.send(topic, batch, keys.keys(batch))
            result.produced += len(batch)
    finally:
        producer.close()
    return result
