"""Engine state as bytes: event clocks in a msgspec header, every state table and every
reference table as Arrow IPC. Taken at a batch boundary, restoring it and replaying the log
from the offsets committed with it gives exactly the results of an uninterrupted run.

Reference tables are part of the state because the results a replay must reproduce were
computed with the table version loaded at the time: a restart that reloads the table from
its source (which may have changed) would otherwise join replayed events to other rows.
"""

from __future__ import annotations

import hashlib

import duckdb
import msgspec
import pyarrow as pa

from streamdash.engine.compile import table_name
from streamdash.engine.state import ViewState
from streamdash.engine.watermark import StreamClock
from streamdash.errors import Fatal
from streamdash.spec.models import Pipeline

FORMAT = 1


class SnapshotMismatch(Fatal):
    """A snapshot was taken with another pipeline spec or engine format."""


class _Clock(msgspec.Struct, array_like=True):
    max_us: int
    anchor_us: int
    last_event_wall_us: int | None


class _View(msgspec.Struct):
    tables: dict[str, bytes]


class _Snapshot(msgspec.Struct):
    format: int
    pipeline: str
    duckdb: str
    clocks: dict[str, _Clock]
    views: dict[str, _View]
    tables: dict[str, bytes] = {}
    """Reference table name -> its rows; empty in snapshots from before tables were kept,
    which then leave the tables loaded at start in place."""


def fingerprint(pipeline: Pipeline) -> str:
    return hashlib.sha256(pipeline.model_dump_json(by_alias=True).encode()).hexdigest()[:16]


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> bytes:
    return _ipc(con.sql(f"SELECT * FROM {table}").to_arrow_table())


def write_snapshot(
    con: duckdb.DuckDBPyConnection,
    pipeline: Pipeline,
    clocks: dict[str, StreamClock],
    states: dict[str, ViewState],
) -> bytes:
    views = {
        name: _View({t: _rows(con, t) for t in state.tables()}) for name, state in states.items()
    }
    tables = {name: _rows(con, table_name(name)) for name in pipeline.tables}
    snap = _Snapshot(
        FORMAT,
        fingerprint(pipeline),
        duckdb.__version__,
        {s: _Clock(c.max_us, c.anchor_us, c.last_event_wall_us) for s, c in clocks.items()},
        views,
        tables,
    )
    return msgspec.msgpack.encode(snap)


def read_snapshot(
    con: duckdb.DuckDBPyConnection,
    pipeline: Pipeline,
    states: dict[str, ViewState],
    data: bytes,
) -> dict[str, StreamClock]:
    """Replace all state with the snapshot's; return the restored clocks."""
    snap = msgspec.msgpack.decode(data, type=_Snapshot)
    if snap.format != FORMAT or snap.pipeline != fingerprint(pipeline):
        raise SnapshotMismatch(
            "the checkpoint was written for a different pipeline spec or engine version; "
            "rebuild it by replaying the log from the start"
        )
    for name, blob in snap.tables.items():
        if name in pipeline.tables:
            _create(con, table_name(name), blob, replace=True)
    for name, state in states.items():
        for table in state.tables():
            con.execute(f"DROP TABLE {table}")
        state.created.clear()
        saved = snap.views.get(name, _View({}))
        for table, blob in saved.tables.items():
            _create(con, table, blob)
            state.created.add(table)
    clocks = {s: StreamClock() for s in pipeline.streams}
    clocks.update(
        {
            s: StreamClock(c.max_us, c.anchor_us, c.last_event_wall_us)
            for s, c in snap.clocks.items()
        }
    )
    return clocks


def _create(con: duckdb.DuckDBPyConnection, table: str, blob: bytes, replace: bool = False) -> None:
    con.register("_restored", pa.ipc.open_stream(blob).read_all())
    try:
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        con.execute(f"{verb} {table} AS SELECT * FROM _restored")
    finally:
        con.unregister("_restored")
