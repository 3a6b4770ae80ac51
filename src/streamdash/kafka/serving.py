"""The ingest API with Kafka as the log: the log it appends to (producing, acks=all) and the
/metrics collector that reads the workers' progress, per stream and per partition."""

from __future__ import annotations

import logging

from streamdash.errors import Retryable
from streamdash.kafka.progress import KafkaPipelineCollector
from streamdash.kafka.settings import KafkaSettings
from streamdash.kafka.topics import ensure_topics, pipeline_topics
from streamdash.log.kafka import KafkaLog
from streamdash.spec.models import Pipeline

_log = logging.getLogger(__name__)


def kafka_ingest_log(
    pipeline: Pipeline, settings: KafkaSettings, database_url: str | None
) -> tuple[KafkaLog, KafkaPipelineCollector]:
    """Topics are made (or found) first; an unreachable broker does not stop the API: it
    answers 503 until the broker is back."""
    try:
        ensure_topics(settings, pipeline_topics(pipeline, settings))
    except Retryable as err:
        _log.warning("Kafka topics not checked (%s); producing will tell", err)
    _log.info("ingest produces to Kafka: %s", settings.describe())
    return KafkaLog(pipeline, settings), KafkaPipelineCollector(
        pipeline, database_url, settings.group
    )
