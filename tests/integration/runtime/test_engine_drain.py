"""A stopped engine first processes what the log holds: after a clean stop, the result
tables count every event that was acknowledged before the API stopped.

The engine process is frozen (SIGSTOP) while events are appended to its log and SIGTERM is
queued, so it cannot have seen them before it is asked to stop; it must still count them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
from runtime_support import app_log_events, requests_counted

from streamdash.log.sqlite import SqliteLog
from streamdash.testing.waiting import wait_for


def _append(log: SqliteLog, application_id: str, count: int) -> None:
    log.append("app_logs", [(app_log_events(application_id, count), count)])


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
        wait_for(lambda: requests_counted(pg_db, "app-warm"), 60, "the engine's first result row")
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
    assert requests_counted(pg_db, "app-drained") == 5_000, out.read_text()
    with psycopg.connect(pg_db) as conn:
        (committed,) = conn.execute(
            "SELECT next_offset FROM streamdash_offsets "
            "WHERE consumer = 'engine' AND stream = 'app_logs'"
        ).fetchone() or (0,)
    assert committed == 5_001  # and the checkpoint's offsets cover them: nothing to replay
