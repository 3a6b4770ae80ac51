"""`streamdash demo` as a user runs it: every built-in view fills within a minute, it stops
cleanly after --duration, and a second run on the same data dir resumes without losing or
double-counting anything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import psycopg

from streamdash.log.sqlite import SqliteLog


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_demo(
    data_dir: Path, port: int, duration: int, pg_db: str, out: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDASH_")}
    env["STREAMDASH_DATABASE_URL"] = pg_db  # an external database: no embedded server start
    args = ["demo", "--data-dir", str(data_dir), "--duration", str(duration), "--rate", "300"]
    args += ["--port", str(port), "--dashboard-port", str(free_port())]
    with out.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streamdash", *args], env=env, stdout=log, stderr=log
        )


def totals(pg_db: str) -> dict[str, int]:
    """Numbers that may only grow between runs."""
    with psycopg.connect(pg_db) as conn:
        offsets = conn.execute(
            "SELECT stream, next_offset FROM streamdash_offsets WHERE consumer = 'engine'"
        ).fetchall()
        (users,) = conn.execute("SELECT count(*) FROM created_users").fetchone() or (0,)
        (requests,) = conn.execute(
            "SELECT coalesce(sum(request_count), 0) FROM application_metrics"
        ).fetchone() or (0,)
    return {**{f"offset:{s}": int(o or 0) for s, o in offsets}, "users": int(users),
            "requests": int(requests)}  # fmt: skip


def logged_user_ids(data_dir: Path) -> set[str]:
    log = SqliteLog(data_dir / "log")
    ids: set[str] = set()
    position = 0
    try:
        while chunks := log.read("users", position, 100_000):
            for chunk in chunks:
                ids.update(msgspec.json.decode(line)["id"] for line in chunk.payload.splitlines())
            position = chunks[-1].end
    finally:
        log.close()
    return ids


def test_demo_fills_every_view_stops_cleanly_and_resumes(pg_db: str, tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    api = f"http://127.0.0.1:{port}"
    first_out = tmp_path / "demo1.log"
    demo = start_demo(data_dir, port, 45, pg_db, first_out)
    try:
        with httpx.Client(base_url=api, timeout=5) as client:
            deadline = time.monotonic() + 60
            views: list[str] = []
            empty: set[str] = set()
            while not views or empty:
                assert demo.poll() is None, first_out.read_text()
                assert time.monotonic() < deadline, f"views without rows after 60 s: {empty}"
                try:
                    if not views:
                        views = [v["name"] for v in client.get("/v1/views").json()]
                        empty = set(views)
                    for view in sorted(empty):
                        if client.get(f"/v1/views/{view}", params={"limit": 1}).json():
                            empty.discard(view)
                except httpx.HTTPError:
                    pass  # not up yet
                time.sleep(0.5)
        assert {"application_metrics", "sensor_metrics", "created_users"} <= set(views)
        code = demo.wait(90)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    output = first_out.read_text()
    assert code == 0, output
    assert f"ingest API   {api}" in output
    assert f"results      {api}/v1/views" in output
    assert "stopped cleanly" in output
    before = totals(pg_db)
    assert before["users"] > 0 and before["requests"] > 0

    # The second run is stopped like a user does, with Ctrl-C (SIGINT), once it has added
    # users: a fixed duration would race the start-up on a loaded machine.
    second_out = tmp_path / "demo2.log"
    again = start_demo(data_dir, port, 600, pg_db, second_out)
    try:
        deadline = time.monotonic() + 90
        while totals(pg_db)["users"] <= before["users"]:
            assert again.poll() is None, second_out.read_text()
            assert time.monotonic() < deadline, "the second run added no users in 90 s"
            time.sleep(0.5)
        again.send_signal(signal.SIGINT)
        code = again.wait(60)
    finally:
        if again.poll() is None:
            again.kill()
            again.wait()
    assert code == 0, second_out.read_text()
    assert "stopped cleanly" in second_out.read_text()
    after = totals(pg_db)
    assert all(after.get(k, 0) >= v for k, v in before.items()), (before, after)
    # nothing counted twice: one row per distinct user id that is in the log
    assert after["users"] == len(logged_user_ids(data_dir))
    with psycopg.connect(pg_db) as conn:
        (late,) = conn.execute(
            "SELECT coalesce(sum(value), 0) FROM streamdash_counters "
            "WHERE scope = 'application_metrics' AND name = 'late'"
        ).fetchone() or (0,)
    # every processed app_logs event is in exactly one window, or counted late
    assert after["requests"] + int(late) == after["offset:app_logs"]
