"""The result store: PostgreSQL (embedded or external) as the system of record.

- `EmbeddedPostgres`: a local server for a data directory (start/stop/reuse).
- `PostgresSink`: writes each `CommitBatch` (results + offsets + ...) in one transaction.
- `ResultReader`: JSON-ready queries for the API and the dashboard.

The names load on first use (`streamdash.lazy_exports`): the readers (API, dashboard,
alerts) use `reader`/`connection` only and need not import pyarrow for the sink.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamdash.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from streamdash.store.embedded import EmbeddedPostgres, EmbeddedPostgresError
    from streamdash.store.postgres import PostgresSink
    from streamdash.store.reader import InvalidQueryError, ResultReader
    from streamdash.store.schema import SchemaMismatch
    from streamdash.store.upsert import BatchRejected

__all__ = [
    "BatchRejected",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "InvalidQueryError",
    "PostgresSink",
    "ResultReader",
    "SchemaMismatch",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "BatchRejected": "upsert",
        "EmbeddedPostgres": "embedded",
        "EmbeddedPostgresError": "embedded",
        "InvalidQueryError": "reader",
        "PostgresSink": "postgres",
        "ResultReader": "reader",
        "SchemaMismatch": "schema",
    },
)
