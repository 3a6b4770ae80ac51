"""Counting the database statements of one client, from PostgreSQL's side.

The dashboard connects as a role of its own (`VIEWER_ROLE`, read-only); pg_stat_statements
counts every statement per role, so the dashboard's queries per second are read from the
server, not from the dashboard's own bookkeeping — and the engine's commits, the
benchmark's probes and pollers (all as the superuser) are not mixed in.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from streamdash.store.embedded import SUPERUSER, EmbeddedPostgres

VIEWER_ROLE = "streamdash_viewer"


def enable_statement_counting(server: EmbeddedPostgres) -> None:
    """Load pg_stat_statements (a server restart: it must be preloaded) and create the
    viewer role. Meant for a benchmark's own fresh server, before anything connects."""
    with psycopg.connect(server.url_for(SUPERUSER), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    server.stop()
    server.start()
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        role = sql.Identifier(VIEWER_ROLE)
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        conn.execute(sql.SQL("GRANT pg_read_all_data TO {}").format(role))


def viewer_url(database_url: str) -> str:
    """The same server and database, as the viewer role (trust authentication here)."""
    return make_conninfo(database_url, user=VIEWER_ROLE)


def statements_of(database_url: str, role: str = VIEWER_ROLE) -> int:
    """Statements `role` has run so far (every call of every statement, all databases)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
            "JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = %s",
            (role,),
        ).fetchone()
    return int(row[0]) if row else 0
