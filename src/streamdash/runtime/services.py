"""Starting and stopping the pieces of a local deployment: the database, the ingest API and
the engine, each engine/API in its own process (two cores: one each), supervised here."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from streamdash.config import ENV_DATABASE_URL, Settings
from streamdash.errors import Fatal
from streamdash.runtime.readiness import ReadyPipe

if TYPE_CHECKING:
    from streamdash.store.embedded import EmbeddedPostgres


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


class LocalDatabase:
    """The database of a local deployment: the external one, or an embedded server in the
    data dir whose URL is known before it starts, so the processes that use it can be
    started in parallel with initdb and the server start (they retry until it answers)."""

    def __init__(self, settings: Settings) -> None:
        self._server: EmbeddedPostgres | None = None
        if settings.database_url:
            self.url = settings.database_url
            return
        from streamdash.store.embedded import EmbeddedPostgres

        self._server = EmbeddedPostgres(settings.postgres_dir)
        self.url = self._server.reserve_port()

    def start(self) -> bool:
        """Start the embedded server (no-op for an external database); True if it had to
        take another port than the reserved one, i.e. `url` changed."""
        if self._server is None:
            return False
        planned = self.url
        self._server.start()
        self.url = self._server.url
        return self.url != planned

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


@dataclass
class Supervisor:
    """Child processes of `streamdash run/demo`; stops them all, politely first."""

    log_dir: Path
    program: tuple[str, ...] = (sys.executable, "-m", "streamdash")
    """What each child runs, its arguments appended."""
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    ready: dict[str, ReadyPipe] = field(default_factory=dict)
    """Children that say when they are ready (`readiness.notify_ready`)."""
    stopped_last: set[str] = field(default_factory=set)
    """Children stopped only once all others have exited: the engines, so that they can
    process what the API acknowledged until it stopped."""

    def spawn(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        *,
        notifies: bool = False,
        stop_last: bool = False,
    ) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        pipe = ReadyPipe() if notifies else None
        with (self.log_dir / f"{name}.log").open("ab") as out:
            self.children[name] = subprocess.Popen(
                [*self.program, *args],
                env=pipe.child_env(env) if pipe else env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(pipe.child_fd,) if pipe else (),
            )
        self.commands[name] = args
        if stop_last:
            self.stopped_last.add(name)
        if pipe is not None:
            pipe.started()
            self._forget_pipe(name)
            self.ready[name] = pipe

    def wait_ready(self, name: str, timeout: float, stop: threading.Event | None = None) -> bool:
        """True once `name` said it is ready (see `spawn(notifies=True)`)."""
        return self.ready[name].wait(timeout, stop)

    def respawn(self, names: list[str], env: dict[str, str]) -> None:
        """Stop `names` (orderly: SIGTERM) and start them again with `env`."""
        _stop([self.children.pop(name) for name in names])
        for name in names:
            notifies, stop_last = name in self.ready, name in self.stopped_last
            self.spawn(name, self.commands[name], env, notifies=notifies, stop_last=stop_last)

    def dead(self) -> list[str]:
        return [name for name, proc in self.children.items() if proc.poll() is not None]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every child, the ones spawned with `stop_last` after the others exited;
        `timeout` per group, then SIGKILL."""
        for last in (False, True):
            group = [p for n, p in self.children.items() if (n in self.stopped_last) == last]
            _stop(group, timeout)
        for name in list(self.ready):
            self._forget_pipe(name)

    def _forget_pipe(self, name: str) -> None:
        pipe = self.ready.pop(name, None)
        if pipe is not None:
            pipe.close()


def _stop(procs: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
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
    # 20 ms: the API is usually up within a second and every poll is a refused connect
    # or one tiny request; 100 ms cost up to 0.1 s of start time for nothing
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    return False
