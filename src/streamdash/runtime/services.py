"""Starting and stopping the pieces of a local deployment: the database, the ingest API and
the engine, each engine/API in its own process (two cores: one each), supervised here."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from streamdash.config import ENV_DATABASE_URL, Settings
from streamdash.errors import Fatal


class NoDatabase(Fatal):
    """No external database is configured and the data dir has no embedded one."""


@contextlib.contextmanager
def database(settings: Settings, *, create: bool = True, stop_reused: bool = True) -> Iterator[str]:
    """Yield a database URL: the external one, or an embedded server in the data dir.

    `create=False`: a data dir without a database is an error (NoDatabase), for commands
    that only read results. `stop_reused=False`: a server that was already running (a
    `streamdash run` has it) is left running; one started here is always stopped."""
    if settings.database_url:
        yield settings.database_url
        return
    from streamdash.store.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(settings.postgres_dir)
    if not create and not (server.pgdata / "PG_VERSION").is_file():
        raise NoDatabase(
            f"no database: {ENV_DATABASE_URL} is not set and the data dir "
            f"{settings.data_dir.resolve()} has no embedded database (`streamdash run` or "
            "`streamdash demo` create it; or pass --data-dir DIR of one that ran)"
        )
    server.start()
    try:
        yield server.url
    finally:
        if stop_reused or not server.reused:
            server.stop()


@dataclass
class Supervisor:
    """Child processes of `streamdash run/demo`; stops them all, politely first."""

    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        out = (log_dir / f"{name}.log").open("ab")
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "streamdash", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def dead(self) -> list[str]:
        return [name for name, proc in self.children.items() if proc.poll() is not None]

    def stop(self, timeout: float = 10.0) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def child_env(settings: Settings, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env[ENV_DATABASE_URL] = database_url
    env["STREAMDASH_DATA_DIR"] = str(settings.data_dir.resolve())
    return env


def wait_healthy(url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
