"""The shipped built-in specs implement product.md's five streams exactly: these names
are a public contract (users' scripts and dashboards query them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamdash.errors import SpecError
from streamdash.spec.loader import BUILTIN_STREAMS, load_builtin, parse_pipeline
from streamdash.spec.models import Pipeline
from streamdash.spec.validation import validate

BUILTIN_DIR = Path(__file__).parents[3] / "src" / "streamdash" / "spec" / "builtin"

VIEW_COLUMNS: dict[str, tuple[str, list[str], list[str]]] = {
    # view: (stream, group_by, metric columns in order)
    "application_metrics": (
        "app_logs",
        ["application_id"],
        [
            "request_count",
            "error_count",
            "error_rate",
            "avg_latency_ms",
            "p95_latency_ms",
            "p99_latency_ms",
            "get_count",
            "post_count",
            "put_count",
            "delete_count",
        ],
    ),
    "sensor_metrics": (
        "sensor",
        ["device_id", "sensor"],
        [
            "reading_count",
            "avg_x",
            "avg_y",
            "avg_z",
            "avg_yaw",
            "avg_pitch",
            "avg_roll",
            "avg_qw",
            "avg_qx",
            "avg_qy",
            "avg_qz",
            "avg_latitude",
            "avg_longitude",
            "avg_altitude",
            "avg_speed",
            "avg_pressure",
            "avg_dbfs",
            "max_dbfs",
        ],
    ),
    "event_type_metrics": (
        "user_events",
        ["event_type"],
        ["event_count", "unique_users", "avg_amount", "total_amount"],
    ),
    "campaign_metrics": (
        "user_events",
        ["campaign_id", "country"],
        ["clicks", "purchases", "revenue", "unique_users", "conversion_rate", "revenue_per_user"],
    ),
    "user_activity": ("user_events", ["event_type"], ["event_count", "unique_users", "revenue"]),
    "user_sessions": ("user_events", ["user_id"], ["event_count", "purchases", "revenue"]),
    "user_aggregations": (
        "interactions",
        ["user_id"],
        [
            "total_interactions",
            "unique_items",
            "click_count",
            "view_count",
            "purchase_count",
            "last_interaction_time",
        ],
    ),
    "item_aggregations": (
        "interactions",
        ["item_id"],
        ["total_interactions", "unique_users", "click_count", "view_count", "purchase_count"],
    ),
    "interactions_per_minute": ("interactions", ["interaction_type"], ["interaction_count"]),
    "created_users": (
        "users",
        ["id"],
        [
            "first_name",
            "last_name",
            "gender",
            "street",
            "city",
            "state",
            "country",
            "postcode",
            "email",
            "username",
            "dob",
            "age",
            "registered_date",
            "registered_age",
            "phone",
            "picture",
            "nationality",
            "ingested_at",
        ],
    ),
    "user_stats": ("users", [], ["total_users", "avg_age"]),
    "users_by_gender_nationality": ("users", ["gender", "nationality"], ["user_count"]),
}

STREAM_FIELDS = {
    "app_logs": [
        "application_id",
        "timestamp",
        "method",
        "endpoint",
        "status_code",
        "latency_ms",
        "level",
        "message",
    ],
    "user_events": [
        "event_id",
        "event_type",
        "user_id",
        "campaign_id",
        "timestamp",
        "product_id",
        "order_id",
        "units",
        "unit_price",
        "total_amount",
        "currency",
        "page_url",
        "user_agent",
        "ip_address",
        "payment_method",
        "shipping_address",
        "metadata",
    ],
    "interactions": ["user_id", "item_id", "interaction_type", "timestamp"],
}


@pytest.fixture(scope="module")
def builtin() -> Pipeline:
    return load_builtin()


def test_every_builtin_file_is_shipped_and_valid_on_its_own() -> None:
    assert sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")) == sorted(BUILTIN_STREAMS)
    for name in BUILTIN_STREAMS:
        pipeline = load_builtin(name)
        assert list(pipeline.streams) == [name]
        assert validate(pipeline) == []


def test_merged_builtins_validate_without_problems(builtin: Pipeline) -> None:
    assert list(builtin.streams) == list(BUILTIN_STREAMS)
    assert validate(builtin) == []


def test_views_have_the_exact_names_of_the_product(builtin: Pipeline) -> None:
    assert set(builtin.views) == set(VIEW_COLUMNS)
    for name, (stream, keys, metrics) in VIEW_COLUMNS.items():
        view = builtin.views[name]
        assert view.from_ == stream, name
        assert view.group_by == keys, name
        assert list(view.metrics) == metrics, name
        assert builtin.table_of(name) == name


def test_windows_match_the_product(builtin: Pipeline) -> None:
    def window(view: str) -> tuple[str, int, int] | None:
        spec = builtin.views[view].window
        return None if spec is None else (spec.kind, spec.size_us, spec.step_us)

    s = 1_000_000
    assert window("application_metrics") == ("tumbling", 10 * s, 10 * s)
    assert window("sensor_metrics") == ("tumbling", 10 * s, 10 * s)
    assert window("event_type_metrics") == ("tumbling", 60 * s, 60 * s)
    assert window("campaign_metrics") == ("tumbling", 300 * s, 300 * s)
    assert window("user_activity") == ("hopping", 60 * s, 10 * s)
    assert window("user_sessions") == ("session", 30 * s, 30 * s)
    assert window("interactions_per_minute") == ("tumbling", 60 * s, 60 * s)
    for running in (
        "user_aggregations",
        "item_aggregations",
        "created_users",
        "user_stats",
        "users_by_gender_nationality",
    ):
        assert window(running) is None, running


def test_streams_have_topics_time_fields_and_lateness_of_the_product(builtin: Pipeline) -> None:
    expected = {
        "app_logs": ("logs", "timestamp", "ms", "application_id"),
        "sensor": ("sensor", "time", "ns", "device_id"),
        "user_events": ("user_events", "timestamp", "iso8601", "user_id"),
        "interactions": ("user_interactions", "timestamp", "s", "user_id"),
        "users": ("users_created", "created_at", "iso8601", "id"),
    }
    for name, (topic, field, unit, key) in expected.items():
        stream = builtin.streams[name]
        assert (stream.topic, stream.time.field, stream.time.unit, stream.key) == (
            topic,
            field,
            unit,
            key,
        ), name
        assert stream.lateness == 10_000_000, name
    assert builtin.streams["sensor"].adapter == "sensorlogger"
    for name, fields in STREAM_FIELDS.items():
        assert list(builtin.streams[name].schema_) == fields, name


def test_sensor_schema_has_every_known_value_key_as_an_optional_field(builtin: Pipeline) -> None:
    schema = builtin.streams["sensor"].schema_
    for key in ("device_id", "session_id", "message_id", "sensor", "time"):
        assert not schema[key].optional, key
    values = [
        "x",
        "y",
        "z",
        "yaw",
        "pitch",
        "roll",
        "qw",
        "qx",
        "qy",
        "qz",
        "latitude",
        "longitude",
        "altitude",
        "speed",
        "bearing",
        "horizontalAccuracy",
        "verticalAccuracy",
        "pressure",
        "relativeAltitude",
        "dBFS",
        "steps",
        "batteryLevel",
        "lux",
        "accuracy",
    ]
    for key in values:
        assert (schema[key].type, schema[key].optional) == ("float64", True), key
    assert (schema["batteryState"].type, schema["batteryState"].optional) == ("string", True)
    assert schema["time"].type == "int64"


def test_user_events_join_demographics_and_derive_the_product_fields(builtin: Pipeline) -> None:
    stream = builtin.streams["user_events"]
    assert [(j.table, j.on) for j in stream.joins] == [("user_demographics", "user_id")]
    assert list(stream.derived) == [
        "age_group",
        "region",
        "is_conversion",
        "is_high_value",
        "campaign_type",
        "data_quality_score",
    ]
    table = builtin.tables["user_demographics"]
    assert table.key == "id"
    assert list(table.schema_) == [
        "id",
        "age",
        "gender",
        "state",
        "country",
        "registration_date",
        "income_bracket",
        "last_login",
    ]
    assert (table.source.generator, table.source.rows, table.source.seed) == (
        "user_demographics",
        100,
        0,
    )
    assert table.refresh == 60_000_000
    assert stream.schema_["metadata"].type == "json"
    for nullable in ("product_id", "order_id", "units", "unit_price", "total_amount"):
        assert stream.schema_[nullable].optional, nullable


def test_loading_a_builtin_twice_is_a_merge_error() -> None:
    with pytest.raises(SpecError) as caught:
        load_builtin("app_logs", "app_logs")
    assert "streams.app_logs" in [path for path, _ in caught.value.problems]


def test_unknown_builtin_name_lists_the_known_ones() -> None:
    with pytest.raises(SpecError, match="expected one of: app_logs, sensor"):
        load_builtin("clickz")


def test_a_builtin_file_is_an_ordinary_spec() -> None:
    text = (BUILTIN_DIR / "interactions.yaml").read_text("utf-8")
    assert parse_pipeline(text).views.keys() == load_builtin("interactions").views.keys()
