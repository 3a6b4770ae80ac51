"""`PostgresSink`: results, dead letters, counters, offsets and checkpoints in ONE transaction
per `CommitBatch` — the system of record that makes results exactly-once."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import NoReturn

import psycopg

from streamdash.errors import StoreUnavailable
from streamdash.results import CommitBatch, ViewSchema
from streamdash.store import progress
from streamdash.store.connection import connect, describe, first_line, is_transient
from streamdash.store.schema import (
    INTERNAL_DDL,
    SchemaMismatch,
    create_or_check,
    upgrade_internal_tables,
)
from streamdash.store.upsert import BatchRejected, mark_final, write_update

_DDL_LOCK = "streamdash_ddl"


class PostgresSink:
    """Writes engine output to PostgreSQL. Keeps one connection (not thread-safe: one engine
    loop owns a sink) and reconnects after a failure.

    Retry contract: `commit` raises `StoreUnavailable` (Retryable) when the database cannot
    be reached or the outcome is unknown; the caller then retries with the *same* batch
    object. A retry whose first attempt did commit (the acknowledgement was lost) is detected
    through a per-batch token stored in the same transaction, so counters and dead letters
    are never applied twice. Result rows are upserts and would be idempotent anyway.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._schemas: dict[str, ViewSchema] = {}
        self._last: tuple[str, weakref.ref[CommitBatch], uuid.UUID] | None = None

    def __enter__(self) -> PostgresSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def connect(self) -> None:
        """Open the connection now: `StoreUnavailable` while the database does not answer."""
        self._connection()

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.close()
            self._conn = connect(self.url)
        return self._conn

    def _fail(self, err: psycopg.Error, doing: str) -> NoReturn:
        if is_transient(err):
            self.close()
            raise StoreUnavailable(
                f"{describe(self.url)} failed while {doing} (retry later): {first_line(err)}"
            ) from err
        raise BatchRejected(f"{describe(self.url)} refused {doing}: {first_line(err)}") from err

    def open(self, schemas: list[ViewSchema]) -> None:
        """Create the internal tables and one result table per view (if missing); raise
        `SchemaMismatch` if a view's table exists with other columns."""
        tables: dict[str, str] = {}
        for schema in schemas:
            if tables.setdefault(schema.table, schema.view) != schema.view:
                raise SchemaMismatch(
                    f"views {tables[schema.table]!r} and {schema.view!r} both write table "
                    f"{schema.table!r}; expected one table per view"
                )
        conn = self._connection()
        try:
            with conn.transaction():
                # Serialise DDL: two workers creating the same table at once would collide.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_DDL_LOCK,))
                conn.execute(INTERNAL_DDL)
                upgrade_internal_tables(conn)
                for schema in schemas:
                    create_or_check(conn, schema)
        except psycopg.Error as err:
            self._fail(err, "creating the result tables")
        self._schemas = {schema.view: schema for schema in schemas}

    def _token(self, consumer: str, batch: CommitBatch) -> uuid.UUID:
        """The same token for a retry of the same batch object, a new one otherwise."""
        if self._last is not None:
            last_consumer, last_batch, token = self._last
            if last_consumer == consumer and last_batch() is batch:
                return token
        token = uuid.uuid4()
        self._last = (consumer, weakref.ref(batch), token)
        return token

    def commit(
        self,
        consumer: str,
        batch: CommitBatch,
        also: Callable[[progress.Cursor], None] | None = None,
    ) -> None:
        """Write `batch` atomically: all of it, or (on any error) none of it. `also` runs in
        the same transaction after the batch is written (and before the commit): the Kafka
        workers fence stale owners and merge partitions' partial states there."""
        unknown = sorted({u.view for u in batch.updates} - self._schemas.keys())
        unknown += sorted(batch.final_until.keys() - self._schemas.keys())
        if unknown:
            raise BatchRejected(
                f"updates for views {unknown} that were not opened; expected one of "
                f"{sorted(self._schemas)} (call open() with every view's schema first)"
            )
        token = batch.token or self._token(consumer, batch)
        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                if progress.already_committed(cur, consumer, token):
                    return
                for update in batch.updates:
                    write_update(cur, self._schemas[update.view], update)
                for view, watermark in batch.final_until.items():
                    mark_final(cur, self._schemas[view], watermark)
                progress.write_dead_letters(cur, batch.dead_letters)
                progress.add_counters(cur, batch.counters)
                progress.save_offsets(cur, consumer, batch.offsets, batch.watermarks)
                if batch.checkpoint is not None:
                    progress.save_checkpoint(cur, consumer, batch.checkpoint)
                if also is not None:
                    also(cur)
                progress.record_commit(cur, consumer, token)
        except psycopg.Error as err:
            self._fail(err, f"a batch of consumer {consumer!r}")

    def _read_offsets(self, consumer: str) -> tuple[dict[str, int], dict[str, int]]:
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                return progress.load_offsets(cur, consumer)
        except psycopg.errors.UndefinedTable:
            return {}, {}  # never opened: nothing committed yet
        except psycopg.Error as err:
            self._fail(err, "reading offsets")

    def load_offsets(self, consumer: str) -> dict[str, int]:
        """stream -> next log offset to read, as last committed by `consumer`."""
        return self._read_offsets(consumer)[0]

    def load_watermarks(self, consumer: str) -> dict[str, int]:
        """stream -> watermark (epoch us), as last committed by `consumer`."""
        return self._read_offsets(consumer)[1]

    def load_checkpoint(self, consumer: str) -> tuple[dict[str, int], bytes] | None:
        """(offsets the state is valid at, engine state) of the last checkpoint, or None."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                return progress.load_checkpoint(cur, consumer)
        except psycopg.errors.UndefinedTable:
            return None
        except psycopg.Error as err:
            self._fail(err, "reading the checkpoint")
