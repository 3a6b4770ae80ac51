"""One batch of one tumbling, hopping or running view: partial aggregation of the batch's
events, merge into state, finalisation of windows behind the watermark, emission.

Events arrive with two per-view columns computed in numpy: `_b<i>`, the start of the
event's pane, and `_k<i>`, how many of its windows were still open at its watermark
(0 = late for every window). Aggregating by (pane, live count) first and only then
expanding panes into hopping windows keeps per-event work independent of size / every.

A view whose only sketch is one quantile sketch (several quantiles of one column: the
common case) reads its events once: the partial is grouped by the sketch bucket too, and
both the main partial (merged over buckets) and the bucket counts come from that small
table. Scanning the events twice cost more than any other step but the decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from streamdash.engine import sketches
from streamdash.engine.compile import ViewPlan, distinct_partial_sql, quantile_partial_sql
from streamdash.engine.identifiers import quote
from streamdash.engine.sessions import assign_sessions, session_sketch_rows
from streamdash.engine.state import ViewState, scalar


@dataclass(frozen=True)
class ViewStep:
    rows: pa.Table | None
    late: int
    late_events: list[tuple[int, int]]
    """(log offset, event time) of the late events, in log order."""
    deleted: pa.Table | None = None
    partials: pa.Table | None = None
    """With `ViewState.export_partials`: the state of the groups the batch's events touched."""


def _single_pass(plan: ViewPlan) -> bool:
    """Whether the view's partial is grouped by the bucket of its one quantile sketch."""
    return plan.window.kind != "session" and [s.kind for s in plan.sketches] == ["quantile"]


def _expand(plan: ViewPlan, table: str, merges: list[str], by_bucket: bool = False) -> str:
    """Rows of a pane-level partial `table` re-keyed by window start `ws` (and `we`);
    `by_bucket`: `table` has one row per sketch bucket too, to merge away."""
    keys = [quote(k) for k in plan.keys]
    w = plan.window
    if by_bucket and w.kind != "hopping":
        bounds = [] if w.kind == "none" else ["_pane AS ws", f"_pane + {w.size_us} AS we"]
        live = "" if w.kind == "none" else "WHERE _k > 0 "
        return (
            f"SELECT {', '.join([*bounds, *keys, *merges])} FROM {table} {live}"
            f"GROUP BY ALL HAVING count(*) > 0"
        )
    if w.kind == "none":
        return f"SELECT * FROM {table}"
    if w.kind == "tumbling":
        # a pane is a window: partial columns pass unchanged
        return (
            f"SELECT _pane AS ws, _pane + {w.size_us} AS we, * EXCLUDE (_pane, _k) "
            f"FROM {table} WHERE _k > 0"
        )
    start = f"_pane - _j * {w.step_us}"
    cols = ", ".join([f"{start} AS ws", f"{start} + {w.size_us} AS we", *keys, *merges])
    return (
        f"SELECT {cols} FROM (SELECT *, unnest(range(CAST(_k AS BIGINT))) AS _j "
        f"FROM {table} WHERE _k > 0) GROUP BY ALL"
    )


