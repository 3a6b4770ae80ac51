"""Real streamdash processes for the end-to-end benchmarks: `streamdash serve` (uvicorn) and
`streamdash engine` as subprocesses, an embedded PostgreSQL, and the paced poster."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from streamdash.config import ENV_DATA_DIR, ENV_DATABASE_URL
from streamdash.store.embedded import EmbeddedPostgres

NDJSON = {"content-type": "application/x-ndjson"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """The children's environment: only what we pass, never a developer's STREAMDASH_* vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDASH_")}
    env[ENV_DATA_DIR] = str(data_dir)
    if database_url:
        env[ENV_DATABASE_URL] = database_url
    return env


def spawn(
    args: list[str], env: dict[str, str], log_path: Path, module: str = "streamdash"
) -> subprocess.Popen[bytes]:
    """`python -m module args...` in a session of its own, output to `log_path`."""
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C on the benchmark must not skip our cleanup
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no output)"


def wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = 30.0,
    path: str = "/healthz",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args!r} exited with {process.returncode}:\n{tail(log_path)}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}{path}", timeout=1.0).status_code == 200:
                return
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer {path} within {timeout:.0f} s:\n{tail(log_path)}")


def start_api(data_dir: Path, database_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log_path = data_dir / "api.log"
    process = spawn(
        ["serve", "--data-dir", str(data_dir), "--port", str(port)],
        bench_env(data_dir, database_url),
        log_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log_path)
    except BaseException:
        stop(process)
        raise
    return process, url


def wait_engine_ready(
    database_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30.0
) -> None:
    """The engine has created its tables (it does that in `start()`, before consuming)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the engine exited with {process.returncode}:\n{tail(log_path)}"
                )
            row = conn.execute("SELECT to_regclass('streamdash_offsets') IS NOT NULL").fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    raise RuntimeError(
        f"the engine did not create its tables in {timeout:.0f} s:\n{tail(log_path)}"
    )


@dataclass(frozen=True)
class Pipeline:
    """A running `serve` + `engine` pair on one data dir, writing to `database_url`."""

    data_dir: Path
    api_url: str
    database_url: str
    api: subprocess.Popen[bytes]
    engine: subprocess.Popen[bytes]


@contextlib.contextmanager
def running_pipeline(
    data_dir: Path, prepare: Callable[[EmbeddedPostgres], None] | None = None
) -> Iterator[Pipeline]:
    """What `streamdash run` starts, but with each piece started here so the benchmark knows
    their process ids and the database URL without parsing a banner. `prepare` runs on the
    started server before anything else connects (it may restart it)."""
    server = EmbeddedPostgres(data_dir / "postgres")
    server.start()
    try:
        if prepare is not None:
            prepare(server)
        api, api_url = start_api(data_dir, server.url)
        try:
            engine_log = data_dir / "engine.log"
            engine = spawn(
                ["engine", "--data-dir", str(data_dir)], bench_env(data_dir, server.url), engine_log
            )
            try:
                wait_engine_ready(server.url, engine, engine_log)
                yield Pipeline(data_dir, api_url, server.url, api, engine)
            finally:
                stop(engine)
        finally:
            stop(api)
    finally:
        server.stop()
