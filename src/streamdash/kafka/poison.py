"""The optional copy of undecodable messages to `kafka.dlq_topic`, made by the workers after
the messages' dead letters are committed to PostgreSQL."""

from __future__ import annotations

import logging

from streamdash.errors import Retryable
from streamdash.kafka.producer import EventProducer, Headers
from streamdash.kafka.settings import KafkaSettings
from streamdash.results import DeadLetter

_log = logging.getLogger(__name__)

MAX_COPY_BYTES = 900_000
"""Larger values are copied without their bytes (Kafka's default limit is 1 MB)."""


class PoisonCopy:
    """Copies undecodable messages to the DLQ topic: the raw value, with headers naming
    the reason, the source topic, partition and offset. Best effort: a failure is logged,
    the dead letter is in PostgreSQL either way."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self.producer = EventProducer(settings)

    def __call__(self, source: str, letters: list[DeadLetter]) -> None:
        headers: list[Headers | None] = []
        values: list[bytes | None] = []
        for d in letters:
            fits = len(d.raw) <= MAX_COPY_BYTES
            headers.append(
                [
                    ("streamdash-reason", d.reason.encode()),
                    ("streamdash-source", f"{source}:{d.partition}:{d.offset}".encode()),
                    ("streamdash-detail", d.detail.encode()[:1000]),
                    *([] if fits else [("streamdash-value-omitted", str(len(d.raw)).encode())]),
                ]
            )
            # a value the broker refused once (too large) would be refused again
            values.append(d.raw if fits else None)
        try:
            self.producer.send(self.topic, values, [None] * len(letters), headers)
        except Retryable as err:
            _log.warning("copying %d dead letters to %s failed: %s", len(letters), self.topic, err)
