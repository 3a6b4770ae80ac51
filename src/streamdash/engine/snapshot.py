"""Engine state as bytes: event clocks in a msgspec header, every state table and every
reference table as Arrow IPC. Taken at a batch boundary, restoring it and replaying the log
from the offsets committed with it gives exactly the results of an uninterrupted run.

Reference tables are part of the state because the results a replay must reproduce were
computed with the table version loaded at the time: a restart that reloads the table from
its source (which may have changed) would otherwise join replayed events to other rows.

A snapshot also records a fingerprint of each part of the spec it was taken under, so that a
restart after the spec was edited keeps what is still valid, like a Flink savepoint: the
clock of a stream whose time, lateness, schema, derived fields and joins are unchanged, and
the state of a view whose definition and stream are unchanged. Everything else starts
empty (see `Restored`); docs/semantics.md says what that means for the results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

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
    """State table name (`_v<index>_<role>`) -> rows. The index is the view's position in
    the spec, so it moves when views are added or removed: restore goes by the role."""


class _Parts(msgspec.Struct):
    """Fingerprints of the parts of the spec a snapshot's state depends on."""

    streams: dict[str, str]
    views: dict[str, str]
    tables: dict[str, str]


class _Snapshot(msgspec.Struct):
    format: int
    pipeline: str
    duckdb: str
    clocks: dict[str, _Clock]
    views: dict[str, _View]
    tables: dict[str, bytes] = {}
    """Reference table name -> its rows; empty in snapshots from before tables were kept,
    which then leave the tables loaded at start in place."""
    parts: _Parts | None = None
    """None in snapshots from before per-part fingerprints: under an edited spec nothing of
    such a snapshot can be shown to be still valid, so all of it starts empty."""


@dataclass(frozen=True)
class Restored:
    """What `read_snapshot` put back, and what it could not because the spec changed."""

    clocks: dict[str, StreamClock]
    fresh_views: frozenset[str] = frozenset()
    """Views new or changed since the snapshot: they start with empty state."""
    dropped_views: tuple[str, ...] = ()
    """Views of the snapshot that are no longer in the spec: their state was dropped."""
    reset_streams: tuple[str, ...] = ()
    """Streams whose clock restarts from the next event (changed since the snapshot)."""
    kept_tables: tuple[str, ...] = ()
    """Reference tables whose key or schema changed: the rows loaded at start stay."""

    def changes(self) -> str:
        """The changes in words ("" for none), for the warning the caller logs."""
        parts = []
        if self.fresh_views:
            parts.append(
                f"views {sorted(self.fresh_views)} are new or changed and start empty, "
                f"counting events from the checkpoint's offsets on"
            )
        if self.dropped_views:
            parts.append(f"the state of removed views {list(self.dropped_views)} was dropped")
        if self.reset_streams:
            parts.append(
                f"the event clock of streams {list(self.reset_streams)} restarts from the next "
                f"event"
            )
        if self.kept_tables:
            parts.append(
                f"reference tables {list(self.kept_tables)} changed shape: the rows loaded at "
                f"start are used for the replay"
            )
        return "; ".join(parts)


def fingerprint(pipeline: Pipeline) -> str:
    return hashlib.sha256(pipeline.model_dump_json(by_alias=True).encode()).hexdigest()[:16]


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _table_print(pipeline: Pipeline, name: str) -> str:
    # the rows' shape; the source and refresh period do not change what a row means
    return _digest(pipeline.tables[name].model_dump_json(include={"key", "schema_"}))


