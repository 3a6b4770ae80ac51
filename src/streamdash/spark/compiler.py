"""A view of the spec as a Spark Structured Streaming plan over decoded events.

    events -> watermark (the stream's lateness) -> left joins with reference tables ->
    derived fields -> `where` -> group by window and keys -> aggregates -> post expressions

producing exactly the columns of the view's result table (`ViewSchema`, the same one the
embedded engine writes): `window_start`, `window_end`, keys, metrics, `final`.

Windows are Spark's own: `window(_event_time, size[, every])` for tumbling and hopping
windows (aligned to the epoch, `[start, end)`), `session_window(_event_time, gap)` for
sessions. Tumbling, hopping and running views run in update mode (rows change while the
window is open; `final` is set by the sink once Spark's watermark passes the window end);
Spark supports session windows only in append mode, so a session's row is written once,
final, when the watermark passes its end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from streamdash.results import ViewSchema
from streamdash.spark.aggregates import (
    COLUMN_PREFIX,
    AggregateColumns,
    SparkAggregate,
    aggregate_columns,
    spark_aggregate,
)
from streamdash.spark.check import SparkUnsupported
from streamdash.spark.translate import quote, to_spark
from streamdash.spec.metrics import Aggregate, PostExpr, parse_metric
from streamdash.spec.models import Pipeline, StreamSpec, ViewSpec
from streamdash.spec.validation import yaml_path

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, GroupedData

WINDOW = "_window"


@dataclass(frozen=True)
class SparkView:
    """How one view runs on Spark."""

    name: str
    stream: str
    schema: ViewSchema
    output_mode: Literal["update", "append"]

    @property
    def emits_final(self) -> bool:
        """Rows are written once, final (append mode), rather than updated and then
        finalised by the watermark."""
        return self.output_mode == "append"


def plan_view(pipeline: Pipeline, schema: ViewSchema) -> SparkView:
    view = pipeline.views[schema.view]
    session = view.window is not None and view.window.kind == "session"
    return SparkView(schema.view, view.from_, schema, "append" if session else "update")


def watermarked(events: DataFrame, stream: StreamSpec) -> DataFrame:
    """Events with the stream's event-time watermark (Spark keeps it in milliseconds)."""
    return events.withWatermark("_event_time", f"{stream.lateness // 1000} milliseconds")


@contextmanager
def analysing(path: str) -> Iterator[None]:
    """Spark's parse and analysis errors (Spark checks a plan as it is built) as
    SparkUnsupported for the spec's `path`."""
    from pyspark.errors import AnalysisException

    try:
        yield
    except AnalysisException as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SparkUnsupported([(path, f"Spark cannot run it: {reason}")]) from None


def enrich(
    pipeline: Pipeline,
    name: str,
    stream: StreamSpec,
    events: DataFrame,
    tables: Mapping[str, DataFrame],
) -> DataFrame:
    """Left joins with the reference tables, then the derived fields in order."""
    from pyspark.sql import functions as sf

    frame = events
    for i, join in enumerate(stream.joins):
        table = pipeline.tables[join.table]
        wanted = join.fields or [c for c in table.schema_ if c != table.key]
        added = [c for c in wanted if c not in frame.columns]  # event fields win, as embedded
        key = f"_sd_join{i}"
        right = tables[join.table].select(
            sf.col(quote(table.key)).alias(key), *(sf.col(quote(c)) for c in added)
        )
        condition = sf.expr(f"{quote(join.on)} = {key}")
        frame = frame.join(sf.broadcast(right), condition, "left").drop(key)
    for field, sql in stream.derived.items():
        path = yaml_path("streams", name, "derived", field)
        with analysing(path):
            frame = frame.withColumn(field, sf.expr(to_spark(sql)))
    return frame


def _window_column(view: ViewSpec) -> Column | None:
    from pyspark.sql import functions as sf

    window = view.window
    if window is None:
        return None
    if window.kind == "session":
        # Spark merges sessions that touch (an event exactly `gap` after the last one joins
        # its session); the spec's sessions hold events *less* than `gap` apart, so Spark
        # gets a gap 1 us shorter, and the session end is put back in `view_frame`
        return sf.session_window("_event_time", f"{window.size_us - 1} microseconds")
    size = f"{window.size_us} microseconds"
    if window.kind == "hopping":
        return sf.window("_event_time", size, f"{window.step_us} microseconds")
    return sf.window("_event_time", size)


def _aggregated(
    grouped: GroupedData,
    view: str,
    aggregates: Mapping[str, SparkAggregate],
    shared: AggregateColumns,
) -> DataFrame:
    """The aggregation; if Spark refuses it, the metric it refuses is found and named."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as sf

    columns = [sf.expr(sql).alias(f"{COLUMN_PREFIX}{i}") for i, sql in enumerate(shared.columns)]
    try:
        return grouped.agg(*columns)
    except AnalysisException:
        for metric, agg in aggregates.items():
            path = yaml_path("views", view, "metrics", metric)
            with analysing(path):
                grouped.agg(sf.expr(agg.sql))
        raise


def post_order(post: Mapping[str, PostExpr]) -> list[str]:
    """Post expressions in an order where each reads only metrics computed before it."""
    graph = {
        name: {ref for ref in p.refs if ref in post and ref != name} for name, p in post.items()
    }
    return list(TopologicalSorter(graph).static_order())


def view_frame(
    pipeline: Pipeline,
    plan: SparkView,
    events: DataFrame,
    tables: Mapping[str, DataFrame],
) -> DataFrame:
    """The streaming DataFrame of a view's result rows (`events`: good decoded events)."""
    from pyspark.sql import functions as sf

    view = pipeline.views[plan.name]
    stream = pipeline.streams[plan.stream]
    window = _window_column(view)
    source = watermarked(events, stream) if window is not None else events
    frame = enrich(pipeline, plan.stream, stream, source, tables)
    if view.where:
        where = to_spark(view.where)
        with analysing(yaml_path("views", plan.name, "where")):
            frame = frame.where(sf.expr(where))
    parsed = {metric: parse_metric(text) for metric, text in view.metrics.items()}
    types = dict(plan.schema.metrics)
    aggregates = {
        metric: spark_aggregate(p, integral_sum=p.func == "sum" and types[metric] == pa.int64())
        for metric, p in parsed.items()
        if isinstance(p, Aggregate)
    }
    keys = [sf.col(quote(k)) for k in view.group_by]
    groups = [window.alias(WINDOW), *keys] if window is not None else keys
    shared = aggregate_columns(aggregates)
    grouped = _aggregated(frame.groupBy(*groups), plan.name, aggregates, shared)
    head: list[str] = []
    if window is not None:
        end = f"{WINDOW}.end"
        if view.window is not None and view.window.kind == "session":
            end = f"timestamp_micros(unix_micros({end}) + 1)"  # see _window_column
        head = [f"{WINDOW}.start AS window_start", f"{end} AS window_end"]
    values = [f"{value} AS {quote(metric)}" for metric, value in shared.values.items()]
    rows = grouped.selectExpr(*head, *(quote(k) for k in view.group_by), *values)
    post = {metric: p for metric, p in parsed.items() if isinstance(p, PostExpr)}
    for metric in post_order(post):
        value = f"CAST(({to_spark(post[metric].sql)}) AS DOUBLE)"
        path = yaml_path("views", plan.name, "metrics", metric)
        with analysing(path):
            rows = rows.withColumn(metric, sf.expr(value))
    rows = rows.withColumn("final", sf.lit(plan.emits_final))
    return rows.select(*(quote(name) for name in plan.schema.arrow_schema.names))
