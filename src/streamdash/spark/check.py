"""What of a (valid) spec Spark cannot run, found before any query starts — no JVM needed.

`spark_problems` returns `(yaml path, reason)` for every part that has no Spark translation;
`streamdash check --engine spark` prints them and `streamdash spark run` refuses to start
while there are any. `spark_notes` lists what Spark runs *differently* (see docs/spark.md),
which is worth knowing but not an error.

The function-name check needs pyspark (the list of Spark SQL functions comes from it); where
pyspark is missing it is skipped with a note, and Spark's analyser still checks every
expression when the job starts.
"""

from __future__ import annotations

from collections.abc import Iterator

from streamdash.errors import Fatal
from streamdash.spark.translate import Untranslatable, function_names, to_spark
from streamdash.spec.metrics import Aggregate, MetricError, parse_metric
from streamdash.spec.models import Pipeline
from streamdash.spec.validation import Problem, yaml_path

_SQL_ONLY_FUNCTIONS = frozenset({"if", "mod", "div", "len", "nvl2", "std", "iff"})
"""Spark SQL functions that pyspark.sql.functions has no Python wrapper for."""
_PYTHON_ONLY = frozenset(
    {"col", "column", "lit", "udf", "udtf", "pandas_udf", "arrow_udf", "broadcast", "expr"}
    | {"when", "call_udf", "call_function", "unwrap_udt", "functools", "typing"}
)
"""Names in pyspark.sql.functions that are Python helpers, not SQL functions."""


class SparkUnsupported(Fatal):
    """The spec uses something Spark cannot run; `problems` lists (yaml path, reason)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {reason}" for path, reason in problems)
        super().__init__(f"the spec cannot run on Spark ({len(problems)} problem(s)):\n{lines}")


def spark_functions() -> frozenset[str] | None:
    """Lower-case names of Spark SQL's built-in functions; None without pyspark."""
    try:
        import pyspark.sql.functions as functions
    except ImportError:
        return None
    names = {n.lower() for n in dir(functions) if not n.startswith("_")}
    return frozenset((names - _PYTHON_ONLY) | _SQL_ONLY_FUNCTIONS)


def _expressions(pipeline: Pipeline) -> Iterator[tuple[str, str]]:
    """(yaml path, SQL) of every expression a Spark job of the pipeline evaluates."""
    used = {view.from_ for view in pipeline.views.values()}
    for name, stream in pipeline.streams.items():
        if name in used:
            for field, sql in stream.derived.items():
                yield yaml_path("streams", name, "derived", field), sql
    for name, view in pipeline.views.items():
        if view.where:
            yield yaml_path("views", name, "where"), view.where
        for metric, text in view.metrics.items():
            try:
                parsed = parse_metric(text)
            except MetricError:
                continue  # the spec validation reports it
            if isinstance(parsed, Aggregate):
                if parsed.arg is not None:
                    yield yaml_path("views", name, "metrics", metric), parsed.arg
            else:
                yield yaml_path("views", name, "metrics", metric), parsed.sql


def _expression_problems(path: str, sql: str, known: frozenset[str] | None) -> list[Problem]:
    try:
        to_spark(sql)
    except Untranslatable as err:
        return [(path, str(err))]
    except MetricError:
        return []  # not a valid expression at all: the spec validation reports it
    problems: list[Problem] = []
    if known is not None:
        for function in sorted(function_names(sql) - known):
            problems.append(
                (path, f"function {function}() is not a Spark SQL function (it is DuckDB's)")
            )
    return problems


def spark_problems(pipeline: Pipeline) -> list[Problem]:
    """Every part of `pipeline` Spark cannot run, with the reason."""
    known = spark_functions()
    problems: list[Problem] = []
    used = {view.from_ for view in pipeline.views.values()}
    for name in sorted(used):
        stream = pipeline.streams.get(name)
        if stream is not None and stream.lateness % 1000:
            problems.append(
                (
                    yaml_path("streams", name, "lateness"),
                    f"{stream.lateness} us is not a whole number of milliseconds; Spark "
                    "keeps watermarks in milliseconds",
                )
            )
    for path, sql in _expressions(pipeline):
        problems += _expression_problems(path, sql, known)
    for name in pipeline.sinks:
        problems.append(
            (
                yaml_path("sinks", name),
                "extra sinks (sinks:) run with the embedded engine only; the Spark runner "
                "writes PostgreSQL alone",
            )
        )
    return problems


def spark_notes(pipeline: Pipeline) -> list[Problem]:
    """What Spark computes or writes differently from the embedded engine (not errors)."""
    notes: list[Problem] = []
    if spark_functions() is None:
        notes.append(
            (
                "<spark>",
                "pyspark is not installed, so function names were not checked "
                "(pip install 'streamdash[spark]')",
            )
        )
    for name, view in pipeline.views.items():
        if view.window is not None and view.window.kind == "session":
            notes.append(
                (
                    yaml_path("views", name, "window"),
                    "Spark writes a session only once it is closed (append mode), "
                    "not while it is open",
                )
            )
    return notes


def ensure_runnable(pipeline: Pipeline) -> None:
    """Raise SparkUnsupported, listing every problem, if Spark cannot run `pipeline`."""
    problems = spark_problems(pipeline)
    if problems:
        raise SparkUnsupported(problems)
