"""An S3-compatible object store on loopback (moto's standalone server, from the pip extra
`moto[server]`), so that a tansu broker can keep its topics in `s3://` storage across
restarts — the broker-restart tests need a broker that loses nothing when it stops.

Objects live in the server's memory: they survive restarts of the broker, not of the
server. `tansu_env()` is the environment tansu's object store reads (endpoint, keys).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    def __init__(self, bucket: str = "tansu", log: Path | None = None) -> None:
        self.bucket = bucket
        self.port = _free_port()
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_url(self) -> str:
        return f"s3://{self.bucket}/"

    def tansu_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "streamdash-test",
            "AWS_SECRET_ACCESS_KEY": "streamdash-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self, timeout_s: float = 30.0) -> None:
        binary = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        if binary is None:
            raise RuntimeError("moto_server is missing: pip install 'streamdash[dev]'")
        with (self.log or Path("/dev/null")).open("ab") as out:  # the child keeps its copy
            self._proc = subprocess.Popen(
                [binary, "-H", "127.0.0.1", "-p", str(self.port)], stdout=out, stderr=out
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.put(f"{self.endpoint}/{self.bucket}", timeout=1.0).status_code < 300:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the S3 server did not start on {self.endpoint}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
