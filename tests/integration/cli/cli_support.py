"""Helpers of the CLI integration tests: real `streamdash` subprocesses on free ports.
(A uniquely named module, not conftest: test modules import from it.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from streamdash.testing.waiting import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(**values: str) -> dict[str, str]:
    """The test's environment without any STREAMDASH_* setting of the caller, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDASH_")}
    env.update(values)
    return env


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m streamdash ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "streamdash", *args],
        capture_output=True,
        text=True,
        env=cli_env() if env is None else env,
        timeout=timeout,
        check=False,
    )


class Process:
    """A long-running `streamdash` subprocess (serve, engine, run), output in a log file,
    stopped with SIGTERM (the way `run` stops its children) and killed if it hangs."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamdash", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        """True while running; raises with its output once it has exited (fail fast)."""
        if self.proc.poll() is not None:
            raise AssertionError(
                f"`streamdash {' '.join(self.args)}` exited with {self.proc.returncode}:\n"
                + self.output()
            )
        return True

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(data_dir: Path, port: int, env: dict[str, str], spec: Path | None = None) -> Process:
    """`streamdash serve` on `port`, returned once /healthz answers 200."""
    args = ["serve", *([str(spec)] if spec else []), "--data-dir", str(data_dir)]
    process = Process(
        [*args, "--port", str(port)], env, data_dir.parent / f"serve-{port}-{time.time_ns()}.log"
    )

    def healthy() -> bool:
        if process.proc.poll() is not None:
            raise AssertionError(
                f"serve exited with {process.proc.returncode}:\n{process.output()}"
            )
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 60, "the API to answer /healthz")
    except BaseException:
        process.stop()
        raise
    return process


def engine(data_dir: Path, env: dict[str, str], spec: Path | None = None) -> Process:
    args = ["engine", *([str(spec)] if spec else []), "--data-dir", str(data_dir)]
    return Process(args, env, data_dir.parent / f"engine-{time.time_ns()}.log")
