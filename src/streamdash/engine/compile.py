"""A pipeline spec compiled once into the SQL the engine runs per batch.

`StreamPlan` holds a stream's decode and enrichment SQL (joins, derived fields) and its
views; `ViewPlan` holds a view's window, keys, state columns, sketches, post expressions
and result schema. Types come from DuckDB itself (a LIMIT 0 run over an empty batch), so
result columns are typed exactly as the engine will compute them.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from streamdash.engine import sketches
from streamdash.engine.aggregates import MetricPlan, Sketch, plan_aggregate
from streamdash.engine.decode import decode_sql
from streamdash.engine.expressions import referenced_columns, safe_sql
from streamdash.engine.identifiers import quote
from streamdash.engine.windows import WindowPlan
from streamdash.results import ViewSchema, arrow_timestamp
from streamdash.spec.metrics import Aggregate, PostExpr, parse_metric
from streamdash.spec.models import Pipeline, StreamSpec
from streamdash.spec.sinks import event_outputs

EVENTS = "_events"
"""The registered Arrow table of a batch's decoded events."""


def table_name(table: str) -> str:
    return f"_ref_{table}"


@dataclass(frozen=True)
class ViewPlan:
    name: str
    index: int
    window: WindowPlan
    keys: tuple[str, ...]
    where: str
    metrics: tuple[MetricPlan, ...]
    post: tuple[tuple[str, str], ...]
    """Post expressions `(name, sql)` in an order where each reads only earlier ones."""
    sketches: tuple[Sketch, ...]
    schema: ViewSchema

    def pane_column(self) -> str:
        return f"_b{self.index}"

    def live_column(self) -> str:
        return f"_k{self.index}"

    def state_columns(self) -> list[tuple[str, str, str]]:
        return [(c.name, c.partial, c.merge) for m in self.metrics for c in m.state]

    def of_kind(self, kind: str) -> list[Sketch]:
        return [s for s in self.sketches if s.kind == kind]


@dataclass(frozen=True)
class StreamPlan:
    name: str
    spec: StreamSpec
    fields: tuple[str, ...]
    decode_sql: str
    enrich_sql: str
    views: tuple[ViewPlan, ...]


def _enrich_sql(pipeline: Pipeline, spec: StreamSpec, columns: set[str]) -> str:
    pseudo = (
        "make_timestamp(_t)::TIMESTAMPTZ AS _event_time, "
        "make_timestamp(_ingest_us)::TIMESTAMPTZ AS _ingest_time"
    )
    select = [f"e.*, {pseudo}"]
    joins: list[str] = []
    columns |= {"_event_time", "_ingest_time"}
    for i, join in enumerate(spec.joins):
        table = pipeline.tables[join.table]
        wanted = join.fields or [c for c in table.schema_ if c != table.key]
        alias = f"j{i}"
        select += [f"{alias}.{quote(c)} AS {quote(c)}" for c in wanted if c not in columns]
        columns |= set(wanted)
        joins.append(
            f"LEFT JOIN {table_name(join.table)} AS {alias} "
            f"ON e.{quote(join.on)} = {alias}.{quote(table.key)}"
        )
    sql = f"SELECT {', '.join(select)} FROM {EVENTS} AS e {' '.join(joins)}"
    for name, expr in spec.derived.items():
        value = safe_sql(expr)
        if name in columns:
            sql = f"SELECT * REPLACE ({value} AS {quote(name)}) FROM ({sql})"
        else:
            sql = f"SELECT *, {value} AS {quote(name)} FROM ({sql})"
        columns.add(name)
    return sql


def _needed_fields(pipeline: Pipeline, stream: str, spec: StreamSpec) -> tuple[str, ...]:
    refs: set[str] = {spec.time.field, *(j.on for j in spec.joins)}
    refs |= set(event_outputs(pipeline).get(stream, ()))
    for expr in spec.derived.values():
        refs |= referenced_columns(expr)
    for view in pipeline.views.values():
        if view.from_ != stream:
            continue
        refs |= set(view.group_by)
        if view.where:
            refs |= referenced_columns(view.where)
        for text in view.metrics.values():
            metric = parse_metric(text)
            refs |= metric.columns if isinstance(metric, Aggregate) else metric.refs
    return tuple(f for f in spec.schema_ if f in refs)


def _post_order(post: dict[str, PostExpr]) -> list[tuple[str, str]]:
    done: list[tuple[str, str]] = []
    pending = dict(post)
    while pending:
        ready = [n for n, p in pending.items() if not (p.refs & (pending.keys() - {n}))]
        if not ready:
            raise ValueError(f"post expressions refer to each other in a cycle: {sorted(pending)}")
        for name in ready:
            done.append((name, safe_sql(pending.pop(name).sql)))
    return done


