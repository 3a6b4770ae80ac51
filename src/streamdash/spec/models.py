"""Typed models of a pipeline spec (the YAML file). Structure only: cross-references
between parts are checked in `validation.py`, so that every error is reported at once."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamdash.spec.durations import Duration

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
"""Names that become SQL tables or columns: lower-case, no quoting ever needed."""

FieldType = Literal["string", "int32", "int64", "float64", "bool", "timestamp", "json", "struct"]
TimeUnit = Literal["s", "ms", "us", "ns", "iso8601"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldSpec(Model):
    """One field of an event. `timestamp` is an ISO-8601 string; `json` is any JSON value
    kept as text; `struct` has nested `fields`. Shorthand in YAML: `int64` or `string?`."""

    type: FieldType
    optional: bool = False
    enum: list[str] | None = None
    fields: dict[str, FieldSpec] | None = None
    max_length: int | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            optional = value.endswith("?")
            return {"type": value.rstrip("?"), "optional": optional}
        return value

    @model_validator(mode="after")
    def _struct_has_fields(self) -> FieldSpec:
        if (self.type == "struct") != (self.fields is not None):
            raise ValueError("`fields` is required for type struct and only allowed there")
        if self.enum is not None and self.type != "string":
            raise ValueError("`enum` is only allowed for type string")
        return self


class TimeSpec(Model):
    """Where an event's time comes from: a field and its unit (epoch s/ms/us/ns or ISO-8601)."""

    field: str
    unit: TimeUnit = "ms"


class JoinSpec(Model):
    """Left join of a stream with a reference table: stream field `on` = table key."""

    table: str
    on: str
    fields: list[str] | None = None
    """Table columns to add to the event (default: all but the key)."""


class StreamSpec(Model):
    description: str = ""
    time: TimeSpec
    key: str | None = None
    """The partition key (the Kafka message key); ordering is per key."""
    lateness: Duration = 10_000_000
    """Allowed lateness: the watermark trails the largest event time by this much."""
    idle_timeout: Duration = 2_000_000
    """After this much wall-clock time without events, event time advances with the clock."""
    schema_: dict[str, FieldSpec] = Field(alias="schema")
    derived: dict[str, str] = Field(default_factory=dict)
    """Computed fields, `name: SQL expression`, evaluated in order after joins."""
    joins: list[JoinSpec] = Field(default_factory=list)
    adapter: Literal["json", "sensorlogger"] = "json"
    """`sensorlogger`: events also arrive as Sensor Logger app bodies on /v1/sensorlogger."""
    topic: str | None = None
    """Kafka topic (default: the stream name)."""
    format: Literal["json", "avro"] = "json"
    """Kafka message values: one JSON event each, or Avro in the Confluent wire format
    (magic byte, schema id, record), the writer schema resolved by its id."""
    max_event_bytes: int = Field(default=1 << 20, gt=0)


class TableSource(Model):
    """Where a reference table's rows come from: exactly one of the three."""

    generator: str | None = None
    rows: int = Field(default=1000, gt=0)
    seed: int = 0
    csv: str | None = None
    postgres: str | None = None
    """A SQL query run against the result database."""

    @model_validator(mode="after")
    def _exactly_one(self) -> TableSource:
        given = [k for k in ("generator", "csv", "postgres") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of generator, csv, postgres (got {given or 'none'})"
            )
        return self


class TableSpec(Model):
    description: str = ""
    key: str
    schema_: dict[str, FieldSpec] = Field(alias="schema")
    source: TableSource
    refresh: Duration | None = None
    """Reload the table this often while running (None: load once at start)."""


class HoppingSpec(Model):
    size: Duration
    every: Duration

    @model_validator(mode="after")
    def _divides(self) -> HoppingSpec:
        if self.every <= 0 or self.size <= 0:
            raise ValueError("size and every must be positive")
        if self.size % self.every:
            raise ValueError("size must be a whole multiple of every")
        return self


class SessionSpec(Model):
    gap: Duration = Field(gt=0)


class WindowSpec(Model):
    """Exactly one of tumbling / hopping / session. A view without `window` is a running
    (unwindowed) aggregate, continuously upserted per key."""

    tumbling: Duration | None = Field(default=None, gt=0)
    hopping: HoppingSpec | None = None
    session: SessionSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> WindowSpec:
        given = [k for k in ("tumbling", "hopping", "session") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of tumbling, hopping, session (got {given or 'none'})"
            )
        return self

    @property
    def kind(self) -> Literal["tumbling", "hopping", "session"]:
        if self.tumbling is not None:
            return "tumbling"
        if self.hopping is not None:
            return "hopping"
        return "session"

    @property
    def size_us(self) -> int:
        """Window length (the gap for sessions)."""
        if self.tumbling is not None:
            return self.tumbling
        if self.hopping is not None:
            return self.hopping.size
        assert self.session is not None
        return self.session.gap

    @property
    def step_us(self) -> int:
        if self.hopping is not None:
            return self.hopping.every
        return self.size_us


