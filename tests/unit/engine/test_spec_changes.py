"""Restoring a snapshot under an edited spec: the parts whose fingerprint is unchanged keep
their state, new and changed views start empty, removed views are dropped and a stream whose
clock-deciding settings changed restarts its clock (docs/semantics.md, "Changing the spec")."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest

from streamdash.engine import Processor
from streamdash.engine.snapshot import SnapshotMismatch
from streamdash.engine.watermark import NO_TIME
from streamdash.spec.models import Pipeline

from .conftest import T0_MS, Run, app_events, app_pipeline, to_chunks

SECOND = 1_000_000
COUNTS: dict[str, Any] = {
    "from": "app",
    "window": {"tumbling": "10s"},
    "group_by": ["application_id"],
    "metrics": {"n": "count()", "a": "avg(latency_ms)"},
}
LATENCY: dict[str, Any] = {
    "from": "app",
    "window": {"hopping": {"size": "20s", "every": "5s"}},
    "group_by": ["method"],
    "metrics": {"p": "quantile(latency_ms, 0.5)", "u": "count_distinct(user)"},
}
CHUNKS = to_chunks(app_events(900, 21, disorder_ms=4000), 30)
CUT = 13
"""The snapshot is taken after this many chunks."""
AFTER = sum(c.count for c in CHUNKS[CUT:])


def _views(**changes: Any) -> dict[str, Any]:
    views = {"counts": COUNTS, "latency": LATENCY}
    for name, view in changes.items():
        if view is None:
            del views[name]
        else:
            views[name] = view
    return views


def _first(pipeline: Pipeline) -> tuple[Run, bytes]:
    first = Run(Processor(pipeline))
    first.feed(CHUNKS[:CUT], batch_events=120)
    snapshot = first.processor.snapshot()
    first.processor.close()
    return first, snapshot


def _whole(pipeline: Pipeline) -> Run:
    whole = Run(Processor(pipeline))
    whole.feed(CHUNKS, batch_events=120)
    return whole


def _resume(pipeline: Pipeline, snapshot: bytes) -> tuple[Run, frozenset[str]]:
    """A restarted processor under `pipeline`; its Run holds only rows emitted after it."""
    resumed = Run(Processor(pipeline))
    fresh = resumed.processor.restore(snapshot)
    resumed.feed(CHUNKS[CUT:], batch_events=120)
    return resumed, fresh


def _combined(first: Run, resumed: Run, view: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The view's table as a sink would hold it after both runs."""
    return {**first.rows.get(view, {}), **resumed.rows.get(view, {})}


def _same(
    got: dict[tuple[Any, ...], dict[str, Any]], want: dict[tuple[Any, ...], dict[str, Any]]
) -> bool:
    """Equal rows; floats to 1e-12, as sums come out in another order after a restore."""
    assert got.keys() == want.keys()
    for key, row in want.items():
        exact = {k: v for k, v in row.items() if not isinstance(v, float)}
        assert {k: got[key][k] for k in exact} == exact, key
        for name, value in row.items():
            if isinstance(value, float):
                assert got[key][name] == pytest.approx(value, rel=1e-12), (key, name)
    return True


def _state_tables(processor: Processor) -> set[str]:
    rows = processor.con.sql("SELECT table_name FROM duckdb_tables()").fetchall()
    return {str(r[0]) for r in rows if str(r[0]).startswith("_v")}


def test_identical_spec_restores_everything(caplog: pytest.LogCaptureFixture) -> None:
    pipeline = app_pipeline(_views(), lateness="2s")
    first, snapshot = _first(pipeline)
    with caplog.at_level(logging.WARNING):
        resumed, fresh = _resume(pipeline, snapshot)
    assert fresh == frozenset()
    assert not caplog.records
    whole = _whole(pipeline)
    for view in ("counts", "latency"):
        assert _same(_combined(first, resumed, view), whole.rows[view])


def test_edits_that_change_no_state_restore_everything() -> None:
    """Descriptions, idle timeouts and dashboards are not part of any fingerprint."""
    old = app_pipeline(_views(), lateness="2s")
    first, snapshot = _first(old)
    data = old.model_dump(by_alias=True)
    data["streams"]["app"] |= {"description": "edited", "idle_timeout": "30s"}
    data["views"]["counts"]["description"] = "edited"
    data["dashboards"] = {"main": [{"panel": "x"}]}
    resumed, fresh = _resume(Pipeline.model_validate(data), snapshot)
    assert fresh == frozenset()
    whole = _whole(old)
    assert _same(_combined(first, resumed, "counts"), whole.rows["counts"])


