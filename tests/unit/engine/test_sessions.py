"""Session windows against an independent computation (sort per key, cut at gaps)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from streamdash.engine import Processor
from streamdash.engine.sketches import ALPHA

from .conftest import Run, app_pipeline, to_chunks
from .reference import lower_quantile

SECOND = 1_000_000
GAP_MS = 2_000
LATENESS_MS = 3_000


def _events(n: int, seed: int) -> list[dict[str, Any]]:
    """Bursts per app separated by pauses longer and shorter than the gap, out of order."""
    rnd = random.Random(seed)
    t = 1_700_000_000_000
    out = []
    for _ in range(n):
        t += rnd.choice([100, 300, 900, 1900, 2100, 4000])
        out.append(
            {
                "application_id": rnd.choice(["a", "b"]),
                "timestamp": t - rnd.randint(0, 4000),
                "method": rnd.choice(["GET", "PUT"]),
                "status_code": 200,
                "latency_ms": rnd.uniform(1, 100),
            }
        )
    return out


def _expected(
    events: list[dict[str, Any]],
) -> tuple[dict[tuple[Any, ...], dict[str, Any]], list[int]]:
    late, kept = [], defaultdict(list)
    max_t = None
    for offset, e in enumerate(events):
        t = e["timestamp"]
        if max_t is not None and t < max_t - LATENESS_MS:
            late.append(offset)
        else:
            kept[e["application_id"]].append(e)
        max_t = t if max_t is None else max(max_t, t)
    sessions: dict[tuple[Any, ...], dict[str, Any]] = {}
    for app, evs in kept.items():
        evs.sort(key=lambda e: e["timestamp"])
        current = [evs[0]]
        for e in [*evs[1:], None]:
            if e is not None and e["timestamp"] - current[-1]["timestamp"] < GAP_MS:
                current.append(e)
                continue
            start = current[0]["timestamp"]
            sessions[(datetime.fromtimestamp(start / 1000, UTC), app)] = {
                "n": len(current),
                "end": datetime.fromtimestamp((current[-1]["timestamp"] + GAP_MS) / 1000, UTC),
                "p50": lower_quantile([x["latency_ms"] for x in current], 0.5),
                "methods": len({x["method"] for x in current}),
            }
            if e is not None:
                current = [e]
    return sessions, late


def _run(events: list[dict[str, Any]], batch: int) -> Run:
    pipeline = app_pipeline(
        {
            "s": {
                "from": "app",
                "window": {"session": {"gap": f"{GAP_MS}ms"}},
                "group_by": ["application_id"],
                "metrics": {
                    "n": "count()",
                    "p50": "quantile(latency_ms, 0.5)",
                    "methods": "count_distinct(method)",
                },
            }
        },
        lateness=f"{LATENESS_MS}ms",
        idle_timeout="1s",
    )
    run = Run(Processor(pipeline))
    run.feed(to_chunks(events, 2), batch_events=batch, now_us=0)
    run.apply(run.processor.advance_idle(10**12))
    return run


@pytest.mark.parametrize("batch", [1, 7, 100, 5000])
def test_sessions_match_independent_computation(batch: int) -> None:
    events = _events(400, 8)
    want, late = _expected(events)
    assert late and len(want) > 20
    run = _run(events, batch)
    got = run.rows["s"]
    assert got.keys() == want.keys()
    for key, row in got.items():
        assert row["final"]
        assert (row["n"], row["window_end"], row["methods"]) == (
            want[key]["n"],
            want[key]["end"],
            want[key]["methods"],
        )
        assert abs(row["p50"] - want[key]["p50"]) <= ALPHA * want[key]["p50"] * (1 + 1e-9)
    assert sorted(d.offset for d in run.dead if d.reason == "late") == late
    assert run.counters[("s", "late")] == len(late)


def test_merging_sessions_report_the_old_start_as_deleted() -> None:
    base = {"application_id": "a", "method": "GET", "status_code": 200}
    t0 = 1_700_000_000_000
    pipeline = app_pipeline(
        {
            "s": {
                "from": "app",
                "window": {"session": {"gap": "2s"}},
                "group_by": ["application_id"],
                "metrics": {"n": "count()"},
            }
        },
        lateness="10s",
    )
    processor = Processor(pipeline)
    first = processor.process("app", to_chunks([{**base, "timestamp": t0 + 3000}], 1), 0)
    assert first.updates[0].rows.column("n").to_pylist() == [1]
    second = processor.process("app", to_chunks([{**base, "timestamp": t0 + 1500}], 1, start=1), 0)
    [update] = second.updates
    assert update.deleted is not None
    assert [r["window_start"].timestamp() for r in update.deleted.to_pylist()] == [
        (t0 + 3000) / 1000
    ]
    [row] = update.rows.to_pylist()
    assert (row["window_start"].timestamp(), row["n"]) == ((t0 + 1500) / 1000, 2)


def test_events_exactly_one_gap_apart_start_a_new_session() -> None:
    base = {"application_id": "a", "method": "GET", "status_code": 200}
    t0 = 1_700_000_000_000
    times = [t0, t0 + 1999, t0 + 3999, t0 + 10_000]
    run = _run([{**base, "timestamp": t, "latency_ms": 1.0} for t in times], batch=10)
    starts = sorted((k[0].timestamp(), r["n"]) for k, r in run.rows["s"].items())
    assert starts == [(t0 / 1000, 2), ((t0 + 3999) / 1000, 1), ((t0 + 10_000) / 1000, 1)]
