"""Kafka as the log: producing (ingest, `generate --to kafka://`), topics, decoding message
values, and the workers of a consumer group that run the engine per partition with their
offsets, checkpoints and merged partial states in PostgreSQL.

confluent-kafka (and fastavro for Avro) come with the `kafka` extra and are imported
lazily, through `confluent()`, so that the rest of streamdash works without them.
"""

from __future__ import annotations

from types import ModuleType

from streamdash.errors import MissingExtra


def confluent() -> ModuleType:
    """The confluent_kafka module, or MissingExtra naming the pip extra to install."""
    try:
        import confluent_kafka
        import confluent_kafka.admin  # a submodule: imported for the attribute
    except ImportError:
        raise MissingExtra("confluent-kafka", "kafka") from None
    return confluent_kafka
