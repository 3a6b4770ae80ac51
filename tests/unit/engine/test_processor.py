"""Processor behaviour around the windows: decoding, invalid input, joins, derived fields,
SQL edge cases, result schemas and snapshot/restore."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from streamdash.engine import Processor
from streamdash.log.base import Chunk
from streamdash.spec.models import Pipeline

from .conftest import Run, app_events, app_pipeline, to_chunks

SECOND = 1_000_000


def test_invalid_lines_are_dead_lettered_and_the_rest_of_the_batch_counts() -> None:
    pipeline = app_pipeline({"v": {"from": "app", "metrics": {"n": "count()"}}})
    processor = Processor(pipeline)
    good = app_events(5, 1)
    lines: list[dict[str, Any] | bytes] = [
        good[0],
        b'{"application_id": "a", "timest',
        good[1],
        b"[1, 2]",
        good[2],
        b'{"method": "GET"}',
        good[3],
    ]
    batch = processor.process("app", to_chunks(lines, 2), now_us=0)
    assert [(d.offset, d.reason) for d in batch.dead_letters] == [
        (1, "invalid"),
        (3, "invalid"),
        (5, "invalid"),
    ]
    assert batch.dead_letters[0].raw == b'{"application_id": "a", "timest'
    assert batch.updates[0].rows.column("n").to_pylist() == [4]
    assert batch.counters[("app", "invalid")] == 3
    assert batch.counters[("app", "events")] == 4


def test_unknown_stream_is_dead_lettered() -> None:
    processor = Processor(app_pipeline({}))
    batch = processor.process("nope", [Chunk("nope", 0, 1, 5, b"{}\n")], now_us=0)
    assert [d.reason for d in batch.dead_letters] == ["unknown_stream"]


def test_schemas_type_results_from_the_spec() -> None:
    pipeline = app_pipeline(
        {
            "v": {
                "from": "app",
                "window": {"tumbling": "1min"},
                "group_by": ["application_id", "status_code"],
                "metrics": {
                    "n": "count()",
                    "s": "sum(status_code)",
                    "f": "sum(latency_ms)",
                    "b": "sum(status_code >= 500)",
                    "a": "avg(latency_ms)",
                    "q": "quantile(latency_ms, 0.5)",
                    "d": "count_distinct(user)",
                    "mn": "min(method)",
                    "l": "last(latency_ms)",
                    "r": "n / d",
                },
            }
        }
    )
    [schema] = Processor(pipeline).schemas()
    assert dict(schema.keys) == {"application_id": pa.string(), "status_code": pa.int32()}
    assert dict(schema.metrics) == {
        "n": pa.int64(),
        "s": pa.int64(),
        "f": pa.float64(),
        "b": pa.int64(),
        "a": pa.float64(),
        "q": pa.float64(),
        "d": pa.int64(),
        "mn": pa.string(),
        "l": pa.float64(),
        "r": pa.float64(),
    }
    assert schema.primary_key == ("window_start", "application_id", "status_code")


def test_division_by_zero_gives_null() -> None:
    pipeline = app_pipeline(
        {
            "v": {
                "from": "app",
                "group_by": ["application_id"],
                "metrics": {
                    "n": "count()",
                    "errors": "count_if(status_code >= 500)",
                    "per_error": "n / errors",
                    "zero": "n / 0",
                    "ok": "errors / n",
                },
            }
        }
    )
    event = {
        "application_id": "a",
        "timestamp": 1_700_000_000_000,
        "method": "GET",
        "status_code": 200,
    }
    [update] = Processor(pipeline).process("app", to_chunks([event], 1), now_us=0).updates
    row = update.rows.to_pylist()[0]
    assert row["per_error"] is None and row["zero"] is None and row["ok"] == 0.0


def test_join_derived_fields_and_where() -> None:
    pipeline = Pipeline.model_validate(
        {
            "streams": {
                "clicks": {
                    "time": {"field": "ts", "unit": "iso8601"},
                    "schema": {"ts": "timestamp", "user_id": "int64", "amount": "float64?"},
                    "joins": [{"table": "people", "on": "user_id"}],
                    "derived": {
                        "age_group": "CASE WHEN age < 30 THEN 'young' ELSE 'old' END",
                        "big": "amount > 100",
                    },
                }
            },
            "tables": {
                "people": {
                    "key": "id",
                    "schema": {"id": "int64", "age": "int64", "country": "string"},
                    "source": {"generator": "people"},
                }
            },
            "views": {
                "by_group": {
                    "from": "clicks",
                    "window": {"tumbling": "1min"},
                    "group_by": ["age_group", "country"],
                    "where": "amount IS NOT NULL",
                    "metrics": {"n": "count()", "big": "count_if(big)", "revenue": "sum(amount)"},
                }
            },
        }
    )
    people = pa.table({"id": [1, 2, 3], "age": [25, 40, 70], "country": ["DE", "FR", "DE"]})
    processor = Processor(pipeline, {"people": people})
    events = [
        {"ts": "2024-05-01T10:00:01Z", "user_id": 1, "amount": 150.0},
        {"ts": "2024-05-01T12:00:02+02:00", "user_id": 2, "amount": 20.0},
        {"ts": "2024-05-01T10:00:03.5Z", "user_id": 3, "amount": 300.0},
        {"ts": "2024-05-01T10:00:04Z", "user_id": 9, "amount": 1.0},
        {"ts": "2024-05-01T10:00:05Z", "user_id": 1},
        {"ts": "not a time", "user_id": 1, "amount": 5.0},
    ]
    batch = processor.process("clicks", to_chunks(events, 2, stream="clicks"), now_us=0)
    rows = {(r["age_group"], r["country"]): r for r in batch.updates[0].rows.to_pylist()}
    assert {k: (r["n"], r["big"], r["revenue"]) for k, r in rows.items()} == {
        ("young", "DE"): (1, 1, 150.0),
        ("old", "FR"): (1, 0, 20.0),
        ("old", "DE"): (1, 1, 300.0),
        ("old", None): (1, 0, 1.0),
    }
    assert str(next(iter(rows.values()))["window_start"]) == "2024-05-01 10:00:00+00:00"
    assert [d.offset for d in batch.dead_letters] == [5]
    processor.set_table("people", pa.table({"id": [9], "age": [20], "country": ["IT"]}))
    later = [{"ts": "2024-05-01T10:00:06Z", "user_id": 9, "amount": 2.0}]
    batch = processor.process("clicks", to_chunks(later, 1, stream="clicks", start=6), now_us=0)
    [row] = batch.updates[0].rows.to_pylist()
    assert (row["age_group"], row["country"], row["n"]) == ("young", "IT", 1)


@pytest.mark.parametrize(
    "window", [{"tumbling": "10s"}, {"hopping": {"size": "20s", "every": "5s"}}, None]
)
def test_snapshot_restore_mid_stream_matches_an_uninterrupted_run(window: Any) -> None:
    view: dict[str, Any] = {
        "from": "app",
        "group_by": ["application_id"],
        "metrics": {
            "n": "count()",
            "p": "quantile(latency_ms, 0.5)",
            "u": "count_distinct(user)",
            "f": "first(method)",
            "a": "avg(latency_ms)",
        },
    }
    if window:
        view["window"] = window
    pipeline = app_pipeline({"v": view}, lateness="2s")
    chunks = to_chunks(app_events(900, 21, disorder_ms=4000), 30)
    whole = Run(Processor(pipeline))
    whole.feed(chunks, batch_events=120)
    first = Run(Processor(pipeline))
    first.feed(chunks[:13], batch_events=120)
    snapshot = first.processor.snapshot()
    first.processor.close()
    resumed = Run(Processor(pipeline))
    resumed.rows, resumed.dead, resumed.counters = first.rows, first.dead, first.counters
    resumed.processor.restore(snapshot)
    resumed.feed(chunks[13:], batch_events=120)
    assert resumed.counters == whole.counters
    assert [d.offset for d in resumed.dead] == [d.offset for d in whole.dead]
    assert resumed.rows["v"].keys() == whole.rows["v"].keys()
    for key, row in whole.rows["v"].items():
        _same(resumed.rows["v"][key], row)


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for name, value in b.items():
        if isinstance(value, float):
            assert a[name] == pytest.approx(value, rel=1e-12), name
        else:
            assert a[name] == value, name


def test_snapshot_of_another_pipeline_restores_what_did_not_change() -> None:
    """Details in test_spec_changes.py; an edited spec used to stop the engine."""
    one = Processor(app_pipeline({"v": {"from": "app", "metrics": {"n": "count()"}}}))
    other = Processor(app_pipeline({"v": {"from": "app", "metrics": {"m": "count()"}}}))
    assert other.restore(one.snapshot()) == {"v"}


def test_epoch_units_and_float_seconds() -> None:
    pipeline = Pipeline.model_validate(
        {
            "streams": {
                "s": {
                    "time": {"field": "t", "unit": "s"},
                    "schema": {"t": "float64", "k": "string"},
                }
            },
            "views": {
                "v": {
                    "from": "s",
                    "window": {"tumbling": "1s"},
                    "metrics": {"n": "count()", "last_t": "last(_event_time)"},
                }
            },
        }
    )
    events = [{"t": 1_700_000_000.25, "k": "a"}, {"t": 1_700_000_000.75, "k": "b"}]
    chunk = Chunk("s", 0, 2, 0, b"".join(json.dumps(e).encode() + b"\n" for e in events))
    [row] = Processor(pipeline).process("s", [chunk], now_us=0).updates[0].rows.to_pylist()
    assert row["n"] == 2
    assert row["last_t"].timestamp() == 1_700_000_000.75
