"""Typed extra sinks (the spec's `sinks:` section) and their cross-checks.

PostgreSQL is always the sink of record; `sinks:` adds copies elsewhere. Today one type:
`influxdb` (the v1 HTTP API and line protocol, as the user_events seed fed Grafana), which
takes enriched events of streams (after joins and derived fields) and result rows of
views. Like `spec.alerts`, the Pipeline holds raw mappings; `parse_sinks` types them and
`sink_problems` returns every problem as (yaml path, message) for `streamdash check`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_INFLUXDB_URL = "STREAMDASH_INFLUXDB_URL"
ENV_PREFIX = "env:"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SinkInput(_Model):
    """One thing a sink receives: a stream's enriched events or a view's result rows."""

    stream: str | None = None
    view: str | None = None
    measurement: str | None = Field(default=None, pattern=r"^[^\n\r\\]+$")
    """Default: the stream's or view's name (no line breaks or backslashes)."""
    tags: list[str] | None = None
    """Indexed string columns. Default: a view's group_by keys; a stream's `key` field."""
    fields: list[str] | None = None
    """Value columns. Default: a view's metrics; every other column of a stream."""

    @model_validator(mode="after")
    def _one_source(self) -> SinkInput:
        if (self.stream is None) == (self.view is None):
            raise ValueError("give exactly one of `stream` (its events) or `view` (its rows)")
        return self

    @property
    def source(self) -> str:
        name = self.stream or self.view
        assert name is not None
        return name


class InfluxSinkSpec(_Model):
    """An InfluxDB 1.x database (HTTP API); fields are described in docs/sinks.md."""

    type: Literal["influxdb"]
    url: str = f"{ENV_PREFIX}{ENV_INFLUXDB_URL}"
    """`http(s)://[user:password@]host:port`, or `env:NAME` to read it from the environment
    (the default, env:STREAMDASH_INFLUXDB_URL), so credentials stay out of the spec."""
    database: str = "streamdash"
    create_database: bool = True
    """Create the database on start if missing (needs admin rights with auth enabled)."""
    inputs: list[SinkInput] = Field(min_length=1)
    timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # never echo the URL in an error: it may carry a password
        if value.startswith(ENV_PREFIX):
            if not _ENV_NAME.match(value.removeprefix(ENV_PREFIX)):
                raise ValueError("`env:NAME` needs an environment variable name after 'env:'")
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL, or env:NAME")
        return value


SinkSpec = InfluxSinkSpec


def parse_sinks(pipeline: Any) -> dict[str, SinkSpec]:
    """The typed sinks of `pipeline` (a `models.Pipeline`); raises `ValidationError` on a
    malformed one (`streamdash check` reports those first)."""
    return {
        name: raw if isinstance(raw, InfluxSinkSpec) else InfluxSinkSpec.model_validate(raw)
        for name, raw in pipeline.sinks.items()
    }


def stream_columns(pipeline: Any, stream: str) -> list[str]:
    """Columns of a stream's enriched events: its fields, the joined table columns, the
    derived fields (in that order), from the spec alone."""
    spec = pipeline.streams[stream]
    columns = list(spec.schema_)
    for join in spec.joins:
        table = pipeline.tables.get(join.table)
        if table is not None:
            columns += join.fields or [c for c in table.schema_ if c != table.key]
    return columns + [d for d in spec.derived if d not in columns]


def input_columns(pipeline: Any, item: SinkInput) -> tuple[list[str], list[str]]:
    """(tags, fields) of an input, defaults applied."""
    if item.view is not None:
        view = pipeline.views[item.view]
        tags = list(view.group_by) if item.tags is None else item.tags
        fields = list(view.metrics) if item.fields is None else item.fields
        return tags, fields
    assert item.stream is not None
    spec = pipeline.streams[item.stream]
    tags = ([spec.key] if spec.key else []) if item.tags is None else item.tags
    skip = {*tags, spec.time.field}
    columns = stream_columns(pipeline, item.stream)
    fields = [c for c in columns if c not in skip] if item.fields is None else item.fields
    return tags, fields


