"""Per-view window state in DuckDB tables, merged batch by batch with SQL.

Each view owns up to three tables: `_v<i>_state` (one row per window x key: a group id,
the window bounds, the keys and the exact partial columns), `_v<i>_q` (quantile sketch
buckets) and `_v<i>_h` (HyperLogLog registers). A batch's partials are merged in by
re-aggregating only the touched groups (DELETE + INSERT of those rows), so the cost of a
batch follows the batch, not the size of the state. Final windows are emitted once and
their rows dropped, which keeps the state bounded by the open windows.
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from streamdash.engine import sketches
from streamdash.engine.compile import ViewPlan
from streamdash.engine.identifiers import quote


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """The single integer a query returns (0 for NULL). Fetches everything: DuckDB refuses
    further statements on a connection with a half-read result."""
    rows = con.execute(sql).fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


class ViewState:
    """The tables of one view and the SQL that merges, finalises and reads them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, plan: ViewPlan) -> None:
        self.con = con
        self.plan = plan
        self.created: set[str] = set()
        """State tables that exist (cached: asking DuckDB costs a query per batch)."""
        self.export_partials = False
        """Also hand out the partial state of the groups each batch touches (see
        `partial_rows`): a runner with one engine per Kafka partition merges them."""
        self.partial_structure = ""
        """DuckDB types of the exported `state` JSON (set by the first export)."""
        prefix = f"_v{plan.index}"
        self.state = f"{prefix}_state"
        self.q = f"{prefix}_q"
        self.h = f"{prefix}_h"

    # -- names and small SQL pieces -------------------------------------------------

    @property
    def group_columns(self) -> list[str]:
        bounds = ["ws", "we"] if self.plan.window.kind != "none" else []
        return bounds + [quote(k) for k in self.plan.keys]

    def join_condition(self, left: str, right: str) -> str:
        parts = [f"{left}.ws = {right}.ws"] if self.plan.window.kind != "none" else []
        parts += [
            f"{left}.{quote(k)} IS NOT DISTINCT FROM {right}.{quote(k)}" for k in self.plan.keys
        ]
        return " AND ".join(parts) or "TRUE"

    def exists(self, table: str) -> bool:
        return table in self.created

    def create(self, table: str, like: str) -> None:
        self.con.execute(f"CREATE TABLE {table} AS {like} LIMIT 0")
        self.created.add(table)

    def tables(self) -> list[str]:
        return [t for t in (self.state, self.q, self.h) if self.exists(t)]

    # -- merging ----------------------------------------------------------------------

    def assign_groups(self, windowed_partial: str) -> None:
        """Give each group of `windowed_partial` its state gid into temp table `_pg`; new
        groups get ids above every live one (ids of dropped windows may come back, which is
        harmless: all their rows are gone)."""
        if not self.exists(self.state):
            self.create(self.state, f"SELECT 0::BIGINT AS gid, * FROM ({windowed_partial})")
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE _pg AS SELECT coalesce(s.gid, "
            f"(SELECT coalesce(max(gid), 0) FROM {self.state}) + row_number() OVER ()) AS gid, "
            f"pw.* FROM ({windowed_partial}) AS pw LEFT JOIN {self.state} AS s "
            f"ON {self.join_condition('s', 'pw')}"
        )

    def merge_main(self) -> None:
        merges = [f"{merge} AS {name}" for name, _, merge in self.plan.state_columns()]
        keep = [f"any_value({c}) AS {c}" for c in self.group_columns]
        self._merge(self.state, "SELECT * FROM _pg", ["gid"], keep + merges)

    def merge_sketch(self, table: str, rows: str, value: str, combine: str) -> None:
        """Merge sketch rows `(gid, _s, <bucket|_reg>, <value>)` into `table`."""
        if not self.exists(table):
            self.create(table, f"SELECT * FROM ({rows})")
        part = "_bucket" if table == self.q else "_reg"
        merged = self._merge(table, rows, ["gid", "_s", part], [f"{combine}({value}) AS {value}"])
        if table == self.q and merged > sketches.MAX_BUCKETS:
            self._cap_buckets()

    def _merge(self, table: str, rows: str, by: list[str], aggs: list[str]) -> int:
        """Re-aggregate the touched groups of `table` with new `rows`; return the number
        of rows written."""
        con = self.con
        touched = "gid IN (SELECT gid FROM _pg)"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _m AS SELECT {', '.join(by)}, {', '.join(aggs)} "
            f"FROM (SELECT * FROM {table} WHERE {touched} UNION ALL BY NAME {rows}) "
            f"GROUP BY {', '.join(by)}"
        )
        con.execute(f"DELETE FROM {table} WHERE {touched}")
        return scalar(con, f"INSERT INTO {table} BY NAME SELECT * FROM _m")

    def _cap_buckets(self) -> None:
        """Collapse the lowest buckets of groups over the cap into one (DDSketch's rule):
        rare in practice, as 2048 buckets at 1 % span a value range of e^40."""
        cap = sketches.MAX_BUCKETS
        over = scalar(
            self.con,
            f"SELECT count(*) FROM (SELECT gid FROM _m GROUP BY gid, _s HAVING count(*) > {cap})",
        )
        if not over:
            return
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE _m AS SELECT gid, _s, "
            f"CASE WHEN _rn >= {cap} THEN _floor ELSE _bucket END AS _bucket, "
            f"CAST(sum(_n) AS BIGINT) AS _n FROM (SELECT *, "
            f"row_number() OVER w AS _rn, nth_value(_bucket, {cap}) OVER (w ROWS BETWEEN "
            f"UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS _floor FROM _m "
            f"WINDOW w AS (PARTITION BY gid, _s ORDER BY _bucket DESC)) GROUP BY ALL"
        )
        self.con.execute(f"DELETE FROM {self.q} WHERE gid IN (SELECT gid FROM _m)")
        self.con.execute(f"INSERT INTO {self.q} BY NAME SELECT * FROM _m")

    # -- reading ------------------------------------------------------------------------

    def emit(self, changed: str) -> pa.Table:
        """Final values of the groups in table `changed(gid, final)` as the view's rows."""
        plan = self.plan
        ctes = []
        joins = ""
        quantiles = [m for m in plan.metrics if m.sketch and m.sketch.kind == "quantile"]
        distincts = [m for m in plan.metrics if m.sketch and m.sketch.kind == "distinct"]
        scope = f"gid IN (SELECT gid FROM {changed})"
        if quantiles and self.exists(self.q):
            picks = ", ".join(
                f"min(_bucket) FILTER (WHERE _s = {m.sketch.index} AND "
                f"_cum > floor({m.q!r}::DOUBLE * (_tot - 1))) AS {m.state_prefix}"
                for m in quantiles
                if m.sketch
            )
            ctes.append(
                f"qe AS (SELECT gid, {picks} FROM (SELECT gid, _s, _bucket, "
                f"sum(_n) OVER (PARTITION BY gid, _s ORDER BY _bucket "
                f"ROWS UNBOUNDED PRECEDING) AS _cum, "
                f"sum(_n) OVER (PARTITION BY gid, _s) AS _tot "
                f"FROM {self.q} WHERE {scope}) GROUP BY gid)"
            )
            joins += " LEFT JOIN qe USING (gid)"
        elif quantiles:
            ctes.append(
                "qe AS (SELECT NULL::BIGINT AS gid, "
                + ", ".join(f"NULL::INTEGER AS {m.state_prefix}" for m in quantiles)
                + ")"
            )
            joins += " LEFT JOIN qe USING (gid)"
        if distincts:
            parts = ", ".join(
                f"sum(pow(2.0, -_rank)) FILTER (WHERE _s = {m.sketch.index}) "
                f"AS {m.state_prefix}_z, "
                f"count(*) FILTER (WHERE _s = {m.sketch.index}) AS {m.state_prefix}_nz"
                for m in distincts
                if m.sketch
            )
            source = (
                self.h
                if self.exists(self.h)
                else ("(SELECT NULL::BIGINT AS gid, 0 AS _s, 0 AS _rank WHERE FALSE)")
            )
            ctes.append(f"he AS (SELECT gid, {parts} FROM {source} WHERE {scope} GROUP BY gid)")
            joins += " LEFT JOIN he USING (gid)"
        head = []
        if plan.window.kind != "none":
            head = [
                "make_timestamp(ws)::TIMESTAMPTZ AS window_start",
                "make_timestamp(we)::TIMESTAMPTZ AS window_end",
            ]
        keys = [quote(k) for k in plan.keys]
        values = [f"{m.value} AS {quote(m.name)}" for m in plan.metrics]
        sql = (
            f"SELECT {', '.join([*head, *keys, *values, 'c.final'])} "
            f"FROM {self.state} AS s JOIN {changed} AS c USING (gid){joins}"
        )
        for name, expr in plan.post:
            sql = f"SELECT *, CAST({expr} AS DOUBLE) AS {quote(name)} FROM ({sql})"
        names = [f.name for f in plan.schema.arrow_schema]
        sql = f"SELECT {', '.join(quote(n) for n in names)} FROM ({sql})"
        if ctes:
            sql = f"WITH {', '.join(ctes)} {sql}"
        table = self.con.sql(sql).to_arrow_table()
        return table.cast(plan.schema.arrow_schema)

    def partial_rows(self) -> pa.Table:
        """The state of the groups in `_pg` (touched by this batch): `gkey`, `ws`, `we` and
        `state` (see `results.PartialState`). Sketch rows travel inside `state` as lists."""
        plan = self.plan
        windowed = plan.window.kind != "none"
        touched = f"SELECT * FROM {self.state} WHERE gid IN (SELECT gid FROM _pg)"
        joins = ""
        extra = []
        for table, column, parts in (
            (self.q, "_q", ("_s", "_bucket", "_n")),
            (self.h, "_h", ("_s", "_reg", "_rank")),
        ):
            if self.exists(table):
                fields = ", ".join(f"'{p}': {p}" for p in parts)
                joins += (
                    f" LEFT JOIN (SELECT gid, list({{{fields}}} ORDER BY {parts[1]}) AS {column} "
                    f"FROM {table} WHERE gid IN (SELECT gid FROM _pg) GROUP BY gid) "
                    f"USING (gid)"
                )
                extra.append(column)
        lists = "".join(", " + c for c in extra)
        rows = f"SELECT t.* EXCLUDE (gid){lists} FROM ({touched}) t{joins}"
        if not self.partial_structure:
            relation = self.con.sql(f"{rows} LIMIT 0")
            types = zip(relation.columns, relation.types, strict=True)
            self.partial_structure = json.dumps({name: str(kind) for name, kind in types})
        ident = [*(["ws"] if windowed else []), *(quote(k) for k in plan.keys)]
        gkey = (
            f"to_json(struct_pack({', '.join(f'{c} := x.{c}' for c in ident)}))::VARCHAR"
            if ident
            else "'{}'"
        )
        bounds = "x.ws, x.we" if windowed else "NULL::BIGINT AS ws, NULL::BIGINT AS we"
        return self.con.sql(
            f"SELECT {gkey} AS gkey, {bounds}, to_json(x)::VARCHAR AS state FROM ({rows}) x"
        ).to_arrow_table()

    def drop_final(self, changed: str) -> None:
        for table in self.tables():
            self.con.execute(
                f"DELETE FROM {table} WHERE gid IN (SELECT gid FROM {changed} WHERE final)"
            )
