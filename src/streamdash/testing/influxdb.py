"""A real InfluxDB 1.x server on loopback (Debian's `influxd`), for tests and benchmarks
of the InfluxDB sink: `with InfluxServer(tmp_dir) as server: server.url`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
[monitor]
  store-enabled = false
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def influxd_binary() -> str | None:
    return shutil.which("influxd")


class InfluxServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self._rpc = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        binary = influxd_binary()
        if binary is None:
            raise RuntimeError("influxd is not installed (Debian package influxdb)")
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "influxdb.conf"
        config.write_text(_CONFIG.format(root=self.root, rpc=self._rpc, http=self.port))
        with (self.root / "influxd.log").open("ab") as out:
            self._proc = subprocess.Popen(
                [binary, "run", "-config", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"influxd exited with {self._proc.returncode}; see {out.name}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"influxd did not answer on {self.url} within {timeout_s} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def query(self, database: str, statement: str) -> list[dict[str, Any]]:
        """The series of an InfluxQL query: [{"name", "columns", "values", "tags"?}, ...]."""
        answer = httpx.get(
            f"{self.url}/query", params={"db": database, "q": statement, "epoch": "ns"}
        ).json()
        out: list[dict[str, Any]] = []
        for result in answer["results"]:
            if "error" in result:
                raise RuntimeError(result["error"])
            out += result.get("series", [])
        return out

    def rows(self, database: str, statement: str) -> list[dict[str, Any]]:
        """A query's rows as dicts (column -> value), over all series."""
        return [
            dict(zip(series["columns"], values, strict=True)) | series.get("tags", {})
            for series in self.query(database, statement)
            for values in series["values"]
        ]

    def __enter__(self) -> InfluxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
