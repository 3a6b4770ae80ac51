"""The embedded PostgreSQL server: start, stop, restart, reuse, crash recovery, root rule."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from streamdash.store.embedded import EmbeddedPostgres
from streamdash.store.pgdata import choose_pgdata, is_root


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory the service account can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="streamdash-embedded-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(base: Path) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(base / "pgdata")
    yield pg
    EmbeddedPostgres(base / "pgdata").stop()  # whatever state a test left it in


def _query(url: str, query: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return row[0]


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} still alive after {timeout} s")


def test_start_creates_database_stop_and_fast_restart(server: EmbeddedPostgres) -> None:
    server.start()
    assert server.url.startswith("postgresql://postgres@127.0.0.1:")
    assert server.url.endswith("/streamdash")
    assert _query(server.url, "SELECT current_database()") == "streamdash"
    assert not server.reused
    url = server.url
    server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)

    started = time.perf_counter()
    server.start()
    elapsed = time.perf_counter() - started
    assert _query(server.url, "SELECT 1") == 1
    assert elapsed < 1.5, f"restart of an initialised server took {elapsed:.2f} s"


def test_second_instance_reuses_the_running_server(server: EmbeddedPostgres, base: Path) -> None:
    server.start()
    pid = server.pid
    other = EmbeddedPostgres(base / "pgdata")
    started = time.perf_counter()
    other.start()
    assert other.reused and other.url == server.url and other.pid == pid
    assert time.perf_counter() - started < 0.5
    assert _query(other.url, "SELECT 1") == 1


def test_context_manager_stops_the_server(base: Path) -> None:
    with EmbeddedPostgres(base / "pgdata") as pg:
        pid = pg.pid
        assert pid is not None
    _wait_gone(pid)
    assert not (base / "pgdata" / "postmaster.pid").exists()


def test_restart_after_kill_9_of_the_postmaster(server: EmbeddedPostgres, base: Path) -> None:
    server.start()
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    assert (server.pgdata / "postmaster.pid").exists()  # stale

    again = EmbeddedPostgres(base / "pgdata")
    again.start()
    assert not again.reused and again.pid != pid
    assert _query(again.url, "SELECT v FROM kept") == 42


def test_stale_pid_file_of_another_live_process_does_not_block(
    server: EmbeddedPostgres, base: Path
) -> None:
    server.start()
    server.stop()
    # After a crash and a reboot the pid may belong to an unrelated process (here: us).
    stale = f"{os.getpid()}\n{server.pgdata}\n0\n5432\n\n127.0.0.1\n0 0\nready\n"
    (server.pgdata / "postmaster.pid").write_text(stale)
    server.start()
    assert server.pid != os.getpid()
    assert _query(server.url, "SELECT 1") == 1


def test_non_empty_foreign_directory_is_refused(base: Path) -> None:
    target = base / "notpg"
    target.mkdir()
    (target / "something.txt").write_text("mine")
    with pytest.raises(Exception, match="not a PostgreSQL data directory"):
        EmbeddedPostgres(target, pgdata=target).start()
    assert (target / "something.txt").read_text() == "mine"


@pytest.mark.skipif(not is_root(), reason="the home-directory rule applies to root only")
def test_root_keeps_home_directories_untouched(
    base: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = base / "home"
    home.mkdir()
    home.chmod(0o700)
    requested = home / "project" / ".streamdash" / "postgres"
    system_dir = base / "system"
    with caplog.at_level(logging.WARNING):
        pgdata = choose_pgdata(requested, as_root=True, home_roots=(home,), system_dir=system_dir)
    with EmbeddedPostgres(requested, pgdata=pgdata) as pg:
        assert _query(pg.url, "SELECT 1") == 1
        assert pg.pgdata.parent == system_dir
    assert home.stat().st_mode & 0o777 == 0o700
    assert not requested.exists()
    assert str(system_dir) in caplog.text


@pytest.mark.skipif(not is_root(), reason="the home-directory rule applies to root only")
def test_root_with_a_data_dir_in_the_real_home(caplog: pytest.LogCaptureFixture) -> None:
    home = Path.home()
    mode_before = home.stat().st_mode
    requested = home / f".streamdash-test-{uuid.uuid4().hex}" / "postgres"
    with caplog.at_level(logging.WARNING):
        pg = EmbeddedPostgres(requested)
    try:
        assert not pg.pgdata.is_relative_to(home)
        pg.start()
        assert _query(pg.url, "SELECT 1") == 1
    finally:
        pg.stop()
        shutil.rmtree(pg.pgdata, ignore_errors=True)
        (pg.pgdata.parent / f".{pg.pgdata.name}.lock").unlink(missing_ok=True)
    assert home.stat().st_mode == mode_before
    assert not requested.parent.exists()
    assert str(pg.pgdata) in caplog.text


def test_reserved_port_is_the_one_the_server_starts_on(server: EmbeddedPostgres) -> None:
    url = server.reserve_port()  # before initdb: nothing exists yet
    assert not (server.pgdata / "PG_VERSION").exists()
    server.start()
    assert server.url == url
    assert _query(url, "SELECT current_database()") == "streamdash"


def test_reserving_while_a_server_runs_gives_its_port(server: EmbeddedPostgres, base: Path) -> None:
    server.start()
    other = EmbeddedPostgres(base / "pgdata")
    assert other.reserve_port() == server.url
    other.start()
    assert other.reused and other.url == server.url


def test_a_reserved_port_taken_meanwhile_moves_the_server(server: EmbeddedPostgres) -> None:
    planned = server.reserve_port()
    assert server.port is not None
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen()
        server.start()
    assert server.url != planned
    assert _query(server.url, "SELECT 1") == 1
