"""Bulk validation of request bodies against a stream's schema.

A stream's schema becomes a msgspec Struct type once; a body is then decoded against it in
one C-level pass per line. Only when that fast path fails does a per-line (per-element) pass
find the bad events and say why. Valid events are stored as their original bytes (NDJSON
lines are kept verbatim; JSON arrays/objects are compacted so each event fits on one line),
so unknown fields survive and no per-event Python object outlives validation.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from streamdash.ingest.errors import MalformedBody, TooManyInvalid, WrongShape
from streamdash.spec.models import FieldSpec, StreamSpec, TimeSpec

Reason = Literal["malformed", "invalid", "too_large"]

_MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
_END_TIME = datetime(2201, 1, 1, tzinfo=UTC)
"""Event times must fall in years 1970..2200: anything else is a unit mix-up or garbage."""
_END_EPOCH_S = int(_END_TIME.timestamp())
_UNIT_PER_S = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_AT_PATH = re.compile(r"^(?P<msg>.*) - at `(?P<path>[^`]*)`$", re.DOTALL)
_MISSING = re.compile(r"missing required field `(?P<name>[^`]*)`")


@dataclass(frozen=True, slots=True)
class Rejection:
    """One event that was not accepted. `index` counts events of the body from 0 (blank NDJSON
    lines are not events); `raw` is the event's bytes as received."""

    index: int
    reason: Reason
    detail: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Validated:
    """`payload` holds the `count` accepted events as NDJSON (empty when count is 0)."""

    payload: bytes
    count: int
    rejections: list[Rejection]


def _describe(spec: FieldSpec) -> str:
    if spec.enum is not None:
        text = "one of " + ", ".join(spec.enum)
    elif spec.type == "timestamp":
        text = "an ISO-8601 date-time string"
    else:
        text = spec.type
    return text + (" or null" if spec.optional else "")


def _field_type(spec: FieldSpec, name: str, hints: dict[str, str], path: str) -> Any:
    hints[path] = _describe(spec)
    base: Any
    if spec.type == "string":
        if spec.enum is not None:
            base = Literal[tuple(spec.enum)]
        elif spec.max_length is not None:
            base = Annotated[str, Meta(max_length=spec.max_length)]
        else:
            base = str
    elif spec.type in _INT_RANGE:
        low, high = _INT_RANGE[spec.type]
        base = Annotated[int, Meta(ge=low, le=high)]
    elif spec.type == "float64":
        base = float
    elif spec.type == "bool":
        base = bool
    elif spec.type == "timestamp":
        base = datetime
    elif spec.type == "json":
        # Raw: checked to be well-formed JSON, never turned into Python objects
        return msgspec.Raw
    else:
        assert spec.fields is not None
        base = _struct(f"{name}_struct", spec.fields, hints, path, None)
    return base | None if spec.optional else base


def _time_type(spec: FieldSpec, time: TimeSpec) -> Any:
    """The event-time field: required, non-null, and within years 1970..2200 in its unit."""
    if time.unit == "iso8601":
        return datetime  # range checked after decoding: msgspec has no datetime bounds
    per_s = _UNIT_PER_S[time.unit]
    if spec.type == "float64":
        return Annotated[float, Meta(ge=0, lt=_END_EPOCH_S * per_s)]
    low, high = _INT_RANGE.get(spec.type, _INT_RANGE["int64"])
    return Annotated[int, Meta(ge=max(0, low), le=min(high, _END_EPOCH_S * per_s - 1))]


def _struct(
    name: str,
    fields: dict[str, FieldSpec],
    hints: dict[str, str],
    path: str,
    time: TimeSpec | None,
) -> type[msgspec.Struct]:
    # Python attribute names f0, f1 ... renamed to the JSON keys: keys need not be identifiers
    members: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for i, (key, spec) in enumerate(fields.items()):
        attr = f"f{i}"
        rename[attr] = key
        if time is not None and key == time.field:
            hints[f"{path}.{key}"] = _describe(spec)
            members.append((attr, _time_type(spec, time)))
            continue
        kind = _field_type(spec, key, hints, f"{path}.{key}")
        if spec.optional:
            members.append((attr, kind, None))
        else:
            members.append((attr, kind))
    return msgspec.defstruct(name, members, rename=rename, kw_only=True)


