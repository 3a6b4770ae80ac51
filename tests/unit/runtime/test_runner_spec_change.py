"""EngineRunner.start() after the spec was edited: the replay's output of views that start
empty is committed, with a checkpoint under the new spec, in one transaction; the output of
unchanged views is still discarded (it is in the store already)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from streamdash.engine import Processor
from streamdash.log.sqlite import SqliteLog
from streamdash.runtime.runner import EngineRunner
from streamdash.spec.models import Pipeline
from streamdash.testing.memory import MemorySink

T0_MS = 1_700_000_000_000
EVENTS = 900
CHUNK = 30
CUT = 390
"""The checkpoint is taken at this offset; results are committed up to EVENTS."""
COUNTS: dict[str, Any] = {
    "from": "app",
    "window": {"tumbling": "10s"},
    "group_by": ["app"],
    "metrics": {"n": "count()", "a": "avg(latency)"},
}
LATENCY: dict[str, Any] = {
    "from": "app",
    "window": {"tumbling": "5s"},
    "metrics": {"p": "quantile(latency, 0.9)"},
}


def _pipeline(counts: dict[str, Any]) -> Pipeline:
    return Pipeline.model_validate(
        {
            "streams": {
                "app": {
                    "time": {"field": "ts", "unit": "ms"},
                    "lateness": "2s",
                    "schema": {"ts": "int64", "app": "string", "latency": "float64"},
                }
            },
            "views": {"counts": counts, "latency": LATENCY},
        }
    )


OLD = _pipeline(COUNTS)
NEW = _pipeline({**COUNTS, "metrics": {"n": "count()", "a": "max(latency)"}})


def _events() -> list[dict[str, Any]]:
    rnd = random.Random(7)
    return [
        {
            "ts": T0_MS + i * 60_000 // EVENTS - rnd.randint(0, 3000),
            "app": f"app-{rnd.randint(1, 3)}",
            "latency": round(rnd.uniform(1, 500), 3),
        }
        for i in range(EVENTS)
    ]


def _runner(pipeline: Pipeline, log: SqliteLog, sink: MemorySink) -> EngineRunner:
    # a frozen clock: no periodic checkpoints and no idle advances unless asked for
    return EngineRunner(
        Processor(pipeline),
        log,
        sink,
        ["app"],
        batch_events=120,
        checkpoint_every_s=1e9,
        clock=lambda: 1_000.0,
    )


def _catch_up(runner: EngineRunner) -> None:
    while runner.step():
        pass


def _committed_after_checkpoint(tmp_path: Path) -> tuple[SqliteLog, MemorySink]:
    """Results of OLD committed up to EVENTS, its last checkpoint at CUT."""
    events = [json.dumps(e).encode() + b"\n" for e in _events()]
    log = SqliteLog(tmp_path, synchronous="NORMAL")
    sink = MemorySink()

    def append(start: int, end: int) -> None:
        chunks = [(b"".join(events[i : i + CHUNK]), CHUNK) for i in range(start, end, CHUNK)]
        log.append("app", chunks)

    append(0, CUT)
    runner = _runner(OLD, log, sink)
    runner.start()
    _catch_up(runner)
    runner.checkpoint_now()
    append(CUT, EVENTS)
    _catch_up(runner)
    assert sink.checkpoint is not None and sink.checkpoint[0]["app"] == CUT
    assert sink.offsets["app"] == EVENTS
    return log, sink


def test_the_replay_output_of_a_changed_view_is_committed_with_a_checkpoint(
    tmp_path: Path,
) -> None:
    log, sink = _committed_after_checkpoint(tmp_path)
    before = len(sink.commits)
    old_latency = dict(sink.rows["latency"])
    _runner(NEW, log, sink).start()
    [carried] = sink.commits[before:]
    assert {u.view for u in carried.updates} == {"counts"}
    assert carried.checkpoint is not None and carried.offsets["app"] == EVENTS
    assert sink.checkpoint is not None and sink.checkpoint[0]["app"] == EVENTS
    # every replayed event is in the changed view (or counted late there), once
    late = carried.counters.get(("counts", "late"), 0)
    assert late == sum(1 for d in carried.dead_letters if d.view == "counts")
    assert set(carried.counters) <= {("counts", "late")}
    written: dict[tuple[Any, ...], dict[str, Any]] = {}
    for update in carried.updates:
        written |= {(r["window_start"], r["app"]): r for r in update.rows.to_pylist()}
    assert sum(r["n"] for r in written.values()) + late == EVENTS - CUT
    # windows that closed during the replay are written, with the new metric over the
    # events from the checkpoint on
    latest: dict[tuple[int, str], float] = {}
    for e in _events()[CUT:]:
        key = (e["ts"] // 10_000 * 10_000, e["app"])
        latest[key] = max(latest.get(key, 0.0), e["latency"])
    final = [r for r in written.values() if r["final"]]
    assert final
    for r in final:
        assert r["a"] == latest[(int(r["window_start"].timestamp() * 1000), r["app"])]
        assert sink.rows["counts"][(r["window_start"], r["app"])] == r
    assert sink.rows["latency"] == old_latency

    # the checkpoint is under the new spec now: the next start resets nothing
    again = _runner(NEW, log, sink)
    again.start()
    assert len(sink.commits) == before + 1


def test_an_unchanged_spec_commits_nothing_on_start(tmp_path: Path) -> None:
    log, sink = _committed_after_checkpoint(tmp_path)
    before = len(sink.commits)
    _runner(OLD, log, sink).start()
    assert len(sink.commits) == before
