"""Topics: find them, create the missing ones (with the configured partition count) or
refuse with an error naming them — never silently."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from streamdash.errors import Fatal, Retryable
from streamdash.kafka import confluent
from streamdash.kafka.settings import KafkaSettings
from streamdash.spec.kafka import topic_of
from streamdash.spec.models import Pipeline

_log = logging.getLogger(__name__)
TIMEOUT_S = 10.0


class KafkaUnavailable(Retryable):
    """The brokers could not be reached (or did not answer in time)."""


class TopicMissing(Fatal):
    """Topics the pipeline needs do not exist and creating them is switched off."""


def pipeline_topics(pipeline: Pipeline, settings: KafkaSettings) -> list[str]:
    """Every topic of the pipeline's streams, then the dead-letter topic."""
    return [*(topic_of(pipeline, s) for s in pipeline.streams), settings.dead_letter_topic]


def partition_counts(settings: KafkaSettings, topics: Iterable[str]) -> dict[str, int]:
    """Partitions per existing topic among `topics` (missing ones are left out)."""
    admin = confluent().admin.AdminClient(settings.common())
    try:
        metadata = admin.list_topics(timeout=TIMEOUT_S)
    except confluent().KafkaException as err:
        raise KafkaUnavailable(f"cannot reach Kafka at {settings.bootstrap}: {err}") from None
    wanted = set(topics)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if name in wanted and topic.error is None and topic.partitions
    }


def ensure_topics(settings: KafkaSettings, topics: Iterable[str]) -> dict[str, int]:
    """Partitions per topic, after creating the missing ones (`create_topics`), or
    TopicMissing naming them."""
    wanted = list(dict.fromkeys(topics))
    found = partition_counts(settings, wanted)
    missing = [t for t in wanted if t not in found]
    if not missing:
        return found
    if not settings.create_topics:
        raise TopicMissing(
            f"Kafka at {settings.bootstrap} has no topic(s) {', '.join(missing)}; create them "
            "or set kafka.create_topics: true in the spec"
        )
    kafka = confluent()
    admin = kafka.admin.AdminClient(settings.common())
    new = [kafka.admin.NewTopic(t, settings.partitions, settings.replication) for t in missing]
    for topic, future in admin.create_topics(new, request_timeout=TIMEOUT_S).items():
        try:
            future.result()
        except kafka.KafkaException as err:
            if err.args[0].code() != kafka.KafkaError.TOPIC_ALREADY_EXISTS:  # a racing worker
                raise KafkaUnavailable(f"cannot create topic {topic!r}: {err}") from None
        else:
            _log.info("created topic %s with %d partitions", topic, settings.partitions)
    found = partition_counts(settings, wanted)
    still = [t for t in wanted if t not in found]
    if still:
        raise KafkaUnavailable(f"topics {', '.join(still)} were created but are not visible yet")
    return found