def test_a_changed_metric_restarts_only_its_view(caplog: pytest.LogCaptureFixture) -> None:
    old = app_pipeline(_views(), lateness="2s")
    changed = {**COUNTS, "metrics": {"n": "count()", "a": "max(latency_ms)"}}
    new = app_pipeline(_views(counts=changed), lateness="2s")
    first, snapshot = _first(old)
    with caplog.at_level(logging.WARNING):
        resumed, fresh = _resume(new, snapshot)
    assert fresh == {"counts"}
    assert "counts" in caplog.text and "latency" not in caplog.text
    # the untouched view goes on exactly as if nothing had happened
    assert _same(_combined(first, resumed, "latency"), _whole(old).rows["latency"])
    # the changed view started empty: it counted exactly the events after the snapshot
    rows = resumed.rows["counts"].values()
    late = resumed.counters.get(("counts", "late"), 0)
    assert sum(r["n"] for r in rows) + late == AFTER
    # windows that opened after the snapshot match a run of the new spec from the start;
    # the window open at the snapshot holds only its events from the snapshot on
    whole = _whole(new).rows["counts"]
    cut_ms = max(int(e["timestamp"]) for e in _events(CHUNKS[:CUT]))
    later = {k: r for k, r in resumed.rows["counts"].items() if _start_ms(r) > cut_ms}
    assert later and _same(later, {k: whole[k] for k in later})
    straddling = [r for r in rows if _start_ms(r) <= cut_ms]
    assert straddling and all(r["n"] < whole[_key(r)]["n"] for r in straddling)


def test_an_added_view_starts_empty_and_the_others_keep_their_state() -> None:
    """The new view comes first, so every other view's state tables get a new index."""
    errors = {
        "from": "app",
        "window": {"tumbling": "10s"},
        "metrics": {"errors": "count_if(status_code >= 500)", "n": "count()"},
    }
    old = app_pipeline(_views(), lateness="2s")
    new = app_pipeline({"errors": errors, **_views()}, lateness="2s")
    first, snapshot = _first(old)
    resumed, fresh = _resume(new, snapshot)
    assert fresh == {"errors"}
    whole = _whole(old)
    for view in ("counts", "latency"):
        assert _same(_combined(first, resumed, view), whole.rows[view])
    late = resumed.counters.get(("errors", "late"), 0)
    assert sum(r["n"] for r in resumed.rows["errors"].values()) + late == AFTER


def test_a_removed_view_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    old = app_pipeline(_views(), lateness="2s")
    new = app_pipeline(_views(counts=None), lateness="2s")
    first, snapshot = _first(old)
    processor = Processor(new)
    with caplog.at_level(logging.WARNING):
        assert processor.restore(snapshot) == frozenset()
    assert "removed views ['counts']" in caplog.text
    # latency was view 1 and is view 0 now: its tables were renamed, counts' not created
    assert _state_tables(processor) == {"_v0_state", "_v0_q", "_v0_h"}
    resumed = Run(processor)
    resumed.feed(CHUNKS[CUT:], batch_events=120)
    assert _same(_combined(first, resumed, "latency"), _whole(old).rows["latency"])
    assert "counts" not in resumed.rows


def test_changed_lateness_restarts_the_clock_and_the_stream_views() -> None:
    old = app_pipeline(_views(), lateness="2s")
    new = app_pipeline(_views(), lateness="5s")
    _, snapshot = _first(old)
    processor = Processor(new)
    assert processor.restore(snapshot) == {"counts", "latency"}
    assert processor.clocks["app"].max_us == NO_TIME
    assert _state_tables(processor) == set()
    # an event older than the snapshot's newest: the restarted clock starts from it
    event = {**app_events(1, 5)[0], "timestamp": T0_MS + 10_000}
    batch = processor.process("app", to_chunks([event], 1, start=900), now_us=0)
    assert batch.watermarks == {"app": (T0_MS + 10_000) * 1000 - 5 * SECOND}
    counts = next(u for u in batch.updates if u.view == "counts").rows.to_pylist()
    assert [r["n"] for r in counts] == [1]


def test_an_old_snapshot_under_an_edited_spec_starts_everything_empty() -> None:
    """Snapshots from before per-part fingerprints cannot show any part unchanged."""
    old = app_pipeline(_views(), lateness="2s")
    _, snapshot = _first(old)
    data = msgspec.msgpack.decode(snapshot)
    del data["parts"]
    processor = Processor(app_pipeline(_views(counts=None), lateness="2s"))
    assert processor.restore(msgspec.msgpack.encode(data)) == {"latency"}
    assert processor.clocks["app"].max_us == NO_TIME
    # under the same spec such a snapshot still restores in full
    same = Processor(old)
    assert same.restore(msgspec.msgpack.encode(data)) == frozenset()
    assert same.clocks["app"].max_us != NO_TIME


def test_a_snapshot_of_another_engine_format_is_refused() -> None:
    pipeline = app_pipeline(_views(), lateness="2s")
    data = msgspec.msgpack.decode(Processor(pipeline).snapshot())
    data["format"] += 1
    with pytest.raises(SnapshotMismatch, match="another engine version"):
        Processor(pipeline).restore(msgspec.msgpack.encode(data))


def _events(chunks: list[Any]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for c in chunks for line in c.payload.splitlines()]


def _start_ms(row: dict[str, Any]) -> int:
    return int(row["window_start"].timestamp() * 1000)


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["window_start"], row["application_id"])
