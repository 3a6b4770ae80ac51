"""Which PostgreSQL a report reads: `STREAMDASH_DATABASE_URL`, or the embedded server of the
data dir — reused when `streamdash run`/`demo` has it running (and then left running),
otherwise started for the report and stopped after it. A report never creates a database:
a data dir without one is an error that says how to get one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from streamdash.config import ENV_DATABASE_URL, Settings
from streamdash.reports.engine import ReportError


@contextlib.contextmanager
def report_database(settings: Settings) -> Iterator[str]:
    """Yield the URL of the database to report on."""
    if settings.database_url:
        yield settings.database_url
        return
    from streamdash.store.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(settings.postgres_dir)
    if not (server.pgdata / "PG_VERSION").is_file():
        raise ReportError(
            f"no database to report on: {ENV_DATABASE_URL} is not set and the data dir "
            f"{settings.data_dir.resolve()} has no embedded database (`streamdash run` or "
            "`streamdash demo` create it; or pass --data-dir DIR of one that ran)"
        )
    server.start()
    try:
        yield server.url
    finally:
        if not server.reused:  # a running pipeline's server is not ours to stop
            server.stop()
