"""Opening PostgreSQL connections, and sorting database errors into retryable vs fatal."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from streamdash.errors import StoreUnavailable

CONNECT_TIMEOUT_S = 5


def describe(url: str) -> str:
    """Where `url` points, without credentials (safe for logs and error messages)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "PostgreSQL (unparsable connection string)"
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"PostgreSQL {host}:{port}/{params.get('dbname') or '?'}"


def connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection (transactions are explicit); StoreUnavailable if unreachable."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as err:
        raise StoreUnavailable(f"cannot connect to {describe(url)}: {first_line(err)}") from err


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def is_transient(err: psycopg.Error) -> bool:
    """Lost connections, server restarts, deadlocks, serialization failures: a retry of the
    whole transaction may succeed. Everything else is about the data or the SQL."""
    return isinstance(err, psycopg.OperationalError | psycopg.InterfaceError)
