"""Session windows: per key, events closer than `gap` belong to one session
`[first, last + gap)`.

A session is a connected component of intervals `[t, t + gap)`, so it does not depend on
the order events arrive in. Each batch's events (grouped per key and time) are merged with
the open sessions of the same keys by a gaps-and-islands pass in SQL; sessions that join
keep the smallest group id, and the `window_start`s that disappear are reported so the
sink can delete those rows. An event is late when its time is behind the watermark: a
final session ended at or before the watermark, so no on-time event can reach it.
"""

from __future__ import annotations

import pyarrow as pa

from streamdash.engine.identifiers import quote
from streamdash.engine.state import ViewState


def keys_equal(state: ViewState, left: str, right: str) -> str:
    parts = [f"{left}.{quote(k)} IS NOT DISTINCT FROM {right}.{quote(k)}" for k in state.plan.keys]
    return " AND ".join(parts) or "TRUE"


def assign_sessions(state: ViewState) -> pa.Table | None:
    """From the event-level partial `_p` (pane = event time), build `_pg` (one row per
    touched session, with its merged bounds) and `_pmap` (event time, keys -> gid), move the
    rows of merged sessions to their surviving gid, and return the deleted window starts."""
    con = state.con
    plan = state.plan
    gap = plan.window.size_us
    keys = [quote(k) for k in plan.keys]
    key_list = ", ".join(keys)
    part = f"PARTITION BY {key_list}" if keys else ""
    if not state.exists(state.state):
        cols = ", ".join(
            ["0::BIGINT AS gid", "_pane AS ws", "_pane AS we", "* EXCLUDE (_pane, _k, _n)"]
        )
        state.create(state.state, f"SELECT {cols} FROM _p")
    touched_keys = (
        f"SELECT s.gid, s.ws, s.we{''.join(', s.' + k for k in keys)} "
        f"FROM {state.state} AS s WHERE EXISTS (SELECT 1 FROM _p AS p "
        f"WHERE p._k > 0 AND {keys_equal(state, 's', 'p')})"
    )
    fresh = (
        f"SELECT NULL::BIGINT AS gid, _pane AS ws, _pane + {gap} AS we"
        f"{''.join(', ' + k for k in keys)} FROM _p WHERE _k > 0"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _iv AS SELECT *, sum(CASE WHEN _prev IS NULL OR "
        f"ws >= _prev THEN 1 ELSE 0 END) OVER (w ROWS UNBOUNDED PRECEDING) AS _island "
        f"FROM (SELECT *, max(we) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) "
        f"AS _prev FROM ({touched_keys} UNION ALL {fresh}) WINDOW w AS ({part} ORDER BY ws, gid)) "
        f"WINDOW w AS ({part} ORDER BY ws, gid)"
    )
    group = ", ".join([*keys, "_island"])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _isl AS SELECT *, coalesce(_keep, "
        f"(SELECT coalesce(max(gid), 0) FROM {state.state}) + row_number() OVER ()) AS gid "
        f"FROM (SELECT {group}, min(ws) AS ws, max(we) AS we, min(gid) AS _keep "
        f"FROM _iv GROUP BY {group})"
    )
    same_island = " AND ".join([keys_equal(state, "v", "i"), "v._island = i._island"])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _remap AS SELECT v.gid AS old, i.gid AS new, "
        f"v.ws AS old_ws, i.ws AS new_ws, i.we AS new_we{''.join(', v.' + k for k in keys)} "
        f"FROM _iv AS v JOIN _isl AS i ON {same_island} WHERE v.gid IS NOT NULL"
    )
    deleted = con.sql(
        f"SELECT make_timestamp(old_ws)::TIMESTAMPTZ AS window_start"
        f"{''.join(', ' + k for k in keys)} FROM _remap WHERE old_ws <> new_ws"
    ).to_arrow_table()
    con.execute(
        f"UPDATE {state.state} AS s SET gid = r.new, ws = r.new_ws, we = r.new_we "
        f"FROM _remap AS r WHERE s.gid = r.old"
    )
    for table in (state.q, state.h):
        if state.exists(table):
            con.execute(
                f"UPDATE {table} AS s SET gid = r.new FROM _remap AS r "
                f"WHERE s.gid = r.old AND r.old <> r.new"
            )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _pmap AS SELECT v.ws AS _pane"
        f"{''.join(', v.' + k for k in keys)}, i.gid, i.ws, i.we "
        f"FROM _iv AS v JOIN _isl AS i ON {same_island} WHERE v.gid IS NULL"
    )
    on = " AND ".join(["m._pane = p._pane", keys_equal(state, "m", "p")])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _pg AS SELECT m.gid, m.ws, m.we, p.* EXCLUDE "
        f"(_pane, _k, _n) FROM _p AS p JOIN _pmap AS m ON {on} WHERE p._k > 0"
    )
    return deleted.cast(_deleted_schema(state)) if deleted.num_rows else None


def _deleted_schema(state: ViewState) -> pa.Schema:
    schema = state.plan.schema.arrow_schema
    return pa.schema([schema.field("window_start"), *(schema.field(k) for k in state.plan.keys)])


def session_sketch_rows(state: ViewState, partial: str, part: str, value: str) -> str:
    """Sketch rows of the batch keyed by the gid of the session each event went to."""
    on = " AND ".join(["m._pane = x._pane", keys_equal(state, "m", "x")])
    return f"SELECT m.gid, x._s, x.{part}, x.{value} FROM ({partial}) AS x JOIN _pmap AS m ON {on}"
