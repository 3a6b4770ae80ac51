"""`streamdash run` starts the API and the engine in parallel with the embedded PostgreSQL.

The database start is held back deterministically: the test takes the lock that serialises
start/stop of the embedded server's data directory, so `run` blocks in the server start
while its children are already running. Meanwhile the API must accept events durably; once
the lock is released, the engine must pick them up and write each exactly once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from runtime_support import app_log_events, requests_counted

from streamdash.bench.processes import free_port
from streamdash.log.sqlite import SqliteLog
from streamdash.store.pgdata import choose_pgdata, is_root, make_dirs
from streamdash.testing.waiting import wait_for

EVENTS = 250
_URL = re.compile(r"(postgresql://\S+)")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside any home directory and enterable by the server's service account (as root)."""
    path = Path(tempfile.mkdtemp(prefix="streamdash-run-"))
    path.chmod(0o755)
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def database_start_held(data_dir: Path) -> Iterator[None]:
    """Hold the lock that serialises starts of the embedded server on `data_dir`."""
    pgdata = choose_pgdata(data_dir / "postgres", as_root=is_root())
    make_dirs(pgdata.parent, 0o755)
    with (pgdata.parent / f".{pgdata.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Run:
    """A `streamdash run` subprocess and its output, read on a thread."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        args = ["run", "--data-dir", str(data_dir), "--port", str(self.port)]
        own_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDASH_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamdash", *args, "--duration", "120"],
            env={**own_env, "COLUMNS": "200"},  # the database URL on one line
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace"))

    def output(self) -> str:
        return "".join(self.lines)

    def database_url(self) -> str | None:
        match = _URL.search(self.output())
        return match.group(1) if match else None

    def _child(self, command: str) -> psutil.Process | None:
        for proc in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.Error):
                if command in proc.cmdline()[3:4]:
                    return proc
        return None

    def has_child(self, command: str) -> bool:
        return self._child(command) is not None

    def child(self, command: str) -> psutil.Process:
        proc = self._child(command)
        if proc is None:
            raise AssertionError(f"no {command!r} child of streamdash run:\n{self.output()}")
        return proc

    def healthy(self) -> bool:
        assert self.process.poll() is None, self.output()
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{self.api}/healthz", timeout=1).status_code == 200
        return False

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        finally:
            self._reader.join(10)


@pytest.fixture
def run(data_dir: Path) -> Iterator[Callable[[], Run]]:
    """run() -> a started `streamdash run` on `data_dir`, killed after the test if alive."""
    made: list[Run] = []

    def start() -> Run:
        made.append(Run(data_dir))
        return made[-1]

    yield start
    for r in made:
        # the children run in sessions of their own: a kill -9 of `run` would orphan them,
        # so stop it the orderly way (it stops them), and kill what is left only after that
        children = psutil.Process(r.process.pid).children() if r.process.poll() is None else []
        with contextlib.suppress(subprocess.TimeoutExpired):
            r.stop()
        r.process.kill()  # no-op if it has exited
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        r.process.wait()
        if r.process.stdout is not None:
            r.process.stdout.close()


@contextlib.contextmanager
def started_with_database_held(run: Callable[[], Run], data_dir: Path) -> Iterator[Run]:
    """`streamdash run`, answering /healthz while its database start is held back."""
    with database_start_held(data_dir):
        started = run()
        wait_for(started.healthy, 60, "/healthz while the database start is held", every=0.05)
        yield started


def _post(api: str, body: bytes) -> dict[str, int]:
    response = httpx.post(
        f"{api}/v1/streams/app_logs/events",
        content=body,
        headers={"content-type": "application/x-ndjson"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    answer: dict[str, int] = response.json()
    return answer


def test_ingest_is_durable_before_the_database_is_up_and_processed_once_it_is(
    run: Callable[[], Run], data_dir: Path
) -> None:
    app = f"held-{uuid.uuid4().hex[:8]}"
    with started_with_database_held(run, data_dir) as started:
        pgdata = choose_pgdata(data_dir / "postgres", as_root=is_root())
        assert not (pgdata / "postmaster.pid").exists(), "PostgreSQL runs despite the lock"
        assert _post(started.api, app_log_events(app, EVENTS))["accepted"] == EVENTS
        # the views are known from the spec; their rows cannot be read yet, and it says so
        assert httpx.get(f"{started.api}/v1/views", timeout=10).status_code == 200
        rows = httpx.get(f"{started.api}/v1/views/application_metrics", timeout=10)
        assert rows.status_code == 503, rows.text
        assert rows.json()["error"]
        log = SqliteLog(data_dir / "log")
        try:
            assert log.end_offset("app_logs") == EVENTS  # durable before any database
        finally:
            log.close()
        assert started.database_url() is None  # the banner waits for the database
        # the readers start after the engine, which cannot start without its database
        assert not started.has_child("dashboard") and not started.has_child("alerts")
    url = wait_for(started.database_url, 60, "the banner with the database URL")
    wait_for(lambda: started.has_child("dashboard"), 60, "the dashboard, once the engine runs")
    assert wait_for(lambda: requests_counted(url, app), 60, "the held events' row") == EVENTS
    rows = httpx.get(f"{started.api}/v1/views/application_metrics?key={app}", timeout=10)
    assert sum(row["request_count"] for row in rows.json()) == EVENTS
    assert started.stop() == 0, started.output()


def test_a_reserved_port_taken_meanwhile_restarts_api_and_engine_on_the_real_one(
    run: Callable[[], Run], data_dir: Path
) -> None:
    app = f"moved-{uuid.uuid4().hex[:8]}"
    with started_with_database_held(run, data_dir) as started:
        api_pid = started.child("serve").pid
        planned = started.child("engine").environ()["STREAMDASH_DATABASE_URL"]
        port = int(planned.rsplit(":", 1)[1].split("/", 1)[0])
        squatter = socket.socket()
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
    try:
        url = wait_for(started.database_url, 60, "the banner with the database URL")
        assert url != planned
        wait_for(started.healthy, 60, "/healthz of the restarted API")
        assert started.child("serve").pid != api_pid
        assert started.child("engine").environ()["STREAMDASH_DATABASE_URL"] == url
        assert _post(started.api, app_log_events(app, 3))["accepted"] == 3
        assert wait_for(lambda: requests_counted(url, app), 60, "the event's row") == 3
    finally:
        squatter.close()
    assert started.stop() == 0, started.output()
