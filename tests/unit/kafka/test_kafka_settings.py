"""Kafka settings: where the brokers come from, librdkafka properties from the spec and the
environment (secrets only from the environment, never printed), and the spec rules that
only apply when Kafka is the log."""

from __future__ import annotations

import pytest

from streamdash.errors import Fatal, SpecError
from streamdash.kafka.keys import MessageKeys
from streamdash.kafka.settings import KafkaSettings
from streamdash.spec.kafka import kafka_problems, writes_alone
from streamdash.spec.loader import load_builtin, parse_pipeline
from streamdash.spec.models import KafkaSpec

STREAM = """
streams:
  s:
    time: {field: t}
    key: k
    schema: {t: int64, k: string, g: string}
"""


def test_bootstrap_precedence_cli_then_env_then_spec() -> None:
    spec = KafkaSpec(bootstrap="spec:1")
    env = {"STREAMDASH_KAFKA_BOOTSTRAP": "env:2"}
    assert KafkaSettings.resolve(spec, "cli:3", env).bootstrap == "cli:3"
    assert KafkaSettings.resolve(spec, None, env).bootstrap == "env:2"
    assert KafkaSettings.resolve(spec, None, {}).bootstrap == "spec:1"
    with pytest.raises(Fatal, match="--kafka HOST:PORT"):
        KafkaSettings.resolve(KafkaSpec(), None, {})


def test_environment_passes_librdkafka_properties_and_masks_secrets() -> None:
    env = {
        "STREAMDASH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "STREAMDASH_KAFKA_SASL_PASSWORD": "hunter2",
        "STREAMDASH_SCHEMA_REGISTRY": "https://user:pw@registry:8081",
    }
    spec = KafkaSpec(config={"sasl.mechanism": "PLAIN"})
    settings = KafkaSettings.resolve(spec, "b:9092", env)
    producer = settings.producer_config()
    assert producer["security.protocol"] == "SASL_SSL"
    assert producer["sasl.password"] == "hunter2"
    assert producer["sasl.mechanism"] == "PLAIN"
    assert producer["enable.idempotence"] is True and producer["acks"] == "all"
    consumer = settings.consumer_config()
    assert consumer["enable.auto.commit"] is False and consumer["group.id"] == "streamdash"
    shown = settings.describe()
    assert shown["sasl.password"] == "***"
    assert "hunter2" not in repr(shown) and "pw@" not in repr(shown)
    with pytest.raises(Fatal, match="set by streamdash"):
        KafkaSettings.resolve(spec, "b:1", {"STREAMDASH_KAFKA_ENABLE_AUTO_COMMIT": "true"})


def test_spec_refuses_secrets_and_managed_properties() -> None:
    with pytest.raises(SpecError) as err:
        parse_pipeline(STREAM + "kafka: {config: {sasl.password: x}}\n")
    assert "STREAMDASH_KAFKA_SASL_PASSWORD" in str(err.value)
    with pytest.raises(SpecError, match="set by streamdash"):
        parse_pipeline(STREAM + "kafka: {config: {group.id: x}}\n")
    with pytest.raises(SpecError, match="log: expected one of"):
        parse_pipeline(STREAM + "log: kafak\n")


def test_kafka_rules_apply_when_kafka_is_the_log() -> None:
    sessions = STREAM + (
        "views:\n  v:\n    from: s\n    window: {session: {gap: 10s}}\n"
        "    group_by: [g]\n    metrics: {n: count()}\n"
    )
    parse_pipeline(sessions)  # fine on the embedded log
    with pytest.raises(SpecError, match="partition key"):
        parse_pipeline(sessions + "log: kafka\n")
    avro = STREAM.replace("key: k", "key: k\n    format: avro") + "log: kafka\n"
    with pytest.raises(SpecError, match="schema_registry"):
        parse_pipeline(avro)
    parse_pipeline(avro + "kafka: {schema_dir: schemas}\n")


def test_builtin_views_written_alone_are_those_grouped_by_the_key() -> None:
    pipeline = load_builtin()
    alone = {v for v in pipeline.views if writes_alone(pipeline, v)}
    assert alone == {
        "application_metrics",
        "sensor_metrics",
        "user_sessions",
        "user_aggregations",
        "created_users",
    }
    assert kafka_problems(pipeline) == []
    topics = {name: spec.topic for name, spec in pipeline.streams.items()}
    assert topics == {
        "app_logs": "logs",
        "sensor": "sensor",
        "user_events": "user_events",
        "interactions": "user_interactions",
        "users": "users_created",
    }


def test_message_keys_are_the_key_field_text() -> None:
    keys = MessageKeys("user_id")
    lines = [b'{"user_id": "u-1"}', b'{"user_id": 17}', b'{"x": 1}', b'{"user_id": null}', b"[1]"]
    assert keys.keys(lines) == [b"u-1", b"17", None, None, None]
    assert MessageKeys(None).keys(lines[:2]) == [None, None]