def event_outputs(pipeline: Any) -> dict[str, list[str]]:
    """stream -> the columns of its enriched events that some sink takes (tags + fields,
    in spec order), for the streams whose events any sink takes."""
    wanted: dict[str, set[str]] = {}
    for spec in parse_sinks(pipeline).values():
        for item in spec.inputs:
            if item.stream is not None:
                tags, fields = input_columns(pipeline, item)
                wanted.setdefault(item.stream, set()).update(tags, fields)
    return {
        stream: [c for c in stream_columns(pipeline, stream) if c in columns]
        for stream, columns in wanted.items()
    }


def _path(*parts: str | int) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _input_problems(
    pipeline: Any, base: tuple[str | int, ...], item: SinkInput
) -> list[tuple[str, str]]:
    kind, known = ("stream", pipeline.streams) if item.stream else ("view", pipeline.views)
    if item.source not in known:
        choices = ", ".join(sorted(known)) or "none"
        return [(_path(*base, kind), f"unknown {kind} {item.source!r}; expected one of: {choices}")]
    if item.view is not None:
        view = pipeline.views[item.view]
        columns = [*view.group_by, *view.metrics]
    else:
        columns = stream_columns(pipeline, item.source)
    problems = []
    tags, fields = input_columns(pipeline, item)
    for part, names in (("tags", tags), ("fields", fields)):
        for name in names:
            if name not in columns:
                problems.append(
                    (
                        _path(*base, part),
                        f"{kind} {item.source!r} has no column {name!r}; expected some of: "
                        f"{', '.join(columns)}",
                    )
                )
    if not fields:
        problems.append((_path(*base, "fields"), "an InfluxDB point needs at least one field"))
    both = sorted(set(tags) & set(fields))
    if both:
        problems.append((_path(*base), f"columns {both} are both tags and fields; pick one"))
    return problems


def _errors(base: tuple[str | int, ...], err: ValidationError) -> list[tuple[str, str]]:
    out = []
    for error in err.errors():
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        out.append((_path(*base, *loc), error["msg"]))
    return out


def sink_problems(pipeline: Any) -> list[tuple[str, str]]:
    """Every problem of `pipeline.sinks` as (yaml path, message); [] if none. Inputs are
    checked one by one, so one malformed input hides no problem of another."""
    problems: list[tuple[str, str]] = []
    sinks: Mapping[str, object] = pipeline.sinks
    for name, raw in sinks.items():
        try:
            spec = raw if isinstance(raw, InfluxSinkSpec) else InfluxSinkSpec.model_validate(raw)
            items: list[Any] = list(spec.inputs)
        except ValidationError as err:
            problems += [
                p
                for p in _errors(("sinks", name), err)
                if not p[0].startswith(f"sinks.{name}.inputs[")  # checked one by one below
            ]
            given = raw.get("inputs") if isinstance(raw, Mapping) else None
            items = list(given) if isinstance(given, list) else []
        seen: dict[str, int] = {}
        for index, given_item in enumerate(items):
            base: tuple[str | int, ...] = ("sinks", name, "inputs", index)
            try:
                item = SinkInput.model_validate(given_item)
            except ValidationError as err:
                problems += _errors(base, err)
                continue
            problems += _input_problems(pipeline, base, item)
            measurement = item.measurement or item.source
            if measurement in seen:
                problems.append(
                    (
                        _path(*base, "measurement"),
                        f"measurement {measurement!r} is already written by input "
                        f"{seen[measurement]}; give each input its own measurement",
                    )
                )
            seen.setdefault(measurement, index)
    return problems


__all__ = [
    "ENV_INFLUXDB_URL",
    "InfluxSinkSpec",
    "SinkInput",
    "SinkSpec",
    "event_outputs",
    "input_columns",
    "parse_sinks",
    "sink_problems",
    "stream_columns",
]