def compile_pipeline(pipeline: Pipeline, con: duckdb.DuckDBPyConnection) -> dict[str, StreamPlan]:
    """Compile every stream that has views (or joins to refresh); reference tables must be
    registered on `con` already (empty ones will do)."""
    plans: dict[str, StreamPlan] = {}
    index = 0
    for stream, spec in pipeline.streams.items():
        fields = _needed_fields(pipeline, stream, spec)
        dsql = decode_sql(spec, list(fields))
        empty = pa.table(
            {
                "line": pa.array([], pa.string()),
                "_offset": pa.array([], pa.int64()),
                "_ingest_us": pa.array([], pa.int64()),
            }
        )
        con.register("_lines", empty)
        events = con.sql(dsql).to_arrow_table().drop_columns(["_valid"])
        con.unregister("_lines")
        names = [v for v, view in pipeline.views.items() if view.from_ == stream]
        for i in range(index, index + len(names)):
            events = events.append_column(f"_b{i}", pa.array([], pa.int64()))
            events = events.append_column(f"_k{i}", pa.array([], pa.int16()))
        events = events.append_column("_wm", pa.array([], pa.int64()))
        enrich = _enrich_sql(pipeline, spec, set(events.column_names))
        con.register(EVENTS, events)
        views = []
        for name in names:
            views.append(_compile_view(pipeline, stream, name, index, enrich, con))
            index += 1
        con.unregister(EVENTS)
        plans[stream] = StreamPlan(stream, spec, fields, dsql, enrich, tuple(views))
    return plans


def _types(con: duckdb.DuckDBPyConnection, enrich: str, exprs: list[str]) -> list[pa.DataType]:
    if not exprs:
        return []
    select = ", ".join(f"{e} AS _c{i}" for i, e in enumerate(exprs))
    schema = con.sql(f"SELECT {select} FROM ({enrich}) LIMIT 0").to_arrow_table().schema
    return [_plain(t) for t in schema.types]


def _plain(t: pa.DataType) -> pa.DataType:
    """Result tables use plain Arrow types: timestamps in UTC microseconds, utf8 strings."""
    if pa.types.is_timestamp(t):
        return arrow_timestamp()
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    return t


def _compile_view(
    pipeline: Pipeline,
    stream: str,
    name: str,
    index: int,
    enrich: str,
    con: duckdb.DuckDBPyConnection,
) -> ViewPlan:
    view = pipeline.views[name]
    parsed = {m: parse_metric(text) for m, text in view.metrics.items()}
    aggs = {m: p for m, p in parsed.items() if isinstance(p, Aggregate)}
    args = [safe_sql(a.arg) for a in aggs.values() if a.arg is not None]
    # one probe query for the keys and the arguments: each costs a DuckDB bind and run,
    # and compiling the built-in views made 24 of them at every engine start
    keys = [quote(k) for k in view.group_by]
    probed = _types(con, enrich, [*keys, *args])
    key_types, arg_types = probed[: len(keys)], dict(zip(args, probed[len(keys) :], strict=True))
    sketch_of: dict[tuple[str, str], Sketch] = {}
    metrics = []
    for i, (metric, agg) in enumerate(aggs.items()):
        arg_type = arg_types[safe_sql(agg.arg)] if agg.arg is not None else None
        metrics.append(plan_aggregate(metric, agg, arg_type, f"m{i}", sketch_of))
    post = _post_order({m: p for m, p in parsed.items() if isinstance(p, PostExpr)})
    types = {m.name: m.arrow_type for m in metrics} | {p: pa.float64() for p, _ in post}
    window = WindowPlan.from_spec(view.window)
    schema = ViewSchema(
        view=name,
        table=pipeline.table_of(name),
        stream=stream,
        window=window.kind,
        keys=tuple(zip(view.group_by, key_types, strict=True)),
        metrics=tuple((m, types[m]) for m in view.metrics),
    )
    where = safe_sql(view.where) if view.where else "TRUE"
    return ViewPlan(
        name,
        index,
        window,
        tuple(view.group_by),
        where,
        tuple(metrics),
        tuple(post),
        tuple(sketch_of.values()),
        schema,
    )


def quantile_partial_sql(view: ViewPlan, enrich: str, head: list[str], where: str) -> str:
    """Bucket counts per group of one batch; `head` selects the group columns."""
    found = view.of_kind("quantile")
    ids = ", ".join(str(s.index) for s in found)
    buckets = ", ".join(sketches.bucket_sql(f"CAST({s.arg} AS DOUBLE)") for s in found)
    return (
        f"SELECT * EXCLUDE (_bk), _bk AS _bucket, count(*) AS _n FROM ("
        f"SELECT {', '.join([*head, f'unnest([{ids}]) AS _s', f'unnest([{buckets}]) AS _bk'])} "
        f"FROM ({enrich}) WHERE {where}) WHERE _bk IS NOT NULL GROUP BY ALL"
    )


def distinct_partial_sql(view: ViewPlan, enrich: str, head: list[str], where: str) -> str:
    """Register ranks per group of one batch."""
    found = view.of_kind("distinct")
    ids = ", ".join(str(s.index) for s in found)
    hashes = ", ".join(
        f"CASE WHEN ({s.arg}) IS NULL THEN NULL ELSE hash({s.arg}) END" for s in found
    )
    return (
        f"SELECT * EXCLUDE (_h), {sketches.hll_register_sql('_h')} AS _reg, "
        f"max({sketches.hll_rank_sql('_h')}) AS _rank FROM ("
        f"SELECT {', '.join([*head, f'unnest([{ids}]) AS _s', f'unnest([{hashes}]) AS _h'])} "
        f"FROM ({enrich}) WHERE {where}) WHERE _h IS NOT NULL GROUP BY ALL"
    )
