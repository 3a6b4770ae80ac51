"""Merging partial states: two engines, each fed the events of one "partition" (split by the
stream's key), exporting their touched groups' partial states, merged per group with
`ViewMerger` after every batch — give the same rows as one engine fed every event, for
views that are not grouped by the key (counts, averages, quantile and HLL sketches, min,
max, first/last; tumbling, hopping and running)."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
from tests.unit.engine.conftest import app_events, app_pipeline, to_chunks

from streamdash.engine import Processor
from streamdash.kafka.merge import ViewMerger
from streamdash.results import PartialState

METRICS = {
    "n": "count()",
    "errors": "count_if(status_code >= 500)",
    "avg_latency": "avg(latency_ms)",
    "p90": "quantile(latency_ms, 0.9)",
    "users": "count_distinct(user)",
    "slowest": "max(latency_ms)",
    "first_status": "first(status_code)",
    "error_share": "errors / nullif(n, 0)",
}
VIEWS = {
    "by_method": {
        "from": "app",
        "window": {"tumbling": "10s"},
        "group_by": ["method"],
        "metrics": METRICS,
    },
    "sliding": {
        "from": "app",
        "window": {"hopping": {"size": "20s", "every": "5s"}},
        "group_by": ["method"],
        "metrics": METRICS,
    },
    "running": {"from": "app", "group_by": ["status_code"], "metrics": METRICS},
    "total": {"from": "app", "metrics": {"n": "count()", "users": "count_distinct(user)"}},
}


def _rows(table: pa.Table, keys: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in table.to_pylist()}


def test_merged_partitions_equal_one_engine() -> None:
    pipeline = app_pipeline(VIEWS, key="application_id")
    events = app_events(3000, seed=5)
    parts = [
        [e for e in events if e["application_id"] == "app-1"],
        [e for e in events if e["application_id"] != "app-1"],
    ]
    whole = Processor(pipeline)
    expected: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    schemas = {s.view: s for s in whole.schemas()}
    for chunk in to_chunks(events, 250):
        for update in whole.process("app", [chunk], 0).updates:
            keys = list(schemas[update.view].primary_key)
            expected.setdefault(update.view, {}).update(_rows(update.rows, keys))
    engines = [Processor(pipeline), Processor(pipeline)]
    for engine in engines:
        for state in engine.states.values():
            state.export_partials = True
    mergers = {v: ViewMerger(s) for v, s in Processor(pipeline).states.items()}
    stored: dict[tuple[str, str, int], tuple[int | None, int | None, str]] = {}
    structure: dict[str, str] = {}
    watermarks: dict[int, int] = {}
    merged: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    chunked = [to_chunks(p, 97, start=10_000 * i) for i, p in enumerate(parts)]
    for step in range(max(map(len, chunked))):
        for source, (engine, chunks) in enumerate(zip(engines, chunked, strict=True)):
            if step >= len(chunks):
                continue
            batch = engine.process("app", [chunks[step]], 0)
            watermarks[source] = batch.watermarks["app"]
            wm = min(watermarks.values()) if len(watermarks) == 2 else None
            partials: list[PartialState] = batch.partials
            for partial in partials:
                structure[partial.view] = partial.structure
                for r in partial.rows.to_pylist():
                    stored[(partial.view, r["gkey"], source)] = (r["ws"], r["we"], r["state"])
            for view, merger in mergers.items():
                touched = {
                    r["gkey"] for p in partials if p.view == view for r in p.rows.to_pylist()
                }
                due = {
                    g
                    for (v, g, _), (_, we, _) in stored.items()
                    if v == view and wm is not None and we is not None and we <= wm
                }
                groups = touched | due
                if not groups:
                    continue
                picked = [
                    (g, *vals) for (v, g, _), vals in stored.items() if v == view and g in groups
                ]
                table = pa.table(
                    {
                        "gkey": [p[0] for p in picked],
                        "ws": [p[1] for p in picked],
                        "we": [p[2] for p in picked],
                        "state": [p[3] for p in picked],
                    },
                    schema=pa.schema(
                        [
                            ("gkey", pa.string()),
                            ("ws", pa.int64()),
                            ("we", pa.int64()),
                            ("state", pa.string()),
                        ]
                    ),
                )
                rows, finals = merger.merge(table, structure[view], wm)
                keys = list(schemas[view].primary_key)
                merged.setdefault(view, {}).update(_rows(rows, keys))
                for key in list(stored):
                    if key[0] == view and key[1] in finals:
                        del stored[key]
    assert set(merged) == set(VIEWS)
    for view, want in expected.items():
        got = merged[view]
        assert got.keys() == want.keys(), view
        for key, row in want.items():
            for column, value in row.items():
                if column == "final":
                    continue
                other = got[key][column]
                if isinstance(value, float) and isinstance(other, float):
                    assert math.isclose(other, value, rel_tol=1e-9), (view, key, column)
                else:
                    assert other == value, (view, key, column, other, value)