def part_fingerprints(pipeline: Pipeline) -> _Parts:
    """A fingerprint per stream of everything that decides its event times, its clock and
    the columns its views read (time field and unit, lateness, schema, derived fields,
    joins and the joined tables' shape); per view of its definition and its stream's
    fingerprint; per reference table of its key and schema. Descriptions, idle timeouts
    and dashboards are left out: they change no state."""
    tables = {name: _table_print(pipeline, name) for name in pipeline.tables}
    streams = {
        name: _digest(
            spec.model_dump_json(
                by_alias=True, include={"time", "lateness", "schema_", "derived", "joins"}
            ),
            *(tables.get(j.table, "") for j in spec.joins),
        )
        for name, spec in pipeline.streams.items()
    }
    views = {
        name: _digest(
            streams.get(view.from_, ""),
            view.model_dump_json(by_alias=True, exclude={"description"}),
        )
        for name, view in pipeline.views.items()
    }
    return _Parts(streams, views, tables)


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
        part_fingerprints(pipeline),
    )
    return msgspec.msgpack.encode(snap)


def read_snapshot(
    con: duckdb.DuckDBPyConnection,
    pipeline: Pipeline,
    states: dict[str, ViewState],
    data: bytes,
) -> Restored:
    """Replace all state with the snapshot's, as far as it is valid under `pipeline`."""
    snap = msgspec.msgpack.decode(data, type=_Snapshot)
    if snap.format != FORMAT:
        raise SnapshotMismatch(
            f"the checkpoint was written by another engine version (snapshot format "
            f"{snap.format}, expected {FORMAT}); rebuild it by replaying the log from the start"
        )
    kept = _Kept(snap, pipeline)
    restored_tables = [n for n in snap.tables if n in pipeline.tables and kept.table(n)]
    for name in restored_tables:
        _create(con, table_name(name), snap.tables[name], replace=True)
    fresh: set[str] = set()
    for name, state in states.items():
        for table in state.tables():
            con.execute(f"DROP TABLE {table}")
        state.created.clear()
        if not kept.view(name):
            fresh.add(name)
            continue
        roles = {"state": state.state, "q": state.q, "h": state.h}
        saved = snap.views.get(name, _View({}))
        for table, blob in saved.tables.items():
            ours = roles[table.rsplit("_", 1)[1]]
            _create(con, ours, blob)
            state.created.add(ours)
    clocks = {s: StreamClock() for s in pipeline.streams}
    reset = [s for s in pipeline.streams if s in snap.clocks and not kept.stream(s)]
    clocks.update(
        {
            s: StreamClock(c.max_us, c.anchor_us, c.last_event_wall_us)
            for s, c in snap.clocks.items()
            if s in pipeline.streams and kept.stream(s)
        }
    )
    return Restored(
        clocks,
        frozenset(fresh),
        tuple(sorted(snap.views.keys() - states.keys())),
        tuple(reset),
        tuple(n for n in snap.tables if n in pipeline.tables and n not in restored_tables),
    )


class _Kept:
    """Which parts of a snapshot are still valid under a pipeline spec."""

    def __init__(self, snap: _Snapshot, pipeline: Pipeline) -> None:
        # Same spec as a whole: keep everything without comparing parts, exactly as
        # before there were parts (and for snapshots that have none).
        self.same = snap.pipeline == fingerprint(pipeline)
        self.then = snap.parts
        self.now = part_fingerprints(pipeline)

    def _kept(self, kind: str, name: str) -> bool:
        if self.same:
            return True
        if self.then is None:  # an older snapshot under an edited spec: trust no part
            return False
        then: dict[str, str] = getattr(self.then, kind)
        now: dict[str, str] = getattr(self.now, kind)
        return name in then and then[name] == now.get(name)

    def stream(self, name: str) -> bool:
        return self._kept("streams", name)

    def view(self, name: str) -> bool:
        return self._kept("views", name)

    def table(self, name: str) -> bool:
        return self._kept("tables", name)


def _create(con: duckdb.DuckDBPyConnection, table: str, blob: bytes, replace: bool = False) -> None:
    con.register("_restored", pa.ipc.open_stream(blob).read_all())
    try:
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        con.execute(f"{verb} {table} AS SELECT * FROM _restored")
    finally:
        con.unregister("_restored")
