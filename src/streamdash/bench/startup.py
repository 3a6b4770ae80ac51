"""Startup benchmark: from launching `streamdash run` to the first result row in PostgreSQL.

The clock starts at the launch of the subprocess. As soon as /healthz answers, one event is
posted, with an application_id unique to this start, so the row we wait for can only have
been written by this run (a warm start's database already holds rows of the cold one). The
database URL is read from the banner `streamdash run` prints, exactly as a user would.

Cold: a fresh data dir, so initdb of the embedded PostgreSQL is included. Warm: the same data
dir again after a clean stop (cluster initialised, log and checkpoint present): a restart.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from streamdash.bench.processes import NDJSON, bench_env, free_port
from streamdash.bench.report import Measure
from streamdash.bench.workload import STREAM, VIEW, median, scratch_dir

TARGET_S = 3.0
SPARK_FIRST_ROW_S = 8.7
"""Spark local[2] process start -> first row, docs/environment.md: earlier, not this run."""
_URL_IN_BANNER = re.compile(r"(postgresql://\S+)")


@dataclass
class StartTiming:
    kind: str
    healthz_s: float
    """Launch -> /healthz answers (database started, API listening)."""
    posted_s: float
    """Launch -> the event's 202."""
    first_row_s: float
    """Launch -> the event's result row is readable in PostgreSQL."""


@dataclass
class StartupResult:
    cold_runs: list[StartTiming]
    warm_runs: list[StartTiming]

    @property
    def cold_first_row_s(self) -> float:
        return median([t.first_row_s for t in self.cold_runs])

    @property
    def warm_first_row_s(self) -> float:
        return median([t.first_row_s for t in self.warm_runs])

    def measures(self) -> list[Measure]:
        spark = "Spark local[2], earlier"
        return [
            Measure(
                "startup",
                f"{kind}: launch -> first row (median of {len(runs)})",
                value,
                "s",
                SPARK_FIRST_ROW_S,
                spark,
                "<= 3 s",
                value <= TARGET_S,
            )
            for kind, runs, value in (
                ("cold", self.cold_runs, self.cold_first_row_s),
                ("warm", self.warm_runs, self.warm_first_row_s),
            )
        ]


class _Output:
    """Collects the child's stdout on a thread (a full pipe would block it) and finds the
    database URL in the banner."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.text: list[str] = []
        self.url: str | None = None
        self.found = threading.Event()
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.decode(errors="replace")
            self.text.append(line)
            match = _URL_IN_BANNER.search(line)
            if match and self.url is None:
                self.url = match.group(1)
                self.found.set()

    def join(self) -> None:
        self._thread.join(timeout=10)


def _event(application_id: str) -> bytes:
    return (
        json.dumps(
            {
                "application_id": application_id,
                "timestamp": time.time_ns() // 1_000_000,
                "method": "GET",
                "endpoint": "/bench",
                "status_code": 200,
                "latency_ms": 1.0,
                "level": "INFO",
                "message": "startup benchmark",
            }
        ).encode()
        + b"\n"
    )


def _wait_row(url: str, application_id: str, deadline: float) -> None:
    query = sql.SQL("SELECT 1 FROM {} WHERE application_id = %s LIMIT 1").format(
        sql.Identifier(VIEW)
    )
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            try:
                if conn.execute(query, (application_id,)).fetchone():
                    return
            except psycopg.errors.UndefinedTable:
                pass  # the engine has not created its tables yet
            time.sleep(0.005)
    raise RuntimeError(f"no result row for {application_id} before the deadline")


def time_start(data_dir: Path, kind: str, timeout: float = 60.0) -> StartTiming:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    application_id = f"bench-{uuid.uuid4().hex[:12]}"
    launched = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamdash",
            "run",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--duration",
            str(int(timeout)),
        ],
        env={**bench_env(data_dir, None), "COLUMNS": "200"},  # keep the URL on one line
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    output = _Output(process)
    deadline = launched + timeout
    try:
        with httpx.Client(timeout=5) as http:
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    output.join()
                    raise RuntimeError(f"streamdash run did not start:\n{''.join(output.text)}")
                with contextlib.suppress(httpx.TransportError):
                    if http.get(f"{api}/healthz").status_code == 200:
                        break
                time.sleep(0.005)
            healthy = time.monotonic()
            response = http.post(
                f"{api}/v1/streams/{STREAM}/events", content=_event(application_id), headers=NDJSON
            )
            posted = time.monotonic()
            if response.status_code != 202:
                raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")
        if not output.found.wait(max(0.0, deadline - time.monotonic())) or output.url is None:
            raise RuntimeError(f"no database URL in the banner:\n{''.join(output.text)}")
        _wait_row(output.url, application_id, deadline)
        first_row = time.monotonic()
    finally:
        # SIGINT, like Ctrl-C: the orderly stop (engine checkpoint, database stop), which is
        # what makes the next start a warm one
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.join()
        if process.stdout is not None:
            process.stdout.close()
    return StartTiming(kind, healthy - launched, posted - launched, first_row - launched)


def run_startup_benchmark(rounds: int = 3, *, timeout: float = 60.0) -> StartupResult:
    """`rounds` x (cold start on a fresh data dir, then a warm restart on it): startup is a
    few seconds of mostly process and server launches, so one sample is at the mercy of the
    other tenants of a shared machine; the median of several is not."""
    cold: list[StartTiming] = []
    warm: list[StartTiming] = []
    for _ in range(rounds):
        with scratch_dir("startup") as data_dir:
            cold.append(time_start(data_dir, "cold", timeout))
            warm.append(time_start(data_dir, "warm", timeout))
    return StartupResult(cold, warm)