class EventValidator:
    """Validates bodies for one stream. Build once per stream (building the type is slow)."""

    def __init__(self, stream: str, spec: StreamSpec, *, max_rejections: int = 10_000) -> None:
        self.stream = stream
        self.spec = spec
        self.max_rejections = max_rejections
        self._hints: dict[str, str] = {}
        schema = dict(spec.schema_)
        if spec.time.field not in schema:  # spec validation forbids this; stay usable anyway
            schema[spec.time.field] = FieldSpec(
                type="timestamp" if spec.time.unit == "iso8601" else "float64"
            )
        event = _struct(f"{stream}_event", schema, self._hints, "$", spec.time)
        self._one = msgspec.json.Decoder(event)
        self._many = msgspec.json.Decoder(list[event])  # type: ignore[valid-type]
        self._raws = msgspec.json.Decoder(list[msgspec.Raw])
        self._time_attr = f"f{list(schema).index(spec.time.field)}"
        self._iso = spec.time.unit == "iso8601"

    # ---- public entry points ------------------------------------------------------------

    def validate_ndjson(self, body: bytes) -> Validated:
        """One JSON object per line; blank lines are skipped (and not counted as events)."""
        if b"\r" in body:
            body = body.replace(b"\r\n", b"\n")
        lines = body.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        if lines and max(map(len, lines)) <= self.spec.max_event_bytes:
            # map() in C, no list: each decoded event is dropped as soon as it is checked
            events = map(self._one.decode, lines)
            try:
                if self._iso:
                    valid = all(map(self._time_ok, events))
                else:
                    deque(events, maxlen=0)
                    valid = True
            except (msgspec.DecodeError, RecursionError):
                valid = False
            if valid:
                payload = body if body.endswith(b"\n") else body + b"\n"
                return Validated(payload, len(lines), [])
        return self._one_by_one(lines, ndjson=True)

    def validate_json(self, body: bytes) -> Validated:
        """A JSON object (one event) or a JSON array of objects."""
        try:
            compact = msgspec.json.format(body, indent=-1)
        except (msgspec.DecodeError, RecursionError) as err:
            raise MalformedBody(
                f"body is not valid JSON ({err}); expected a JSON object or an array of objects"
            ) from None
        first = compact[:1]
        if first == b"{":
            return self.validate_lines([compact])
        if first != b"[":
            kind = _json_kind(first)
            raise WrongShape(
                f"body is a JSON {kind}; expected a JSON object or an array of "
                "objects (one object per event)"
            )
        elements: list[msgspec.Raw] = self._raws.decode(compact)
        if not elements:
            return Validated(b"", 0, [])
        if max(map(len, elements)) <= self.spec.max_event_bytes:
            try:
                decoded = self._many.decode(compact)
            except (msgspec.DecodeError, RecursionError):
                pass
            else:
                if not self._iso or all(self._time_ok(event) for event in decoded):
                    return Validated(b"\n".join(elements) + b"\n", len(elements), [])
        return self._one_by_one([bytes(element) for element in elements], ndjson=False)

    def validate_lines(self, events: Sequence[bytes]) -> Validated:
        """Events already split apart, each one line of JSON (e.g. made by an adapter)."""
        return self._one_by_one(events, ndjson=False)

    def rejections(self, events: Sequence[bytes]) -> list[Rejection]:
        """The rejected ones among `events` (each one JSON document, e.g. one Kafka message
        value, never blank), by index. Unlike the request entry points it never refuses the
        whole batch: a consumer must go on whatever a topic holds."""
        if not events:
            return []
        if max(map(len, events)) <= self.spec.max_event_bytes:
            decoded = map(self._one.decode, events)
            try:
                if self._iso:
                    if all(map(self._time_ok, decoded)):
                        return []
                else:
                    deque(decoded, maxlen=0)
                    return []
            except (msgspec.DecodeError, RecursionError):
                pass
        found = []
        for index, event in enumerate(events):
            rejection = self._check(index, event, event.lstrip()[:1] == b"{")
            if rejection is not None:
                found.append(rejection)
        return found

    # ---- the slow path: find the bad ones -----------------------------------------------

    def _one_by_one(self, lines: Sequence[bytes], *, ndjson: bool) -> Validated:
        good: list[bytes] = []
        rejections: list[Rejection] = []
        index = 0
        objects = well_formed = 0
        for line in lines:
            stripped = line.strip()
            if ndjson and not stripped:
                continue
            is_object = stripped[:1] == b"{"
            objects += is_object
            rejection = self._check(index, line, is_object)
            if rejection is None:
                good.append(line)
                well_formed += 1
            else:
                rejections.append(rejection)
                well_formed += rejection.reason == "invalid"
                if len(rejections) > self.max_rejections:
                    raise TooManyInvalid(
                        f"more than {self.max_rejections} events of this body are invalid "
                        f"(first: event {rejections[0].index}: {rejections[0].detail}); "
                        "nothing was stored - fix the producer and send again"
                    )
            index += 1
        if index == 0:
            raise MalformedBody("body holds no events; expected one JSON object per line")
        if objects == 0:
            what = "valid JSON but no object" if well_formed else "not JSON"
            raise (WrongShape if well_formed else MalformedBody)(
                f"no event in the body is a JSON object (it is {what}); "
                f"expected {'one JSON object per line' if ndjson else 'JSON objects'}"
            )
        payload = b"\n".join(good) + b"\n" if good else b""
        return Validated(payload, len(good), rejections)

    def _check(self, index: int, line: bytes, is_object: bool) -> Rejection | None:
        limit = self.spec.max_event_bytes
        if len(line) > limit:
            return Rejection(
                index,
                "too_large",
                f"event is {len(line)} bytes; the limit of "
                f"stream {self.stream!r} is {limit} (max_event_bytes)",
                line,
            )
        try:
            event = self._one.decode(line)
        except msgspec.ValidationError as err:
            # a typed decode stops at the first type mismatch, maybe before a syntax error
            # further on: only an untyped parse tells "invalid" from "malformed"
            syntax = _syntax_error(line)
            if syntax is not None:
                return Rejection(index, "malformed", syntax, line)
            return Rejection(index, "invalid", self._explain(str(err), is_object), line)
        except (msgspec.DecodeError, RecursionError) as err:
            return Rejection(index, "malformed", f"not valid JSON: {err}"[:500], line)
        if self._iso and not self._time_ok(event):
            field = self.spec.time.field
            return Rejection(
                index,
                "invalid",
                f"event time `{field}` is out of range: expected "
                "a date-time in the years 1970..2200",
                line,
            )
        return None

    def _time_ok(self, event: Any) -> bool:
        value: datetime = getattr(event, self._time_attr)
        if value.tzinfo is None:  # a naive ISO-8601 time is taken to be UTC
            value = value.replace(tzinfo=UTC)
        return _MIN_TIME <= value < _END_TIME

    def _explain(self, message: str, is_object: bool) -> str:
        """msgspec's message (which names the JSON path and expected type), plus the spec's
        wording: the allowed enum values, the int width, the event-time unit and range."""
        if not is_object:
            return f"{message}; expected a JSON object (one event)"
        match = _AT_PATH.match(message)
        path = match.group("path") if match else "$"
        missing = _MISSING.search(message)
        if missing:
            path = f"{path}.{missing.group('name')}"
        time = self.spec.time
        if path == f"$.{time.field}":
            if time.unit == "iso8601":
                expected = "an ISO-8601 date-time (RFC 3339, e.g. 2024-05-01T12:00:00Z)"
            else:
                expected = f"epoch {_UNIT_NAMES[time.unit]} for a time in the years 1970..2200"
            return f"{message}; the event-time field `{time.field}` must be {expected}"
        hint = self._hints.get(path)
        return f"{message}; expected {hint}" if hint else message


def _syntax_error(line: bytes) -> str | None:
    try:
        msgspec.json.decode(line)
    except msgspec.ValidationError:  # e.g. a number beyond float range: well-formed JSON
        return None
    except (msgspec.DecodeError, RecursionError) as err:
        return f"not valid JSON: {err}"[:500]
    return None


def _json_kind(first: bytes) -> str:
    return {b'"': "string", b"t": "boolean", b"f": "boolean", b"n": "null"}.get(first, "number")