class ViewSpec(Model):
    description: str = ""
    from_: str = Field(alias="from")
    window: WindowSpec | None = None
    group_by: list[str] = Field(default_factory=list)
    where: str | None = None
    """SQL filter applied to events before aggregation."""
    metrics: dict[str, str]
    """`column: aggregate(...)` or an expression over other metrics of the view."""
    table: str | None = None
    """Result table name (default: the view name)."""

    @field_validator("window", mode="before")
    @classmethod
    def _none_word(cls, value: Any) -> Any:
        return None if value in ("none", "None", "running") else value


KAFKA_PROPERTY = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9]+)*$")
"""A librdkafka property name: dotted lower-case words (`security.protocol`)."""
SECRET_WORDS = ("password", "secret", "token", "key.pem", "credentials")
MANAGED_PROPERTIES = frozenset(
    {"bootstrap.servers", "group.id", "enable.idempotence", "acks", "enable.auto.commit"}
)
"""librdkafka properties streamdash sets itself: exactly-once depends on them."""


class KafkaSpec(Model):
    """Kafka as the log (`log: kafka`): the brokers, the consumer group, topic creation, the
    dead-letter topics, Avro schema lookup, and librdkafka settings passed through."""

    bootstrap: str | None = None
    """`host:port[,host:port...]`; `--kafka` and STREAMDASH_KAFKA_BOOTSTRAP override it."""
    group: str = "streamdash"
    """Consumer group of the workers; also names their offsets in PostgreSQL."""
    partitions: int = Field(default=6, gt=0, le=10_000)
    """Partitions of the topics streamdash creates (existing topics keep theirs)."""
    replication: int = Field(default=-1, ge=-1)
    """Replication factor of created topics (-1: the broker's default)."""
    create_topics: bool = True
    """Create missing topics (with `partitions`); false: refuse to start, naming them."""
    dead_letter_topic: str = "streamdash_dead_letters"
    """Where ingest puts the events it rejects; the workers move them to PostgreSQL."""
    dlq_topic: str | None = None
    """If set, workers also copy undecodable messages there (raw bytes + headers)."""
    schema_registry: str | None = None
    """URL of a Confluent-compatible schema registry for `format: avro` streams."""
    schema_dir: str | None = None
    """Directory of `<schema id>.avsc` files for `format: avro` streams (no registry)."""
    dedupe_window: Duration = 600_000_000
    """How long (in message time) a retried request's events are recognised and dropped."""
    config: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """librdkafka properties for every client (SASL/SSL...). Secrets go in the environment
    (`STREAMDASH_KAFKA_SASL_PASSWORD`), never in a spec."""

    @field_validator("config")
    @classmethod
    def _properties(
        cls, value: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        for name in value:
            if not KAFKA_PROPERTY.match(name):
                raise ValueError(
                    f"{name!r} is not a librdkafka property name; expected dotted lower-case "
                    "words like security.protocol"
                )
            if name in MANAGED_PROPERTIES:
                raise ValueError(
                    f"{name!r} is set by streamdash (exactly-once depends on it); "
                    "use kafka.bootstrap / kafka.group for servers and group"
                )
            if any(word in name for word in SECRET_WORDS):
                env = "STREAMDASH_KAFKA_" + name.upper().replace(".", "_")
                raise ValueError(
                    f"{name!r} looks like a secret: set it in the environment as {env}, "
                    "never in a spec file"
                )
        return value


class Pipeline(Model):
    """A whole pipeline: streams in, reference tables, views out, dashboards, alerts."""

    streams: dict[str, StreamSpec]
    tables: dict[str, TableSpec] = Field(default_factory=dict)
    views: dict[str, ViewSpec] = Field(default_factory=dict)
    dashboards: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Copies of events and results besides PostgreSQL (`spec.sinks`)."""
    log: Literal["embedded", "kafka"] = "embedded"
    """Where events are logged: the embedded SQLite log, or Kafka (see `kafka`)."""
    kafka: KafkaSpec = Field(default_factory=KafkaSpec)

    def table_of(self, view: str) -> str:
        """The result table of a view (its `table`, or the view's name)."""
        return self.views[view].table or view
