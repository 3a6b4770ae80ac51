"""A wall-clock (idle) advance that moves a stream's clock is not in the log: the runner
checkpoints it even when it emits nothing, so a replay after a crash judges later events
exactly as the first run did (here: an event late only because of the advance).

A drain (the engine's clean stop) processes what the log holds, within its time, and
checkpoints where it ended."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamdash.engine import Processor
from streamdash.log.sqlite import SqliteLog
from streamdash.runtime.runner import EngineRunner
from streamdash.spec.models import Pipeline
from streamdash.testing.memory import MemorySink

T0_S = 1_700_000_000
PIPELINE = Pipeline.model_validate(
    {
        "streams": {
            "app": {
                "time": {"field": "ts", "unit": "ms"},
                "lateness": "2s",
                "idle_timeout": "2s",
                "schema": {"ts": "int64"},
            }
        },
        "views": {"counts": {"from": "app", "window": {"tumbling": "10s"},
                             "metrics": {"n": "count()"}}},
    }
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = float(T0_S)

    def __call__(self) -> float:
        return self.now


def _runner(log: SqliteLog, sink: MemorySink, clock: Clock) -> EngineRunner:
    return EngineRunner(
        Processor(PIPELINE), log, sink, ["app"], checkpoint_every_s=1e9, clock=clock
    )


def _append(log: SqliteLog, *times_ms: int) -> None:
    lines = [json.dumps({"ts": t}).encode() + b"\n" for t in times_ms]
    log.append("app", [(b"".join(lines), len(lines))])


def _final_counts(sink: MemorySink) -> dict[Any, int]:
    return {k: r["n"] for k, r in sink.rows.get("counts", {}).items() if r["final"]}


def test_an_idle_advance_that_emits_nothing_is_checkpointed(tmp_path: Path) -> None:
    log, sink, clock = SqliteLog(tmp_path, synchronous="NORMAL"), MemorySink(), Clock()
    runner = _runner(log, sink, clock)
    runner.start()
    _append(log, T0_S * 1000, T0_S * 1000 + 500)  # window [T0, T0+10s), watermark T0-2s
    runner.step()
    clock.now += 5  # quiet for 5 s: event time moves to ~T0+5s, watermark ~T0+3s
    assert runner.step() == 0  # the idle advance: no window closes, nothing is emitted
    _append(log, T0_S * 1000 - 500)  # its window [T0-10s, T0) is behind the moved watermark
    runner.step()
    assert sink.counters[("counts", "late")] == 1

    # a crash, and a new engine from the last checkpoint (as engine_main recovers)
    runner = _runner(log, sink, clock)
    runner.start()
    clock.now += 60  # everything closes
    while runner.step():
        pass
    runner.step()
    start = T0_S * 1_000_000
    counts = {int(k[0].timestamp()) * 1_000_000: n for k, n in _final_counts(sink).items()}
    # the late event stays late: no window before T0, and no second count of it
    assert counts == {start: 2}
    assert sink.counters[("counts", "late")] == 1
    log.close()


def test_drain_processes_what_the_log_holds_and_checkpoints_there(tmp_path: Path) -> None:
    log, sink, clock = SqliteLog(tmp_path, synchronous="NORMAL"), MemorySink(), Clock()
    runner = _runner(log, sink, clock)
    runner.start()
    for second in range(3):  # three chunks: one step reads at most `batch_events` of them
        _append(log, *range((T0_S + second) * 1000, (T0_S + second) * 1000 + 500))
    runner.batch_events = 600
    runner.drain(30)
    assert runner.positions["app"] == 1500
    assert sink.offsets["app"] == 1500
    assert sink.checkpoint is not None
    assert sink.checkpoint[0] == runner.positions  # nothing to replay next time
    log.close()


def test_a_drain_out_of_time_leaves_the_rest_to_the_next_start(tmp_path: Path) -> None:
    log, sink, clock = SqliteLog(tmp_path, synchronous="NORMAL"), MemorySink(), Clock()
    runner = _runner(log, sink, clock)
    runner.start()
    _append(log, T0_S * 1000)
    runner.drain(0)
    assert sink.offsets.get("app", 0) == 0
    assert sink.checkpoint is not None and sink.checkpoint[0]["app"] == 0
    log.close()
