"""Cross-reference checks of a parsed pipeline: the rules the typed models cannot express
alone (names that must exist elsewhere, SQL that must parse and read known columns).

Pure and I/O-free, and it never stops at the first problem: `validate` returns every
problem as `(yaml path, message)` so that `streamdash check` can show them all at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from sqlglot import exp

from streamdash.spec.metrics import (
    Aggregate,
    MetricError,
    PostExpr,
    parse_expression,
    parse_metric,
)
from streamdash.spec.models import IDENTIFIER, FieldSpec, Pipeline, StreamSpec, ViewSpec

Problem = tuple[str, str]

PSEUDO_COLUMNS = frozenset({"_event_time", "_ingest_time"})
"""Columns every event has besides its fields: its event time and when it was ingested."""

RESERVED_COLUMNS = frozenset({"window_start", "window_end", "final", "updated_at"})
"""Columns the engine adds to every result table; no metric or key may take these names."""

TIME_FIELD_TYPES: dict[str, frozenset[str]] = {
    "s": frozenset({"int32", "int64", "float64"}),
    "ms": frozenset({"int32", "int64", "float64"}),
    "us": frozenset({"int32", "int64", "float64"}),
    "ns": frozenset({"int32", "int64", "float64"}),
    "iso8601": frozenset({"timestamp", "string"}),
}

_IDENTIFIER_RULE = (
    "expected lower-case letters, digits and '_', starting with a letter or '_', "
    "at most 63 characters (it becomes a SQL identifier)"
)


def yaml_path(*parts: str | int) -> str:
    """The dotted path of a spot in the YAML file: `views.v.metrics.x`, `joins[0].on`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _choices(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    if not known:
        return "there are none"
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    return f"{hint}expected one of: {shown}"


def _check_identifier(path: str, kind: str, name: str) -> list[Problem]:
    if IDENTIFIER.match(name):
        return []
    return [(path, f"invalid {kind} name {name!r}: {_IDENTIFIER_RULE}")]


@dataclass(frozen=True)
class _Columns:
    """The columns an expression over a stream's events may read, keyed in lower case
    because DuckDB and Spark SQL both resolve unquoted identifiers case-insensitively.
    The value is the field's spec when known (schema fields), None otherwise."""

    stream: str
    known: Mapping[str, FieldSpec | None]
    complete: bool = True
    """False when parts of the stream failed to parse: an unknown column may then be one
    of those parts, so it is not reported (the real error already is)."""
    defined_later: frozenset[str] = frozenset()
    """Derived fields defined after the expression being checked (read too early)."""

    def check(self, tree: exp.Expression, path: str, what: str) -> list[Problem]:
        problems: list[Problem] = []
        lambda_params = {
            ident.name.lower()
            for lam in tree.find_all(exp.Lambda)
            for ident in lam.expressions
            if isinstance(ident, exp.Identifier)
        }
        for column in tree.find_all(exp.Column):
            parts = [p.name for p in column.parts]
            if not parts or parts[0].lower() in lambda_params:
                continue
            root = parts[0]
            if root.lower() not in self.known:
                if not self.complete:
                    continue
                if root.lower() in self.defined_later:
                    problems.append(
                        (
                            path,
                            f"{what} reads '{root}', which is defined later; "
                            "derived fields can only read fields defined before them",
                        )
                    )
                    continue
                hint = ""
                if column.parts[0].args.get("quoted"):
                    hint = f" (a double-quoted \"{root}\" is a column in SQL; write '{root}' "
                    hint += "for a string)"
                problems.append(
                    (
                        path,
                        f"{what} reads unknown column '{root}' of stream '{self.stream}'"
                        f"{hint}; {_choices(root, self.known)}",
                    )
                )
                continue
            problems += self._check_members(self.known[root.lower()], parts, path, what)
        return problems

    @staticmethod
    def _check_members(
        spec: FieldSpec | None, parts: list[str], path: str, what: str
    ) -> list[Problem]:
        # Struct access (`dob.age`) is checked as deep as the schema describes it;
        # json fields and untyped (derived, joined) columns are not described.
        for depth, member in enumerate(parts[1:], start=1):
            if spec is None or spec.type == "json":
                return []
            if spec.type != "struct" or spec.fields is None:
                owner = ".".join(parts[:depth])
                return [
                    (
                        path,
                        f"{what} reads '{owner}.{member}' but '{owner}' is a "
                        f"{spec.type}, not a struct",
                    )
                ]
            if member not in spec.fields:
                owner = ".".join(parts[:depth])
                return [
                    (
                        path,
                        f"{what} reads unknown member '{member}' of struct "
                        f"'{owner}'; {_choices(member, spec.fields)}",
                    )
                ]
            spec = spec.fields[member]
        return []


def _is_per_event(tree: exp.Expression) -> str | None:
    """Why an expression cannot be evaluated on one event alone (None if it can)."""
    for node in tree.walk():
        if isinstance(node, exp.AggFunc):
            return "aggregates are not allowed here (they belong in a view's metrics)"
        if isinstance(node, exp.Window):
            return "window functions are not allowed here"
    return None


def _parse_row_expression(
    sql: str, columns: _Columns | None, path: str, what: str
) -> list[Problem]:
    try:
        tree = parse_expression(sql)
    except MetricError as err:
        return [(path, f"{what}: {err}")]
    reason = _is_per_event(tree)
    if reason:
        return [(path, f"{what} {sql!r}: {reason}")]
    return columns.check(tree, path, what) if columns else []


def _schema_problems(prefix: str, schema: Mapping[str, FieldSpec]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for name in schema:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            problems.append(
                (
                    yaml_path(prefix, name),
                    f"field '{name}' differs from field '{other}' only "
                    "in case; SQL resolves names case-insensitively, so they would clash",
                )
            )
        if name.lower() in PSEUDO_COLUMNS:
            problems.append(
                (
                    yaml_path(prefix, name),
                    f"field name '{name}' is reserved for the "
                    "engine's pseudo-columns (_event_time, _ingest_time)",
                )
            )
    return problems


def _stream_problems(
    pipeline: Pipeline, name: str, stream: StreamSpec, broken: Set[tuple[str, str]]
) -> tuple[list[Problem], _Columns]:
    """Check one stream; also return the columns its views may read."""
    base = yaml_path("streams", name)
    complete = ("streams", name) not in broken
    problems = _check_identifier(base, "stream", name)
    problems += _schema_problems(yaml_path(base, "schema"), stream.schema_)
    schema_lower = {f.lower(): spec for f, spec in stream.schema_.items()}

    time_path = yaml_path(base, "time", "field")
    time_spec = schema_lower.get(stream.time.field.lower())
    if time_spec is None:
        problems.append(
            (
                time_path,
                f"time field '{stream.time.field}' is not in the schema "
                f"of stream '{name}'; {_choices(stream.time.field, stream.schema_)}",
            )
        )
    else:
        allowed = TIME_FIELD_TYPES[stream.time.unit]
        if time_spec.type not in allowed:
            problems.append(
                (
                    time_path,
                    f"time field '{stream.time.field}' has type "
                    f"{time_spec.type}, which cannot hold unit '{stream.time.unit}'; "
                    f"expected a field of type {' or '.join(sorted(allowed))}",
                )
            )
        if time_spec.optional:
            problems.append(
                (
                    time_path,
                    f"time field '{stream.time.field}' is optional; an "
                    "event without a time cannot be placed in a window, so it must "
                    "be required (drop the '?')",
                )
            )
    if stream.key is not None and stream.key.lower() not in schema_lower:
        problems.append(
            (
                yaml_path(base, "key"),
                f"key '{stream.key}' is not in the schema of "
                f"stream '{name}'; {_choices(stream.key, stream.schema_)}",
            )
        )

    known: dict[str, FieldSpec | None] = dict(schema_lower)
    known.update(dict.fromkeys(PSEUDO_COLUMNS))
    for index, join in enumerate(stream.joins):
        jpath = yaml_path(base, "joins", index)
        if join.on.lower() not in schema_lower:
            problems.append(
                (
                    yaml_path(jpath, "on"),
                    f"join column '{join.on}' is not a field "
                    f"of stream '{name}'; {_choices(join.on, stream.schema_)}",
                )
            )
        table = pipeline.tables.get(join.table)
        if table is None:
            complete = False  # what the join would add is unknown: no cascade of errors
            if ("tables", join.table) not in broken:
                problems.append(
                    (
                        yaml_path(jpath, "table"),
                        f"unknown reference table "
                        f"'{join.table}'; {_choices(join.table, pipeline.tables)}",
                    )
                )
            continue
        wanted = (
            join.fields if join.fields is not None else [f for f in table.schema_ if f != table.key]
        )
        for col in wanted:
            if col not in table.schema_:
                problems.append(
                    (
                        yaml_path(jpath, "fields"),
                        f"table '{join.table}' has no "
                        f"column '{col}'; {_choices(col, table.schema_)}",
                    )
                )
            elif col.lower() in known:
                problems.append(
                    (
                        yaml_path(jpath, "fields"),
                        f"the join would add column "
                        f"'{col}', which stream '{name}' already has; list the "
                        "wanted table columns in `fields:` to leave it out",
                    )
                )
            else:
                known[col.lower()] = table.schema_[col]

    order = [d.lower() for d in stream.derived]
    for position, (derived, sql) in enumerate(stream.derived.items()):
        dpath = yaml_path(base, "derived", derived)
        problems += _check_identifier(dpath, "derived field", derived)
        if derived.lower() in known:
            problems.append(
                (
                    dpath,
                    f"derived field '{derived}' would replace an existing "
                    f"column of stream '{name}'; choose another name",
                )
            )
            continue
        # Only earlier fields are visible: derived fields are evaluated in order.
        problems += _parse_row_expression(
            sql,
            _Columns(name, dict(known), complete, frozenset(order[position + 1 :])),
            dpath,
            f"derived field '{derived}'",
        )
        known[derived.lower()] = None
    return problems, _Columns(name, known, complete)


def _table_problems(pipeline: Pipeline) -> list[Problem]:
    problems: list[Problem] = []
    for name, table in pipeline.tables.items():
        base = yaml_path("tables", name)
        problems += _check_identifier(base, "table", name)
        problems += _schema_problems(yaml_path(base, "schema"), table.schema_)
        if table.key not in table.schema_:
            problems.append(
                (
                    yaml_path(base, "key"),
                    f"key '{table.key}' is not in the schema "
                    f"of table '{name}'; {_choices(table.key, table.schema_)}",
                )
            )
        if table.refresh is not None and table.refresh <= 0:
            problems.append((yaml_path(base, "refresh"), "refresh must be a positive duration"))
    return problems


def _window_problems(base: str, view: ViewSpec) -> list[Problem]:
    # The models reject these already; repeated here so that models built in code
    # (model_construct) are held to the same rules.
    window = view.window
    if window is None:
        return []
    path = yaml_path(base, "window")
    if window.tumbling is not None and window.tumbling <= 0:
        return [(yaml_path(path, "tumbling"), "window size must be positive")]
    if window.hopping is not None and (window.hopping.size <= 0 or window.hopping.every <= 0):
        return [(yaml_path(path, "hopping"), "size and every must be positive")]
    if window.session is not None and window.session.gap <= 0:
        return [(yaml_path(path, "session", "gap"), "session gap must be positive")]
    return []


def _metric_problems(base: str, view: ViewSpec, columns: _Columns | None) -> list[Problem]:
    problems: list[Problem] = []
    if not view.metrics:
        problems.append((yaml_path(base, "metrics"), "a view needs at least one metric"))
    keys = {k.lower() for k in view.group_by}
    post: dict[str, frozenset[str]] = {}
    for metric, text in view.metrics.items():
        path = yaml_path(base, "metrics", metric)
        problems += _check_identifier(path, "metric", metric)
        if metric.lower() in RESERVED_COLUMNS:
            problems.append(
                (
                    path,
                    f"metric name '{metric}' is reserved for a column the "
                    f"engine adds ({', '.join(sorted(RESERVED_COLUMNS))})",
                )
            )
        if metric.lower() in keys:
            problems.append(
                (
                    path,
                    f"metric name '{metric}' is also a group_by key; the "
                    "result table would have two columns of that name",
                )
            )
        try:
            parsed = parse_metric(text)
        except MetricError as err:
            problems.append((path, str(err)))
            continue
        if isinstance(parsed, Aggregate):
            if columns is not None and parsed.arg is not None:
                problems += columns.check(parse_expression(parsed.arg), path, f"metric '{metric}'")
        else:
            problems += _post_expr_problems(path, metric, parsed, view)
            post[metric] = parsed.refs
    problems += _cycle_problems(base, post)
    return problems


def _post_expr_problems(path: str, metric: str, parsed: PostExpr, view: ViewSpec) -> list[Problem]:
    if not parsed.refs:
        return [
            (
                path,
                f"metric '{metric}' is a constant; expected an aggregate such as "
                "count() or avg(x), or an expression over other metrics of the view",
            )
        ]
    allowed = {m for m in view.metrics if m != metric} | set(view.group_by)
    if view.window is not None:
        allowed |= {"window_start", "window_end"}
    problems: list[Problem] = []
    for ref in sorted(parsed.refs):
        if ref not in allowed:
            problems.append(
                (
                    path,
                    f"metric '{metric}' reads '{ref}', which is not another "
                    "metric or a group_by key of this view (to aggregate an event "
                    f"field use e.g. avg({ref})); {_choices(ref, allowed)}",
                )
            )
    return problems


def _cycle_problems(base: str, post: Mapping[str, frozenset[str]]) -> list[Problem]:
    problems: list[Problem] = []
    for start in post:
        seen: set[str] = set()
        todo = list(post[start])
        while todo:
            ref = todo.pop()
            if ref == start:
                problems.append(
                    (
                        yaml_path(base, "metrics", start),
                        f"metric '{start}' depends on itself through other metrics",
                    )
                )
                break
            if ref in post and ref not in seen:
                seen.add(ref)
                todo += post[ref]
    return problems


def _view_problems(
    pipeline: Pipeline,
    columns_of: Mapping[str, _Columns],
    broken: Set[tuple[str, str]],
) -> list[Problem]:
    problems: list[Problem] = []
    writers: dict[str, str] = {}
    for name, view in pipeline.views.items():
        base = yaml_path("views", name)
        problems += _check_identifier(base, "view", name)
        table = pipeline.table_of(name)
        table_path = yaml_path(base, "table") if view.table else base
        if view.table is not None:
            problems += _check_identifier(table_path, "result table", view.table)
        if table in writers:
            problems.append(
                (
                    table_path,
                    f"result table '{table}' is already written by view "
                    f"'{writers[table]}'; give this view its own `table:`",
                )
            )
        writers.setdefault(table, name)
        if table in pipeline.tables:
            problems.append(
                (
                    table_path,
                    f"result table '{table}' has the name of a reference "
                    "table; give this view its own `table:`",
                )
            )
        columns = columns_of.get(view.from_)
        if view.from_ not in pipeline.streams and ("streams", view.from_) not in broken:
            problems.append(
                (
                    yaml_path(base, "from"),
                    f"unknown stream '{view.from_}'; {_choices(view.from_, pipeline.streams)}",
                )
            )
        problems += _window_problems(base, view)
        problems += _group_by_problems(base, view, columns)
        if view.where is not None:
            problems += _parse_row_expression(
                view.where, columns, yaml_path(base, "where"), "where"
            )
        problems += _metric_problems(base, view, columns)
    return problems


def _group_by_problems(base: str, view: ViewSpec, columns: _Columns | None) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, key in enumerate(view.group_by):
        path = yaml_path(base, "group_by", index)
        problems += _check_identifier(path, "group_by column", key)
        if key in seen:
            problems.append((path, f"group_by column '{key}' is listed twice"))
        seen.add(key)
        if key in RESERVED_COLUMNS:
            problems.append((path, f"'{key}' is a column the engine adds; it cannot be a key"))
        elif columns is not None and columns.complete and key.lower() not in columns.known:
            problems.append(
                (
                    path,
                    f"group_by column '{key}' is not a column of stream "
                    f"'{columns.stream}'; {_choices(key, columns.known)}",
                )
            )
    return problems


def _topic_problems(pipeline: Pipeline) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    for name, stream in pipeline.streams.items():
        topic = stream.topic or name
        if topic in owners:
            problems.append(
                (
                    yaml_path("streams", name, "topic"),
                    f"topic '{topic}' is "
                    f"already used by stream '{owners[topic]}'; each stream needs "
                    "its own topic",
                )
            )
        owners.setdefault(topic, name)
    return problems


def validate(pipeline: Pipeline, *, broken: Set[tuple[str, str]] = frozenset()) -> list[Problem]:
    """Every cross-reference problem of `pipeline` as (yaml path, message); [] if none.

    `broken` names entries, as (section, name), that failed to parse (their problems
    are reported already): references to them, and unknown columns of a broken stream
    that is present in a repaired form, are not reported again.
    """
    problems: list[Problem] = []
    columns_of: dict[str, _Columns] = {}
    for name, stream in pipeline.streams.items():
        stream_problems, columns = _stream_problems(pipeline, name, stream, broken)
        problems += stream_problems
        columns_of[name] = columns
    problems += _topic_problems(pipeline)
    problems += _table_problems(pipeline)
    problems += _view_problems(pipeline, columns_of, broken)
    from streamdash.spec.alerts import alert_problems
    from streamdash.spec.dashboards import dashboard_problems
    from streamdash.spec.sinks import sink_problems

    problems += dashboard_problems(pipeline)
    problems += alert_problems(pipeline)
    problems += sink_problems(pipeline)
    if pipeline.log == "kafka":
        from streamdash.spec.kafka import kafka_problems

        problems += kafka_problems(pipeline)
    return problems


__all__ = ["PSEUDO_COLUMNS", "RESERVED_COLUMNS", "Problem", "validate", "yaml_path"]
