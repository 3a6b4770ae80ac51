"""The engine's entry point: log chunks in, a `CommitBatch` out. Pure — no I/O.

One Processor holds one in-memory DuckDB connection (2 threads) with the compiled
pipeline, the reference tables and every view's state; `snapshot()`/`restore()` move that
state, the reference tables and the event clocks in and out as bytes for the sink's
checkpoint.
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pyarrow as pa

from streamdash.engine.compile import EVENTS, StreamPlan, compile_pipeline, table_name
from streamdash.engine.decode import Decoded, decode
from streamdash.engine.identifiers import quote
from streamdash.engine.snapshot import read_snapshot, write_snapshot
from streamdash.engine.state import ViewState
from streamdash.engine.step import ViewStep, run_view
from streamdash.engine.tables import arrow_schema_of, load_reference
from streamdash.engine.watermark import NO_TIME, StreamClock, watermarks_before
from streamdash.engine.windows import live_windows, pane_start
from streamdash.log.base import Chunk
from streamdash.results import CommitBatch, DeadLetter, PartialState, ViewSchema, ViewUpdate
from streamdash.spec.models import Pipeline
from streamdash.spec.sinks import event_outputs

_log = logging.getLogger(__name__)


class Processor:
    def __init__(self, pipeline: Pipeline, tables: dict[str, pa.Table] | None = None) -> None:
        self.pipeline = pipeline
        self.con = duckdb.connect(config={"threads": 2})
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET error_on_division_by_zero = false")
        self.latest: dict[str, pa.Table] = {}
        """The newest rows given for each reference table (at start or by `set_table`)."""
        self._replaying = False
        given = tables or {}
        for name, spec in pipeline.tables.items():
            self.set_table(name, given.get(name, arrow_schema_of(spec.schema_).empty_table()))
        self.plans: dict[str, StreamPlan] = compile_pipeline(pipeline, self.con)
        self.states = {
            v.name: ViewState(self.con, v) for plan in self.plans.values() for v in plan.views
        }
        self.clocks = {stream: StreamClock() for stream in pipeline.streams}
        self.event_outputs = event_outputs(pipeline)
        """stream -> enriched columns that extra sinks take (see CommitBatch.events)."""

    # -- the contract ---------------------------------------------------------------------

    def schemas(self) -> list[ViewSchema]:
        return [v.plan.schema for v in self.states.values()]

    def set_table(self, name: str, table: pa.Table) -> None:
        """Replace a reference table; events decoded from now on join the new rows."""
        load_reference(self.con, table_name(name), self.pipeline.tables[name].key, table)
        self.latest[name] = table

    def process(self, stream: str, chunks: list[Chunk], now_us: int) -> CommitBatch:
        batch = CommitBatch()
        plan = self.plans.get(stream)
        if plan is None:
            batch.dead_letters += [
                DeadLetter(
                    stream,
                    "unknown_stream",
                    f"no stream {stream!r} in the pipeline",
                    c.payload,
                    c.ingest_us,
                    offset=c.start,
                )
                for c in chunks
            ]
            return batch
        decoded = decode(self.con, stream, plan.decode_sql, chunks)
        batch.dead_letters += decoded.dead_letters
        _count(batch, (stream, "invalid"), len(decoded.dead_letters))
        events = decoded.events
        _count(batch, (stream, "events"), events.num_rows)
        if events.num_rows:
            self._apply(plan, decoded, now_us, batch)
        self._watermark(stream, batch)
        return batch

    def advance_idle(self, now_us: int) -> CommitBatch:
        """Let wall-clock time move the watermark of streams that have gone quiet, and emit
        the windows that became final."""
        batch = CommitBatch()
        for stream, plan in self.plans.items():
            clock = self.clocks[stream]
            moved = clock.after_idle(now_us, plan.spec.idle_timeout)
            if moved.max_us == clock.max_us:
                continue
            self.clocks[stream] = moved
            watermark = moved.watermark(plan.spec.lateness)
            assert watermark is not None
            for view in plan.views:
                state = self.states[view.name]
                _add(batch, state, run_view(state, None, watermark))
            self._watermark(stream, batch)
        return batch

    def snapshot(self) -> bytes:
        return write_snapshot(self.con, self.pipeline, self.clocks, self.states)

    def restore(self, data: bytes) -> frozenset[str]:
        """Put back the state of a snapshot, reference tables included: the replay that
        follows must join the rows that produced the committed results.

        A snapshot taken under an earlier version of the spec restores only the parts that
        did not change (see `read_snapshot`). Returns the views that start empty: new or
        changed ones, whose output during the replay is not in the store yet."""
        restored = read_snapshot(self.con, self.pipeline, self.states, data)
        self.clocks = restored.clocks
        self._replaying = bool(self.pipeline.tables)
        changes = restored.changes()
        if changes:
            _log.warning("the pipeline spec changed since the checkpoint: %s", changes)
        return restored.fresh_views

    def resume_tables(self) -> bool:
        """After the replay that follows `restore`, go back to the newest rows given for
        each table. Returns whether tables were replaced: a change that is not in the log,
        so the caller must checkpoint with its next commit (as after a table refresh)."""
        if not self._replaying:
            return False
        self._replaying = False
        for name, table in self.latest.items():
            self.set_table(name, table)
        return bool(self.latest)

    def close(self) -> None:
        self.con.close()

    # -- one batch ------------------------------------------------------------------------

    def _apply(self, plan: StreamPlan, decoded: Decoded, now_us: int, batch: CommitBatch) -> None:
        events = decoded.events
        t = events.column("_t").to_numpy()
        clock = self.clocks[plan.name]
        wm = watermarks_before(t, clock.max_us, plan.spec.lateness)
        has_late = {}
        for view in plan.views:
            w = view.window
            # sessions group events per time first: the "pane" of an event is its time
            base = (
                pane_start(t, w.step_us)
                if w.aligned
                else (t if w.kind == "session" else np.zeros(len(t), np.int64))
            )
            live = live_windows(t, wm, w)
            has_late[view.name] = bool((live < w.panes).any())
            events = events.append_column(view.pane_column(), pa.array(base))
            events = events.append_column(view.live_column(), pa.array(live))
        events = events.append_column("_wm", pa.array(wm))
        clock = clock.after_events(int(t.max()), now_us)
        self.clocks[plan.name] = clock
        watermark = clock.watermark(plan.spec.lateness)
        assert watermark is not None
        self.con.register(EVENTS, events)
        try:
            for view in plan.views:
                state = self.states[view.name]
                result = run_view(state, plan.enrich_sql, watermark, has_late[view.name])
                _add(batch, state, result)
                self._late(plan.name, view.name, decoded, result, batch)
            columns = self.event_outputs.get(plan.name)
            if columns:
                select = ", ".join(["_t", "_offset", *(quote(c) for c in columns)])
                enriched = self.con.sql(f"SELECT {select} FROM ({plan.enrich_sql})")
                batch.events[plan.name] = enriched.to_arrow_table()
        finally:
            self.con.unregister(EVENTS)

    def _late(
        self, stream: str, view: str, decoded: Decoded, result: ViewStep, batch: CommitBatch
    ) -> None:
        _count(batch, (view, "late"), result.late)
        lines = decoded.lines
        for offset, event_time in result.late_events:
            row = lines.row_of(offset)
            batch.dead_letters.append(
                DeadLetter(
                    stream,
                    "late",
                    f"all or some of its windows in view {view!r} were final",
                    lines.raw(row),
                    int(lines.ingest_us[row]),
                    event_time_us=event_time,
                    offset=offset,
                    view=view,
                )
            )

    def _watermark(self, stream: str, batch: CommitBatch) -> None:
        clock = self.clocks[stream]
        if clock.max_us != NO_TIME:
            batch.watermarks[stream] = clock.max_us - self.pipeline.streams[stream].lateness


def _add(batch: CommitBatch, state: ViewState, result: ViewStep) -> None:
    if result.partials is not None and result.partials.num_rows:
        batch.partials.append(
            PartialState(state.plan.name, result.partials, state.partial_structure)
        )
    rows = result.rows
    deleted = result.deleted if result.deleted is not None and result.deleted.num_rows else None
    if rows is None or not rows.num_rows:
        if deleted is None:
            return
        rows = state.plan.schema.arrow_schema.empty_table()
    batch.updates.append(ViewUpdate(state.plan.name, rows, deleted))


def _count(batch: CommitBatch, key: tuple[str, str], n: int) -> None:
    if n:
        batch.counters[key] = batch.counters.get(key, 0) + n
