"""The result store: PostgreSQL (embedded or external) as the system of record.

- `EmbeddedPostgres`: a local server for a data directory (start/stop/reuse).
- `PostgresSink`: writes each `CommitBatch` (results + offsets + ...) in one transaction.
- `ResultReader`: JSON-ready queries for the API and the dashboard.
"""

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
