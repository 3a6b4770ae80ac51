"""Generated events conform to the schemas of the built-in specs (spec/builtin/*.yaml).

The generators and the specs are written separately; this is where a drift between them
(a renamed field, a type changed on one side) shows up. Sensor bodies are checked after
the flattening the sensorlogger adapter applies, as sensor.yaml describes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pytest

from streamdash.sources.generators import generate, table_rows
from streamdash.spec.loader import load_builtin
from streamdash.spec.models import FieldSpec

START_US = 1_700_000_000_000_000
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def mismatches(value: dict[str, Any], schema: dict[str, FieldSpec], where: str) -> list[str]:
    """Every way `value` breaks `schema` (missing, extra, wrong type, enum, length)."""
    found = [f"{where}.{key}: not in the schema" for key in value if key not in schema]
    for name, spec in schema.items():
        path = f"{where}.{name}"
        if value.get(name) is None:
            if not spec.optional:
                found.append(f"{path}: missing or null but required")
            continue
        found.extend(type_mismatches(value[name], spec, path))
    return found


def type_mismatches(item: Any, spec: FieldSpec, path: str) -> list[str]:
    kind = spec.type
    if kind == "struct":
        assert spec.fields is not None
        if not isinstance(item, dict):
            return [f"{path}: expected an object, got {item!r}"]
        return mismatches(item, spec.fields, path)
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        ok = isinstance(item, int) and not isinstance(item, bool) and low <= item <= high
    elif kind == "float64":
        ok = isinstance(item, int | float) and not isinstance(item, bool)
    elif kind == "bool":
        ok = isinstance(item, bool)
    elif kind == "timestamp":
        ok = isinstance(item, str) and _is_iso(item)
    elif kind == "json":
        ok = True
    else:
        ok = isinstance(item, str)
        if ok and spec.enum is not None and item not in spec.enum:
            return [f"{path}: {item!r} not in {spec.enum}"]
        if ok and spec.max_length is not None and len(item) > spec.max_length:
            return [f"{path}: longer than {spec.max_length}"]
    return [] if ok else [f"{path}: {item!r} is not a valid {kind}"]


def _is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def flatten_sensor_body(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What sensor.yaml says the adapter makes of a body: one event per reading."""
    events = []
    for reading in body["payload"]:
        event = {
            "device_id": body["deviceId"],
            "session_id": body["sessionId"],
            "message_id": body["messageId"],
            "sensor": reading["name"],
            "time": reading["time"],
        }
        if "accuracy" in reading:
            event["accuracy"] = reading["accuracy"]
        event.update(reading["values"])
        events.append(event)
    return events


@pytest.mark.parametrize("stream", ["app_logs", "user_events", "interactions", "users", "sensor"])
def test_events_match_the_built_in_schema(stream: str) -> None:
    spec = load_builtin(stream).streams[stream]
    schema = dict(spec.schema_)
    events = [
        msgspec.json.decode(line)
        for line in generate(stream, count=2000, seed=1, start_us=START_US, rate=100.0)
    ]
    if stream == "sensor":
        events = [event for body in events for event in flatten_sensor_body(body)]
    problems = set()
    for event in events:
        if stream == "sensor":
            # Unknown sensors and extra keys are kept but not typed (sensor.yaml).
            event = {key: value for key, value in event.items() if key in schema}
        problems.update(mismatches(event, schema, stream))
    assert sorted(problems) == []
    assert spec.time.field in events[0]


def test_demographics_rows_match_the_table_schema() -> None:
    table = load_builtin("user_events").tables["user_demographics"]
    assert table.source.generator is not None
    rows = table_rows(table.source.generator, count=table.source.rows, seed=table.source.seed)
    problems = {p for row in rows for p in mismatches(row, dict(table.schema_), "row")}
    assert sorted(problems) == []
    assert {row[table.key] for row in rows} == {f"user_{i}" for i in range(1, 101)}
