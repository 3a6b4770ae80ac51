"""A stopped engine first processes what the log holds: after a clean stop, the result
tables count every event that was acknowledged before the API stopped.

The engine process is frozen (SIGSTOP) while events are appended to its log and SIGTERM is
queued, so it cannot have seen them before it is asked to stop; it must still count them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from streamdash.log.sqlite import SqliteLog
from streamdash.testing.waiting import wait_for

EVENT = {"method": "GET", "endpoint": "/", "status_code": 200, "latency_ms": 1.0,
         "level": "INFO", "message": "drain"}  # fmt: skip


def _append(log: SqliteLog, application_id: str, count: int) -> None:
    now_ms = time.time_ns() // 1_000_000
    lines = [
        json.dumps({**EVENT, "application_id": application_id, "timestamp": now_ms + i}).encode()
        + b"\n"
        for i in range(count)
    ]
    log.append("app_logs", [(b"".join(lines), count)])


def _counted(url: str, application_id: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(request_count), 0) FROM application_metrics "
                "WHERE application_id = %s",
                (application_id,),
            ).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def test_a_stopped_engine_processes_the_events_already_in_the_log(
    pg_db: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDASH_")}
    env["STREAMDASH_DATABASE_URL"] = pg_db
    log = SqliteLog(data_dir / "log")
    _append(log, "app-warm", 1)  # counted once the engine runs its loop
    out = tmp_path / "engine.log"
    with out.open("wb") as output:
        engine = subprocess.Popen(
            [sys.executable, "-m", "streamdash", "engine", "--data-dir", str(data_dir)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _counted(pg_db, "app-warm"), 60, "the engine's first result row")
        engine.send_signal(signal.SIGSTOP)
        _append(log, "app-drained", 5_000)
        engine.send_signal(signal.SIGTERM)  # pending until it runs again
        engine.send_signal(signal.SIGCONT)
        assert engine.wait(30) == 0, out.read_text()
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
        log.close()
    assert _counted(pg_db, "app-drained") == 5_000, out.read_text()
    with psycopg.connect(pg_db) as conn:
        (committed,) = conn.execute(
            "SELECT next_offset FROM streamdash_offsets "
            "WHERE consumer = 'engine' AND stream = 'app_logs'"
        ).fetchone() or (0,)
    assert committed == 5_001  # and the checkpoint's offsets cover them: nothing to replay
