"""The `sinks:` section: typed inputs and every problem with its YAML path."""

from __future__ import annotations

from typing import Any

from streamdash.spec.loader import load_builtin
from streamdash.spec.models import Pipeline
from streamdash.spec.sinks import event_outputs, input_columns, parse_sinks
from streamdash.spec.validation import validate


def _with(sinks: dict[str, Any]) -> Pipeline:
    return load_builtin("user_events").model_copy(update={"sinks": sinks})


def _problems(sinks: dict[str, Any]) -> list[tuple[str, str]]:
    return [p for p in validate(_with(sinks)) if p[0].startswith("sinks")]


def test_defaults_of_a_view_and_a_stream_input() -> None:
    inputs = [{"view": "campaign_metrics"}, {"stream": "user_events", "tags": ["event_type"]}]
    pipeline = _with({"influx": {"type": "influxdb", "inputs": inputs}})
    assert _problems(pipeline.sinks) == []
    view, stream = parse_sinks(pipeline)["influx"].inputs
    assert input_columns(pipeline, view) == (
        ["campaign_id", "country"],
        ["clicks", "purchases", "revenue", "unique_users", "conversion_rate", "revenue_per_user"],
    )
    tags, fields = input_columns(pipeline, stream)
    assert tags == ["event_type"]
    # every other column: the event's fields, the joined demographics, the derived ones
    assert {"user_id", "total_amount", "age", "region", "data_quality_score"} <= set(fields)
    assert "timestamp" not in fields and "event_type" not in fields
    assert event_outputs(pipeline)["user_events"][0] == "event_id"


def test_every_problem_has_its_path() -> None:
    problems = _problems(
        {
            "a": {"type": "influxdb", "url": "ftp://x", "inputs": []},
            "b": {"type": "kafka", "inputs": [{"view": "campaign_metrics"}]},
            "c": {
                "type": "influxdb",
                "inputs": [
                    {"view": "nope"},
                    {"stream": "user_events", "view": "campaign_metrics"},
                    {"stream": "user_events", "tags": ["ghost"], "fields": ["ghost2"]},
                    {"view": "campaign_metrics", "tags": ["country"], "fields": ["country"]},
                    {"view": "campaign_metrics"},
                ],
            },
        }
    )
    paths = [path for path, _ in problems]
    assert "sinks.a.url" in paths and "sinks.a.inputs" in paths
    assert "sinks.b.type" in paths
    assert ("sinks.c.inputs[0].view", "unknown view 'nope'; expected one of: " + ", ".join(
        sorted(load_builtin("user_events").views))) in problems  # fmt: skip
    assert any(p == "sinks.c.inputs[1]" for p in paths)
    assert any(p == "sinks.c.inputs[2].tags" and "'ghost'" in m for p, m in problems)
    assert any(p == "sinks.c.inputs[2].fields" and "'ghost2'" in m for p, m in problems)
    assert any(p == "sinks.c.inputs[3]" and "both tags and fields" in m for p, m in problems)
    assert any(p == "sinks.c.inputs[4].measurement" for p in paths)  # measurement reused


def test_a_url_with_a_password_is_never_echoed() -> None:
    problems = _problems({"a": {"type": "influxdb", "url": "gopher://u:s3cret@h", "inputs": [
        {"view": "campaign_metrics"}]}})  # fmt: skip
    assert problems and all("s3cret" not in message for _, message in problems)


def test_kafka_workers_refuse_extra_sinks() -> None:
    sinks = {"influx": {"type": "influxdb", "inputs": [{"view": "campaign_metrics"}]}}
    pipeline = _with(sinks).model_copy(update={"log": "kafka"})
    problems = [p for p in validate(pipeline) if p[0] == "sinks.influx"]
    assert problems and "embedded log only" in problems[0][1]