def run_view(
    state: ViewState, enrich: str | None, watermark: int, has_late: bool = True
) -> ViewStep:
    """Apply one batch (or, with `enrich=None`, only a watermark advance) to a view;
    `has_late=False` promises that no event of the batch is late for it."""
    plan = state.plan
    con = state.con
    windowed = plan.window.kind != "none"
    session = plan.window.kind == "session"
    deleted = None
    late = 0
    late_events: list[tuple[int, int]] = []
    if enrich is not None:
        keys = [quote(k) for k in plan.keys]
        head = (
            keys
            if not windowed
            else [f"{plan.pane_column()} AS _pane", f"{plan.live_column()} AS _k", *keys]
        )
        partials = [f"{p} AS {n}" for n, p, _ in plan.state_columns()]
        single = _single_pass(plan)
        if single:
            bucket = sketches.bucket_sql(f"CAST({plan.sketches[0].arg} AS DOUBLE)")
            head = [*head, f"{bucket} AS _bk"]
        select = ", ".join([*head, "count(*) AS _n", *partials])
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _p AS SELECT {select} FROM ({enrich}) "
            f"WHERE {plan.where} GROUP BY ALL HAVING count(*) > 0"
        )
        if windowed and has_late:
            late = _scalar(
                state, f"SELECT coalesce(sum(_n), 0) FROM _p WHERE _k < {plan.window.panes}"
            )
            if late:
                late_events = [
                    (int(r[0]), int(r[1]))
                    for r in con.execute(
                        f"SELECT _offset, _t FROM ({enrich}) WHERE ({plan.where}) AND "
                        f"{plan.live_column()} < {plan.window.panes} ORDER BY _offset"
                    ).fetchall()
                ]
        merges = [f"{m} AS {n}" for n, _, m in plan.state_columns()]
        if session:
            deleted = assign_sessions(state)
        else:
            partial = "_p" if single else "(SELECT * EXCLUDE (_n) FROM _p)"
            state.assign_groups(_expand(plan, partial, merges, by_bucket=single))
        state.merge_main()
        live = " AND ".join([plan.where, *([f"{plan.live_column()} > 0"] if windowed else [])])
        if single:
            sketch = plan.sketches[0].index
            names = [*(["_pane", "_k"] if windowed else []), *(quote(k) for k in plan.keys)]
            sql = (
                f"SELECT {', '.join(names)}, {sketch} AS _s, _bk AS _bucket, _n FROM _p "
                f"WHERE _bk IS NOT NULL{' AND _k > 0' if windowed else ''}"
            )
            _merge_sketch(state, sql, "_bucket", "_n", "sum", scan=False)
        elif plan.of_kind("quantile"):
            sql = quantile_partial_sql(plan, enrich, head, live)
            _merge_sketch(state, sql, "_bucket", "_n", "sum")
        if plan.of_kind("distinct"):
            sql = distinct_partial_sql(plan, enrich, head, live)
            _merge_sketch(state, sql, "_reg", "_rank", "max")
    elif state.exists(state.state):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _pg AS SELECT gid FROM {state.state} LIMIT 0")
    if not state.exists(state.state):
        return ViewStep(None, late, late_events)
    if windowed:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _ch AS SELECT gid, we <= {watermark} AS final "
            f"FROM {state.state} WHERE gid IN (SELECT gid FROM _pg) OR we <= {watermark}"
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _ch AS SELECT gid, FALSE AS final FROM _pg")
    changed, final = con.execute("SELECT count(*), count_if(final) FROM _ch").fetchall()[0]
    if not changed:
        return ViewStep(None, late, late_events, deleted)
    rows = state.emit("_ch")
    exported = state.partial_rows() if state.export_partials and enrich is not None else None
    if final:  # most batches finalise no window: skip the deletes
        state.drop_final("_ch")
    return ViewStep(rows, late, late_events, deleted, exported)


def _merge_sketch(
    state: ViewState, partial: str, part: str, value: str, combine: str, scan: bool = True
) -> None:
    """Merge sketch rows of the batch; `scan`: `partial` reads the events (materialise it
    once), else it is a cheap projection of `_p` and is read in place."""
    plan = state.plan
    con = state.con
    ps = "_ps"
    if scan:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _ps AS {partial}")
    else:
        ps = f"({partial})"
    keys = [quote(k) for k in plan.keys]
    w = plan.window
    if w.kind == "session":
        rows = session_sketch_rows(state, f"SELECT * FROM {ps}", part, value)
        state.merge_sketch(state.q if part == "_bucket" else state.h, rows, value, combine)
        return
    if w.kind == "none":
        expanded = f"SELECT * FROM {ps}"
    elif w.kind == "tumbling":
        expanded = f"SELECT _pane AS ws, * EXCLUDE (_pane, _k) FROM {ps}"
    else:
        cols = ", ".join(
            [
                f"_pane - _j * {w.step_us} AS ws",
                *keys,
                "_s",
                part,
                f"CAST({combine}({value}) AS BIGINT) AS {value}",
            ]
        )
        expanded = (
            f"SELECT {cols} FROM (SELECT *, unnest(range(CAST(_k AS BIGINT))) AS _j "
            f"FROM {ps}) GROUP BY ALL"
        )
    rows = (
        f"SELECT pg.gid, x._s, x.{part}, x.{value} FROM ({expanded}) AS x "
        f"JOIN _pg AS pg ON {state.join_condition('pg', 'x')}"
    )
    state.merge_sketch(state.q if part == "_bucket" else state.h, rows, value, combine)


def _scalar(state: ViewState, sql: str) -> int:
    return scalar(state.con, sql)
