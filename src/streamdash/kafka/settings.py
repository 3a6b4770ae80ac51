"""Resolved Kafka settings: the spec's `kafka:` section, environment variables and the
command line, turned into librdkafka configurations for producers, consumers and admins.

Precedence: `--kafka` > STREAMDASH_KAFKA_BOOTSTRAP > `kafka.bootstrap` in the spec. Any
other `STREAMDASH_KAFKA_<NAME>` variable is passed to librdkafka as property `<name>` in
lower case with `_` -> `.` (STREAMDASH_KAFKA_SASL_PASSWORD -> sasl.password): that is where
SASL/SSL secrets go. Secrets are never printed: `describe()` masks them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streamdash.config import ENV_KAFKA, mask_url
from streamdash.errors import Fatal
from streamdash.spec.models import MANAGED_PROPERTIES, SECRET_WORDS, KafkaSpec, Pipeline

ENV_PREFIX = "STREAMDASH_KAFKA_"
ENV_SCHEMA_REGISTRY = "STREAMDASH_SCHEMA_REGISTRY"
"""The registry URL may carry credentials: it can come from the environment too."""
DEFAULT_DELIVERY_TIMEOUT_S = 5.0
"""How long ingest waits for the broker's acknowledgement before answering 503."""
FETCH_SETTINGS: dict[str, str | int | float | bool] = {
    # librdkafka postpones a partition's next fetch by fetch.queue.backoff.ms (default 1 s)
    # whenever its prefetch queue is over queued.min.messages: a consumer that takes 100k
    # messages per poll then idles for most of that second (bare consume measured 170k/s
    # with the default, 420k/s with 10 ms, docs/benchmarks.md)
    "fetch.queue.backoff.ms": 10,
    "queued.min.messages": 200_000,
    "fetch.max.bytes": 64 << 20,
    "max.partition.fetch.bytes": 16 << 20,
}
"""The consumer's fetch settings: big fetches, prefetched while the engine works."""


def kafka_log(
    pipeline: Pipeline, option: str | None = None, environ: Mapping[str, str] | None = None
) -> KafkaSettings | None:
    """The Kafka settings when Kafka is the log — `--kafka` given, STREAMDASH_KAFKA_BOOTSTRAP
    set, or `log: kafka` in the spec — else None (the embedded log)."""
    env = os.environ if environ is None else environ
    if option or env.get(ENV_KAFKA) or pipeline.log == "kafka":
        return KafkaSettings.resolve(pipeline.kafka, option, env)
    return None


def _property(env_name: str) -> str:
    return env_name[len(ENV_PREFIX) :].lower().replace("_", ".")


def is_secret(name: str) -> bool:
    return any(word in name for word in SECRET_WORDS)


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    group: str = "streamdash"
    partitions: int = 6
    replication: int = -1
    create_topics: bool = True
    dead_letter_topic: str = "streamdash_dead_letters"
    dlq_topic: str | None = None
    schema_registry: str | None = None
    schema_dir: Path | None = None
    dedupe_window_us: int = 600_000_000
    delivery_timeout_s: float = DEFAULT_DELIVERY_TIMEOUT_S
    client: dict[str, str | int | float | bool] = field(default_factory=dict)
    """librdkafka properties from the spec and the environment, for every client."""

    @classmethod
    def resolve(
        cls,
        spec: KafkaSpec,
        bootstrap: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> KafkaSettings:
        env = os.environ if environ is None else environ
        servers = bootstrap or env.get(ENV_KAFKA) or spec.bootstrap
        if not servers:
            raise Fatal(
                "Kafka is the log but no broker is given: pass --kafka HOST:PORT, set "
                f"{ENV_KAFKA}, or set kafka.bootstrap in the spec"
            )
        client: dict[str, str | int | float | bool] = dict(spec.config)
        for name, value in env.items():
            if not name.startswith(ENV_PREFIX) or name == ENV_KAFKA:
                continue
            prop = _property(name)
            if prop in MANAGED_PROPERTIES:
                raise Fatal(f"{name}: {prop} is set by streamdash itself; unset {name}")
            client[prop] = value
        registry = env.get(ENV_SCHEMA_REGISTRY) or spec.schema_registry
        return cls(
            bootstrap=servers,
            group=spec.group,
            partitions=spec.partitions,
            replication=spec.replication,
            create_topics=spec.create_topics,
            dead_letter_topic=spec.dead_letter_topic,
            dlq_topic=spec.dlq_topic,
            schema_registry=registry,
            schema_dir=Path(spec.schema_dir) if spec.schema_dir else None,
            dedupe_window_us=spec.dedupe_window,
            client=client,
        )

    @classmethod
    def for_pipeline(
        cls,
        pipeline: Pipeline,
        bootstrap: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> KafkaSettings:
        return cls.resolve(pipeline.kafka, bootstrap, environ)

    def common(self) -> dict[str, str | int | float | bool]:
        return {**self.client, "bootstrap.servers": self.bootstrap}

    def producer_config(self) -> dict[str, str | int | float | bool]:
        """Idempotent (no duplicates from the client's own retries), acks from all in-sync
        replicas, and a bounded delivery time so that an unreachable broker becomes an error
        instead of a request waiting forever."""
        timeout_ms = int(self.delivery_timeout_s * 1000)
        return {
            "linger.ms": 5,
            "message.timeout.ms": timeout_ms,
            **self.common(),
            "enable.idempotence": True,
            "acks": "all",
        }

    def consumer_config(self) -> dict[str, str | int | float | bool]:
        """Offsets are never taken from Kafka for correctness (PostgreSQL is the system of
        record); they are committed to Kafka only for monitoring tools."""
        return {
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            # the rebalance timeout is max.poll.interval.ms: a member that died is noticed
            # after session.timeout.ms, and tansu waits the whole rebalance timeout for
            # every join, so both stay short (the loop polls every few 100 ms anyway)
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 10_000,
            **FETCH_SETTINGS,
            **self.common(),
            "group.id": self.group,
            "enable.auto.commit": False,
        }

    def describe(self) -> dict[str, str]:
        """The settings fit to print: values of secret-looking properties masked."""
        shown = {"bootstrap": self.bootstrap, "group": self.group}
        for name, value in sorted(self.client.items()):
            shown[name] = "***" if is_secret(name) else str(value)
        if self.schema_registry:
            shown["schema registry"] = mask_url(self.schema_registry)
        return shown
