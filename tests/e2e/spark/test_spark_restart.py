"""Kill -9 the Spark driver mid-stream and start it again on the same checkpoint: the final
results equal the batch computation (and the embedded engine) — nothing lost, nothing
counted twice, dead letters and counters included.

The driver is `streamdash spark run` in its own process group (Python, its JVM and the JVM's
Python workers), fed by a producer thread while it runs, killed while batches are in
flight, then run again with `--once` after the rest of the data (and the flush events)
arrived.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path

import psycopg
import pytest
import yaml
from spark_support import (
    FLUSH_AHEAD_US,
    MINUTE,
    Dataset,
    data_end_us,
    parity_problems,
    run_embedded,
    second_database,
    to_kafka,
    to_log,
)

from streamdash.log.sqlite import SqliteLog
from streamdash.spark.sink import view_consumer
from streamdash.spec.loader import load_builtin
from streamdash.testing.kafka_feed import produce
from streamdash.testing.tansu import TansuBroker

# user_events has the most state to recover: a stream-static join, tumbling, hopping and
# session windows, distinct-count sketches
STREAMS = ("user_events",)
PLAN = {"user_events": (3000, 10.0)}
SEED = 31
BAD = {"user_events": [b"{not json", b"[1, 2]", b'{"event_type": "click"}']}


def _spec_file(path: Path) -> Path:
    """The built-in specs of STREAMS as one file (the CLI takes one spec)."""
    merged: dict[str, dict[str, object]] = {}
    folder = resources.files("streamdash.spec").joinpath("builtin")
    for stream in STREAMS:
        # BaseLoader keeps every scalar a string (`on` is a key, not YAML 1.1's True); the
        # spec loader reads them back as the models' types
        text = folder.joinpath(f"{stream}.yaml").read_text()
        for section, entries in yaml.load(text, Loader=yaml.BaseLoader).items():
            merged.setdefault(section, {}).update(entries)
    path.write_text(yaml.safe_dump(merged))
    return path


def _driver(
    spec_args: list[str], database_url: str, out: Path, *extra: str
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STREAMDASH_DATABASE_URL": database_url}
    with out.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streamdash", "spark", "run", *spec_args, *extra],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _committed(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        try:
            rows = conn.execute(
                "SELECT consumer, next_offset FROM streamdash_offsets WHERE consumer LIKE 'spark:%'"
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {str(c): int(n) for c, n in rows}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_killed_driver_restarts_from_its_checkpoint(
    kafka_broker: TansuBroker, pg_db: str, tmp_path: Path
) -> None:
    pipeline = load_builtin(*STREAMS)
    now_us = time.time_ns() // 1000
    start_us = (now_us - 120 * MINUTE) // (5 * MINUTE) * (5 * MINUTE)
    data = Dataset.generated(pipeline, PLAN, SEED, start_us)
    flush = data.flushes(pipeline, data_end_us(start_us, PLAN) + FLUSH_AHEAD_US)
    first = {s: lines[: len(lines) // 3] for s, lines in data.lines.items()}
    rest = {s: lines[len(lines) // 3 :] for s, lines in data.lines.items()}

    spark_db = second_database(pg_db)
    to_kafka(kafka_broker.bootstrap, pipeline, first)
    for stream, lines in BAD.items():  # bad messages go to the dead letters, once
        spec = pipeline.streams[stream]
        produce(kafka_broker.bootstrap, spec.topic or stream, lines, spec.key)
    spec_args = [
        str(_spec_file(tmp_path / "pipeline.yaml")),
        *("--kafka", kafka_broker.bootstrap),
        *("--checkpoint", str(tmp_path / "checkpoints")),
        *("--data-dir", str(tmp_path / "data")),
        "--no-ui",
    ]
    out = tmp_path / "driver.log"
    consumers = [view_consumer(v) for v in pipeline.views]
    driver = _driver(spec_args, spark_db, out, "--max-events-per-batch", "400")
    try:
        deadline = time.monotonic() + 400
        while not all(_committed(spark_db).get(c, 0) >= 1 for c in consumers):
            assert driver.poll() is None, out.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no progress: {_committed(spark_db)}"
            time.sleep(0.5)
        # the rest arrives while the driver runs; kill it halfway through
        feeder = threading.Thread(target=to_kafka, args=(kafka_broker.bootstrap, pipeline, rest))
        feeder.start()
        before = _committed(spark_db)
        while _committed(spark_db) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(60)
        feeder.join()
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    to_kafka(kafka_broker.bootstrap, pipeline, flush)

    again = _driver(spec_args, spark_db, out, "--once")
    assert again.wait(600) == 0, out.read_text()[-4000:]

    log = SqliteLog(tmp_path / "log")
    to_log(log, data.lines)
    to_log(log, flush)
    run_embedded(pipeline, log, pg_db)
    problems, compared = parity_problems(pg_db, spark_db, log, pipeline.views, (0, 1 << 62))
    assert not problems, "\n".join(problems[:40])
    assert all(compared.values()), compared
    with psycopg.connect(spark_db) as conn:
        letters = conn.execute(
            "SELECT stream, reason, raw FROM dead_letters ORDER BY id"
        ).fetchall()
        counters = dict(
            ((scope, name), value)
            for scope, name, value in conn.execute(
                "SELECT scope, name, value FROM streamdash_counters"
            )
        )
    assert sorted((s, bytes(r)) for s, _, r in letters) == sorted(
        (s, line) for s, lines in BAD.items() for line in lines
    )
    for stream in STREAMS:
        assert counters[(stream, "events")] == log.end_offset(stream), stream
        assert counters[(stream, "rejected")] == len(BAD[stream]), stream
    log.close()
