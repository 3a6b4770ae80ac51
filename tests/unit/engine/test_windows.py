"""Tumbling, hopping and running views against an independent per-event computation."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from streamdash.engine import Processor
from streamdash.engine.sketches import ALPHA, HLL_STD_ERROR

from .conftest import Run, app_events, app_pipeline, to_chunks
from .reference import Reference, hopping, lower_quantile, tumbling

METRICS = {
    "n": "count()",
    "errors": "count_if(status_code >= 500)",
    "error_rate": "avg(status_code >= 500)",
    "avg_latency": "avg(latency_ms)",
    "total_status": "sum(status_code)",
    "max_latency": "max(latency_ms)",
    "min_method": "min(method)",
    "p90": "quantile(latency_ms, 0.9)",
    "p50": "quantile(latency_ms, 0.5)",
    "users": "count_distinct(user)",
    "first_method": "first(method)",
    "last_method": "last(method)",
    "errors_per_request": "errors / n",
}
SECOND = 1_000_000


def _expected(group: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [e["latency_ms"] for e in group if e["latency_ms"] is not None]
    errors = sum(e["status_code"] >= 500 for e in group)
    by_time = sorted(group, key=lambda e: (e["timestamp"], e["_offset"]))
    return {
        "n": len(group),
        "errors": errors,
        "error_rate": errors / len(group),
        "avg_latency": sum(lat) / len(lat) if lat else None,
        "total_status": sum(e["status_code"] for e in group),
        "max_latency": max(lat) if lat else None,
        "min_method": min(e["method"] for e in group),
        "p90": lower_quantile(lat, 0.9) if lat else None,
        "p50": lower_quantile(lat, 0.5) if lat else None,
        "users": len({e["user"] for e in group}),
        "first_method": by_time[0]["method"],
        "last_method": by_time[-1]["method"],
        "errors_per_request": errors / len(group),
    }


def _check(row: dict[str, Any], want: dict[str, Any]) -> None:
    for name in ("n", "errors", "total_status", "min_method", "first_method", "last_method"):
        assert row[name] == want[name], name
    for name in ("error_rate", "avg_latency", "max_latency", "errors_per_request"):
        assert row[name] == pytest.approx(want[name], rel=1e-9), name
    for name in ("p90", "p50"):
        if want[name] is None:
            assert row[name] is None
        else:
            assert abs(row[name] - want[name]) <= ALPHA * abs(want[name]) * (1 + 1e-9), name
    assert abs(row["users"] - want["users"]) <= max(1, 3 * HLL_STD_ERROR * want["users"])


def _run(
    window: dict[str, Any] | None, batch: int, n: int = 3000, seed: int = 3, disorder_ms: int = 8000
) -> tuple[Run, Reference]:
    view = {"from": "app", "group_by": ["application_id"], "metrics": METRICS}
    if window:
        view["window"] = window
    pipeline = app_pipeline({"v": view}, lateness="5s")
    events = app_events(n, seed, disorder_ms=disorder_ms)
    run = Run(Processor(pipeline))
    run.feed(to_chunks(events, per_chunk=3), batch_events=batch)
    if window is None:
        ref = Reference(5 * SECOND, lambda t: [], 0)
    elif "tumbling" in window:
        ref = Reference(5 * SECOND, tumbling(10 * SECOND), 10 * SECOND)
    else:
        ref = Reference(5 * SECOND, hopping(30 * SECOND, 10 * SECOND), 30 * SECOND)
    for offset, e in enumerate(events):
        ref.feed(offset, e["timestamp"] * 1000, {**e, "_offset": offset}, (e["application_id"],))
    return run, ref


def _compare(run: Run, ref: Reference, windowed: bool) -> None:
    rows = run.rows["v"]
    assert len(rows) == len(ref.groups)
    for (start, app), group in ref.groups.items():
        key = (datetime.fromtimestamp(start / 1e6, UTC), app) if windowed else (app,)
        _check(rows[key], _expected(group))


@pytest.mark.parametrize(
    "window", [{"tumbling": "10s"}, {"hopping": {"size": "30s", "every": "10s"}}]
)
def test_windowed_results_match_independent_computation(window: dict[str, Any]) -> None:
    run, ref = _run(window, batch=250)
    assert ref.late_offsets, "the data must contain late events to test them"
    _compare(run, ref, windowed=True)
    late = sorted(d.offset for d in run.dead if d.reason == "late")
    assert late == ref.late_offsets
    assert run.counters[("v", "late")] == len(ref.late_offsets)
    assert all(d.view == "v" and d.raw.startswith(b"{") for d in run.dead)


def test_running_view_matches_and_is_never_late() -> None:
    run, ref = _run(None, batch=400)
    _compare(run, ref, windowed=False)
    assert not run.dead and ("v", "late") not in run.counters
    assert not any(row["final"] for row in run.rows["v"].values())


@pytest.mark.parametrize(
    "window", [{"tumbling": "10s"}, {"hopping": {"size": "30s", "every": "10s"}}, None]
)
def test_results_do_not_depend_on_batch_size(window: dict[str, Any] | None) -> None:
    outcomes = []
    for batch in (1, 7, 100, 10_000):
        run, _ = _run(window, batch=batch, n=300, seed=11)
        finals = {k: {m: v for m, v in row.items()} for k, row in run.rows["v"].items()}
        dead = [(d.offset, d.reason, d.view, d.raw) for d in run.dead]
        outcomes.append((finals, dead, run.counters.get(("v", "late"), 0)))
    first = outcomes[0]
    for other in outcomes[1:]:
        assert other[1] == first[1] and other[2] == first[2]
        assert other[0].keys() == first[0].keys()
        for key, row in first[0].items():
            for name, value in row.items():
                if isinstance(value, float):
                    assert other[0][key][name] == pytest.approx(value, rel=1e-12)
                else:
                    assert other[0][key][name] == value, (key, name)


def test_windows_close_as_the_watermark_passes_and_rows_are_final_once() -> None:
    run, _ref = _run({"tumbling": "10s"}, batch=100)
    finals = run.final_seen["v"]
    assert len(finals) == len(set(finals))
    last_end = max(row["window_end"] for row in run.rows["v"].values())
    open_rows = [r for r in run.rows["v"].values() if not r["final"]]
    assert open_rows and all(r["window_end"] > last_end - _td(15) for r in open_rows)


def _td(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


def test_idle_stream_advances_with_the_wall_clock_and_closes_the_last_window() -> None:
    pipeline = app_pipeline(
        {"v": {"from": "app", "window": {"tumbling": "10s"}, "metrics": {"n": "count()"}}},
        lateness="5s",
        idle_timeout="2s",
    )
    processor = Processor(pipeline)
    run = Run(processor)
    events = app_events(50, 5, disorder_ms=0, span_ms=9_000)
    run.feed(to_chunks(events, 10), batch_events=100, now_us=1_000 * SECOND)
    assert not any(r["final"] for r in run.rows["v"].values())
    run.apply(processor.advance_idle(1_001 * SECOND))  # quiet for less than idle_timeout
    assert not any(r["final"] for r in run.rows["v"].values())
    batch = processor.advance_idle(1_020 * SECOND)
    run.apply(batch)
    assert all(r["final"] for r in run.rows["v"].values())
    assert sum(r["n"] for r in run.rows["v"].values()) == 50
    max_t = max(e["timestamp"] for e in events) * 1000
    assert batch.watermarks["app"] == max_t + 20 * SECOND - 5 * SECOND


def test_late_event_after_final_window_is_dead_lettered_once() -> None:
    pipeline = app_pipeline(
        {"v": {"from": "app", "window": {"tumbling": "10s"}, "metrics": {"n": "count()"}}},
        lateness="1s",
    )
    processor = Processor(pipeline)
    base = {"application_id": "a", "method": "GET", "status_code": 200}
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 10_000
    events = [
        {**base, "timestamp": t0 + 1000},
        {**base, "timestamp": t0 + 12_000},
        {**base, "timestamp": t0 + 2000},
        {**base, "timestamp": t0 + 10_500},
    ]
    run = Run(processor)
    run.feed(to_chunks(events, 1), batch_events=10)
    late = [d for d in run.dead if d.reason == "late"]
    assert [d.offset for d in late] == [2]
    assert late[0].event_time_us == (t0 + 2000) * 1000
    assert run.counters[("v", "late")] == 1
    assert math.isclose(sum(r["n"] for r in run.rows["v"].values()), 3)
