"""Shared fixtures for the whole test suite.

PostgreSQL (real, never mocked):

- `pg_url` (session): URL of a PostgreSQL server database for the whole test session. By
  default ONE embedded server (`streamdash.store.EmbeddedPostgres`) is started in a fresh
  temporary directory (outside any home directory) and stopped at the end; each pytest-xdist
  worker gets its own. Set `STREAMDASH_TEST_DATABASE_URL` to use an existing server instead
  (it must allow CREATE DATABASE if you use `pg_db`).
- `pg_db` (function): URL of a fresh, empty database `test_<hex>` on that server, dropped
  after the test (connections left open are terminated). Use this in tests: they stay
  isolated and may create any table. Costs ~0.1 s per test.
- `scratch_database` (session): the same as a context manager, for fixtures of a wider
  scope (`with scratch_database(pg_url, "test_x_") as url: ...`).

Kafka (real, never mocked): `kafka_broker` (function) is a fresh tansu broker on a free
loopback port (`streamdash.testing.tansu.TansuBroker`, memory storage); use
`kafka_broker.bootstrap` as `bootstrap.servers`.

Example::

    def test_something(pg_db: str) -> None:
        with psycopg.connect(pg_db) as conn:
            ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from streamdash.store.embedded import EmbeddedPostgres
from streamdash.testing.tansu import TansuBroker

TEST_DATABASE_URL_ENV = "STREAMDASH_TEST_DATABASE_URL"


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database (URLs stay URLs; key=value strings stay so)."""
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        return urlunsplit(parts._replace(path=f"/{database}"))
    return make_conninfo(url, dbname=database)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    external = os.environ.get(TEST_DATABASE_URL_ENV)
    if external:
        yield external
        return
    base = Path(tempfile.mkdtemp(prefix="streamdash-test-pg-"))
    # mkdtemp makes the directory 0700; as root the server runs as another user that
    # must be able to enter it (this is our own directory, so opening it is fine).
    base.chmod(0o755)
    server = EmbeddedPostgres(base / "pgdata")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _scratch_database(pg_url: str, prefix: str = "test_") -> Iterator[str]:
    name = f"{prefix}{uuid.uuid4().hex}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(pg_url, name)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[str]:
    with _scratch_database(pg_url) as url:
        yield url


@pytest.fixture(scope="session")
def scratch_database() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """`with scratch_database(pg_url, prefix) as url:` a fresh database, dropped at the end
    of the block: for module- or session-scoped fixtures, where `pg_db` cannot serve."""
    return _scratch_database


@pytest.fixture
def kafka_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(log=tmp_path / "tansu.log") as broker:
        yield broker
