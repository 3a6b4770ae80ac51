"""The end-to-end harness: the real `streamdash serve` and `streamdash engine` processes on a
temporary data dir, a real PostgreSQL, real HTTP. A module of its own (conftest.py only holds
the `deployment` fixture) because tests import from it, and `from conftest import` finds
whichever conftest.py pytest happened to import first.

A `Deployment` starts/stops/kills the two processes, posts events, and waits until the
engine has committed everything in the log.

Why the tests flush with a far-future event instead of waiting for the idle advance: the
idle advance moves a stream's event time on *from its last event* at wall-clock speed
(engine/watermark.py, `StreamClock.after_idle`), not to the wall clock. A 5-minute window
therefore needs up to 5 min 10 s of idle wall time to close, a 30 s session 40 s. One event
per stream, far (`FLUSH_AHEAD_US`) after all the data, closes every window of the data in
log order instead - deterministic, and part of the log the batch reference reads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

from streamdash.log.base import DEAD_LETTER_STREAM
from streamdash.log.sqlite import SqliteLog
from streamdash.sources.generators import generate

CONSUMER = "engine"
FLUSH_AHEAD_US = 10 * 60 * 1_000_000
"""A flush event lies this far after the data: beyond the largest window (5 min) plus the
lateness (10 s), so every window holding data is final once it is processed."""
NDJSON = {"Content-Type": "application/x-ndjson"}
STREAMS_WITH_FLUSH = ("app_logs", "interactions", "user_events", "users", "sensor")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def iso_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat()


@dataclass
class Tally:
    """What the API answered: accepted counts and every rejected event, per stream."""

    accepted: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[str, str, bytes]] = field(default_factory=list)
    """(stream, reason, raw event or reading as sent)."""
    refused_requests: int = 0
    """Requests refused as a whole (400/422 bodies): nothing of them is stored."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stream: str, answer: dict[str, Any], raws: list[bytes]) -> None:
        with self.lock:
            self.accepted[stream] = self.accepted.get(stream, 0) + int(answer["accepted"])
            errors = answer["errors"]
            # the answer lists at most 100 errors; our batches stay far below that
            assert len(errors) == answer["rejected"], answer
            for error in errors:
                self.rejected.append((stream, error["reason"], raws[error["index"]]))


class Deployment:
    """The API and the engine as subprocesses (`python -m streamdash ...`)."""

    def __init__(self, root: Path, database_url: str, spec: Path | None) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = root / "out"
        self.out_dir.mkdir(exist_ok=True)
        self.database_url = database_url
        self.spec = spec
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.engine: subprocess.Popen[bytes] | None = None
        self.starts = {"serve": 0, "engine": 0}
        self.log = SqliteLog(self.data_dir / "log")
        self.tally = Tally()
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    # -- processes ----------------------------------------------------------------------

    def _spawn(self, command: str, extra: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, "STREAMDASH_DATABASE_URL": self.database_url}
        env.pop("STREAMDASH_TOKEN", None)
        self.starts[command] += 1
        out = (self.out_dir / f"{command}-{self.starts[command]}.log").open("wb")
        spec = [str(self.spec)] if self.spec is not None else []
        args = [sys.executable, "-m", "streamdash", command, *spec, "--data-dir"]
        with out:
            return subprocess.Popen(
                [*args, str(self.data_dir), *extra],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_api(self, timeout: float = 30.0) -> None:
        assert self.api is None or self.api.poll() is not None
        self.api = self._spawn("serve", ["--port", str(self.port)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise AssertionError(f"the API exited early:\n{self.output('serve')}")
            with contextlib.suppress(httpx.TransportError):
                if self.client.get("/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"the API did not become healthy:\n{self.output('serve')}")

    def start_engine(self) -> None:
        assert self.engine is None or self.engine.poll() is not None
        self.engine = self._spawn("engine", [])

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)

    def kill_api(self) -> None:
        self._kill(self.api)

    def kill_engine(self) -> None:
        self._kill(self.engine)

    def stop_engine(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Ask the engine to stop; return its exit code (it must stop by itself)."""
        assert self.engine is not None
        self.engine.send_signal(sig)
        return self.engine.wait(timeout)

    def output(self, command: str) -> str:
        """The tail of the last run's output of `command` (for assertion messages)."""
        path = self.out_dir / f"{command}-{self.starts.get(command, 0)}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no output)"

    def close(self) -> None:
        for proc in (self.api, self.engine):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    self._kill(proc)
        self.client.close()
        self.log.close()

    # -- posting ------------------------------------------------------------------------

    def post_ndjson(self, stream: str, lines: list[bytes]) -> dict[str, Any]:
        body = b"".join(line + b"\n" for line in lines)
        response = self.client.post(f"/v1/streams/{stream}/events", content=body, headers=NDJSON)
        assert response.status_code == 202, response.text
        answer: dict[str, Any] = response.json()
        self.tally.add(stream, answer, lines)
        return answer

    def post_sensor(self, body: bytes) -> int:
        """POST one Sensor Logger body; return the status (200, 499, or 400/422 refused)."""
        response = self.client.post(
            "/v1/sensorlogger", content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code in (400, 422):
            with self.tally.lock:
                self.tally.refused_requests += 1
            return response.status_code
        assert response.status_code in (200, 499), response.text
        readings = [bytes(r) for r in msgspec.json.decode(body, type=_SensorBody).payload]
        self.tally.add("sensor", response.json(), readings)
        return response.status_code

    def post_flush(self, streams: tuple[str, ...], at_us: int) -> None:
        """One valid event per stream at `at_us` (see the module docstring)."""
        for stream in streams:
            item = next(generate(stream, count=1, seed=7, start_us=at_us))
            if stream == "sensor":
                assert self.post_sensor(item) == 200
            else:
                assert self.post_ndjson(stream, [item])["accepted"] == 1

    # -- progress -----------------------------------------------------------------------

    def committed(self) -> dict[str, int]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            try:
                rows = conn.execute(
                    "SELECT stream, next_offset FROM streamdash_offsets WHERE consumer = %s",
                    (CONSUMER,),
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                return {}
        return {str(s): int(o) for s, o in rows if o is not None}

    def log_ends(self, streams: list[str]) -> dict[str, int]:
        return {s: self.log.end_offset(s) for s in [*streams, DEAD_LETTER_STREAM]}

    def wait_committed(self, streams: list[str], timeout: float = 90.0) -> None:
        """Until the engine has committed every event now in the log (and the dead letters).
        The log is read again on each round, so late appends are waited for too."""
        deadline = time.monotonic() + timeout
        while True:
            ends = self.log_ends(streams)
            try:
                done = self.committed()
            except psycopg.OperationalError:
                done = {}
            if all(done.get(s, 0) >= end for s, end in ends.items()):
                return
            if self.engine is None or self.engine.poll() is not None:
                raise AssertionError(f"the engine is not running:\n{self.output('engine')}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"engine did not catch up: log ends {ends}, committed {done}\n"
                    f"{self.output('engine')}"
                )
            time.sleep(0.1)


# defstruct, not a class: under `from __future__ import annotations` msgspec resolves a
# class's annotations in sys.modules[__module__], which for a conftest is another conftest.
_SensorBody = msgspec.defstruct("_SensorBody", [("payload", list[msgspec.Raw])])
