"""The `Log` contract on Kafka, for the ingest side: `append` produces one message per event
to the stream's topic, keyed by the stream's `key` field, and returns once the broker has
acknowledged all of them. Reading is done by the workers' consumer group
(`streamdash.kafka.worker`), partition by partition, so `read` is not offered here.

Idempotency keys travel as message headers (`streamdash-request`, and the event's index in
the request as `streamdash-seq`): a retried request is produced again, and the workers drop
the events of it they already have (see `streamdash.kafka.dedupe`).
"""

from __future__ import annotations

from streamdash.errors import Fatal
from streamdash.kafka.headers import REQUEST_HEADER, SEQ_HEADER
from streamdash.kafka.keys import MessageKeys
from streamdash.kafka.producer import EventProducer, Headers
from streamdash.kafka.settings import KafkaSettings
from streamdash.log.base import DEAD_LETTER_STREAM, Chunk
from streamdash.spec.kafka import topic_of
from streamdash.spec.models import Pipeline


def ndjson_lines(payload: bytes, count: int) -> list[bytes]:
    """The `count` event lines of a chunk's NDJSON payload, without their newlines."""
    lines = payload.split(b"\n", count)
    return lines[:count]


class KafkaLog:
    def __init__(
        self,
        pipeline: Pipeline,
        settings: KafkaSettings,
        producer: EventProducer | None = None,
    ) -> None:
        self.settings = settings
        self.producer = producer or EventProducer(settings)
        self.topics = {name: topic_of(pipeline, name) for name in pipeline.streams}
        self.topics[DEAD_LETTER_STREAM] = settings.dead_letter_topic
        self._keys = {name: MessageKeys(spec.key) for name, spec in pipeline.streams.items()}

    def append(
        self,
        stream: str,
        payloads: list[tuple[bytes, int]],
        keys: list[str | None] | None = None,
    ) -> list[int]:
        """Produce every event of `payloads`; returns once all are acknowledged (raises
        LogUnavailable otherwise). Kafka offsets are per partition, so no chunk has one
        start offset: the result is a list of zeros, one per chunk."""
        topic = self.topics.get(stream)
        if topic is None:
            raise Fatal(f"no topic for stream {stream!r}; expected one of {sorted(self.topics)}")
        values: list[bytes] = []
        message_keys: list[bytes | None] = []
        headers: list[Headers | None] = []
        for i, (payload, count) in enumerate(payloads):
            lines = ndjson_lines(payload, count)
            request = keys[i] if keys is not None else None
            values += lines
            if stream == DEAD_LETTER_STREAM:
                # a retry's dead letters must reach the same partition as the first try's
                message_keys += [request.encode() if request else None] * len(lines)
            else:
                message_keys += self._keys[stream].keys(lines)
            if request is None:
                headers += [None] * len(lines)
            else:
                tag = request.encode()
                headers += [
                    [(REQUEST_HEADER, tag), (SEQ_HEADER, str(seq).encode())]
                    for seq in range(len(lines))
                ]
        self.producer.send(topic, values, message_keys, headers)
        return [0] * len(payloads)

    def read(self, stream: str, start: int, max_events: int) -> list[Chunk]:
        raise Fatal("Kafka is read by `streamdash worker` (a consumer group), not through Log.read")

    def end_offset(self, stream: str) -> int:
        raise Fatal("Kafka end offsets are per partition: see the workers' lag metrics")

    def streams(self) -> list[str]:
        return sorted(self.topics)

    def close(self) -> None:
        self.producer.close()
