"""Every built-in view, end to end through the real processes, against a batch computation.

Generated data with late and malformed events goes through `streamdash serve` (NDJSON, and
Sensor Logger bodies on /v1/sensorlogger) into the log; `streamdash engine` turns it into
PostgreSQL rows. The rows, the dead letters and the late counters must equal what
`batch_reference` computes from the log's contents alone, window by window and key by key.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from batch_reference import MINUTE, SECOND, verify
from e2e_harness import FLUSH_AHEAD_US, STREAMS_WITH_FLUSH, Deployment

from streamdash.sources.generators import generate

SEED = 11
LATE = 0.02
BAD = 0.01
BATCH = 500
# stream -> (items, items per second of event time): a few minutes of event time each, so
# every view has many windows, sessions merge, and late events miss some windows only
PLAN = {
    "app_logs": (3000, 20.0),
    "interactions": (3000, 20.0),
    "user_events": (3000, 10.0),
    "users": (1000, 5.0),
    "sensor": (400, 4.0),  # bodies of ~10 readings each
}


def _post_all(d: Deployment, start_us: int) -> None:
    for stream, (count, rate) in PLAN.items():
        items = list(
            generate(
                stream,
                count=count,
                seed=SEED,
                start_us=start_us,
                rate=rate,
                late_fraction=LATE,
                bad_fraction=BAD,
            )
        )
        if stream == "sensor":
            # the app posts one body per request; a few at once, like several phones
            with ThreadPoolExecutor(4) as pool:
                statuses = Counter(pool.map(d.post_sensor, items))
            assert statuses[200] > 0.9 * count, statuses
        else:
            for i in range(0, len(items), BATCH):
                d.post_ndjson(stream, items[i : i + BATCH])


def test_every_builtin_view_equals_the_batch_computation(
    deployment: Callable[..., Deployment],
) -> None:
    d = deployment()
    d.start_api()
    d.start_engine()
    now_us = time.time_ns() // 1000
    # two hours in the past, on a 5-minute boundary: old enough that nothing depends on
    # the wall clock, aligned so the first windows of every size start together
    start_us = (now_us - 120 * MINUTE) // (5 * MINUTE) * (5 * MINUTE)
    _post_all(d, start_us)
    data_end_us = start_us + max(int(n / rate * SECOND) for n, rate in PLAN.values())
    d.post_flush(STREAMS_WITH_FLUSH, data_end_us + FLUSH_AHEAD_US)
    d.wait_committed(list(PLAN))

    verdict = verify(d.database_url, d.log, d.tally.rejected)
    assert not verdict.problems, "\n".join(verdict.problems[:60])

    # the run exercised what it claims to: late events per windowed view, rejects per
    # stream, multi-event sessions, and every view has rows
    for name, result in verdict.results.items():
        assert result.rows, f"{name} has no rows"
        if result.view.window != "none":
            assert result.late, f"no late event for {name}"
    rejected_streams = Counter(stream for stream, _, _ in d.tally.rejected)
    assert set(rejected_streams) == set(PLAN), rejected_streams
    sessions = verdict.results["user_sessions"].rows.values()
    assert max(row["event_count"] for row in sessions) > 3
    for stream in PLAN:
        # one uninterrupted run: each event of the log was decoded exactly once
        assert verdict.counters.get((stream, "events")) == d.log.end_offset(stream), stream
        assert verdict.counters.get((stream, "rejected")) == rejected_streams[stream], stream
