"""Merging the partial states of several partitions into a view's rows, with the engine's
own merge and finalise SQL.

A view not grouped by its stream's partition key gets, for one (window, key) row, events
from several partitions, so from several engines. Each engine hands out the partial state
of the groups a batch touched (`ViewState.partial_rows`); those are kept in PostgreSQL per
partition (`partials.py`), and every commit that touches a group re-merges that group from
all partitions' partial states here: the rows are loaded into the state tables of a
`ViewState` on a DuckDB connection of its own (a merge-only engine), merged with the view's
merge aggregates (sum of counts and sums, min/max, sketch buckets summed, HLL registers
maxed), and emitted by `ViewState.emit` — the same SQL that finalises a single engine's rows.
"""

from __future__ import annotations

import pyarrow as pa

from streamdash.engine.state import ViewState


class ViewMerger:
    def __init__(self, state: ViewState) -> None:
        self.state = state

    def merge(
        self, rows: pa.Table, structure: str, watermark: int | None
    ) -> tuple[pa.Table, list[str]]:
        """`rows`: (gkey, ws, we, state) of every partition for some groups. Returns the
        view's rows for those groups (final where the watermark of every partition passed
        the window's end) and the gkeys of the final ones."""
        state = self.state
        con = state.con
        plan = state.plan
        quoted = structure.replace("'", "''")
        con.register("_pin", rows)
        try:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _pj AS SELECT gkey, "
                f"unnest(json_transform(state, '{quoted}')) FROM _pin"
            )
        finally:
            con.unregister("_pin")
        keep = [f"any_value({c}) AS {c}" for c in state.group_columns]
        merges = [f"{merge} AS {name}" for name, _, merge in plan.state_columns()]
        for table in state.tables():
            con.execute(f"DROP TABLE {table}")
        state.created.clear()
        con.execute(
            f"CREATE TABLE {state.state} AS SELECT row_number() OVER () AS gid, * FROM ("
            f"SELECT {', '.join(['gkey', *keep, *merges])} FROM _pj GROUP BY gkey)"
        )
        state.created.add(state.state)
        columns = set(con.sql("SELECT * FROM _pj LIMIT 0").columns)
        for table, column, part, value, combine in (
            (state.q, "_q", "_bucket", "_n", "sum"),
            (state.h, "_h", "_reg", "_rank", "max"),
        ):
            if column not in columns:
                continue
            con.execute(
                f"CREATE TABLE {table} AS SELECT s.gid, e._s AS _s, e.{part} AS {part}, "
                f"CAST({combine}(e.{value}) AS BIGINT) AS {value} FROM "
                f"(SELECT gkey, unnest({column}) AS e FROM _pj) JOIN {state.state} AS s "
                f"USING (gkey) GROUP BY ALL"
            )
            state.created.add(table)
        final = "FALSE" if plan.window.kind == "none" or watermark is None else f"we <= {watermark}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _ch AS SELECT gid, {final} AS final FROM {state.state}"
        )
        merged = state.emit("_ch")
        finals = [
            str(r[0])
            for r in con.execute(
                f"SELECT gkey FROM {state.state} JOIN _ch USING (gid) WHERE final"
            ).fetchall()
        ]
        return merged, finals
