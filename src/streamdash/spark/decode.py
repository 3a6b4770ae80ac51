"""Kafka messages -> typed events, in Spark SQL: the job of ingest validation and of the
engine's decode in one step, since on Spark nothing checked the events before Kafka did.

Each message value is one UTF-8 JSON object. `from_json` parses it against the stream's
schema; `_problem` is NULL for a good event, else why it is not one (the dead-letter
reasons of docs/semantics.md, first failing check wins):

- `too_large`: the value is longer than the stream's `max_event_bytes`;
- `malformed`: the value is not JSON (or the message has no value);
- `invalid`: JSON but not an object; a field of the wrong type; the event time missing,
  unconvertible or outside 1970..2200; a required field missing; a value outside its
  `enum` or longer than its `max_length`.

Event times are converted exactly as in the embedded engine (`engine/decode.py`): integer
arithmetic for integral values (no rounding through doubles), the same double arithmetic
for fractional ones, floor division for nanoseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from streamdash.spark.translate import quote
from streamdash.spec.models import FieldSpec, StreamSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

CORRUPT = "_sd_corrupt"
RAW = "_raw"
"""The message value as sent (bytes): what a dead letter keeps."""
END_OF_2200_US = 7_289_654_400_000_000
"""2201-01-01T00:00:00Z: event times must lie before it (as at ingest)."""
_SPARK_TYPES = {
    "string": "STRING",
    "int32": "INT",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "STRING",
    "json": "STRING",  # Spark keeps an object or array given for a string as its JSON text
}
_UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1}
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def spark_type(spec: FieldSpec) -> str:
    if spec.type == "struct":
        assert spec.fields is not None
        return (
            f"STRUCT<{', '.join(f'{quote(n)}: {spark_type(f)}' for n, f in spec.fields.items())}>"
        )
    return _SPARK_TYPES[spec.type]


def schema_ddl(fields: dict[str, FieldSpec]) -> str:
    """The stream's schema as a Spark DDL string, plus the corrupt-record column."""
    columns = [f"{quote(name)} {spark_type(spec)}" for name, spec in fields.items()]
    return ", ".join([*columns, f"{CORRUPT} STRING"])


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def event_time_sql(spec: StreamSpec) -> str:
    """Spark SQL for the event time in epoch microseconds (NULL if absent or unreadable)."""
    field = quote(spec.time.field)
    kind = spec.schema_[spec.time.field].type
    unit = spec.time.unit
    if unit == "iso8601" or kind in ("string", "timestamp"):
        return f"unix_micros(CAST({field} AS TIMESTAMP))"
    if kind != "float64":
        if unit == "ns":
            return f"({field} DIV 1000 - CASE WHEN {field} % 1000 < 0 THEN 1 ELSE 0 END)"
        return f"try_multiply(CAST({field} AS BIGINT), {_UNIT_US[unit]})"
    # integral doubles exactly through DECIMAL(38, 0); fractional ones in floating point
    whole = f"CAST({field} AS DECIMAL(38, 0))"
    exact = f"floor({whole} / 1000)" if unit == "ns" else f"{whole} * {_UNIT_US[unit]}"
    fraction = f"floor({field} / 1000)" if unit == "ns" else f"round({field} * {_UNIT_US[unit]})"
    return (
        f"CASE WHEN {field} = floor({field}) THEN CAST({exact} AS BIGINT) "
        f"ELSE CAST({fraction} AS BIGINT) END"
    )


def _field_checks(path: str, spec: FieldSpec, parent: str | None) -> Iterator[tuple[str, str]]:
    """(condition that makes an event invalid, reason text) for one field and its children;
    `parent` is the SQL of the enclosing struct (checks apply only where it is present)."""
    column = ".".join(quote(part) for part in path.split("."))
    present = f"{parent} IS NOT NULL AND " if parent else ""
    if not spec.optional:
        yield f"{present}{column} IS NULL", _sql_string(f"missing required field `{path}`")
    if spec.enum is not None:
        allowed = ", ".join(_sql_string(value) for value in spec.enum)
        head = _sql_string(f"`{path}` is ")
        tail = _sql_string(", expected one of " + ", ".join(spec.enum))
        yield (
            f"{column} IS NOT NULL AND {column} NOT IN ({allowed})",
            f"concat({head}, {column}, {tail})",
        )
    if spec.max_length is not None:
        yield (
            f"char_length({column}) > {spec.max_length}",
            _sql_string(f"`{path}` is longer than {spec.max_length} characters (max_length)"),
        )
    for name, child in (spec.fields or {}).items():
        yield from _field_checks(f"{path}.{name}", child, column)


def problem_sql(spec: StreamSpec) -> str:
    """Spark SQL for `_problem`: NULL, or a struct (reason, detail) for a bad event."""
    line = f"CAST({RAW} AS STRING)"
    field = spec.time.field
    unit = "an ISO-8601 date-time" if spec.time.unit == "iso8601" else _UNIT_NAMES[spec.time.unit]
    checks = [
        (f"{RAW} IS NULL", "malformed", _sql_string("empty Kafka message (no value)")),
        (
            f"octet_length({RAW}) > {spec.max_event_bytes}",
            "too_large",
            f"concat('event is ', octet_length({RAW}), "
            f"{_sql_string(f' bytes; the limit is {spec.max_event_bytes} (max_event_bytes)')})",
        ),
        (
            f"{CORRUPT} IS NOT NULL AND get_json_object({line}, '$') IS NULL",
            "malformed",
            _sql_string("not valid JSON"),
        ),
        (
            f"{CORRUPT} IS NOT NULL AND from_json({line}, 'map<string,string>') IS NULL",
            "invalid",
            _sql_string("not a JSON object; expected a JSON object (one event)"),
        ),
        (
            f"{CORRUPT} IS NOT NULL",
            "invalid",
            _sql_string("a field does not have the type the stream's schema gives it"),
        ),
        (
            "_t IS NULL",
            "invalid",
            _sql_string(f"event time `{field}` is missing or not {unit}"),
        ),
        (
            f"_t < 0 OR _t >= {END_OF_2200_US}",
            "invalid",
            _sql_string(f"event time `{field}` is out of range: expected the years 1970..2200"),
        ),
    ]
    for name, field_spec in spec.schema_.items():
        checks += [
            (cond, "invalid", detail) for cond, detail in _field_checks(name, field_spec, None)
        ]
    cases = " ".join(
        f"WHEN {cond} THEN named_struct('reason', '{reason}', 'detail', {detail})"
        for cond, reason, detail in checks
    )
    return f"CASE {cases} END"


def decode(raw: DataFrame, spec: StreamSpec) -> DataFrame:
    """Kafka rows -> one row per message: the schema's fields, `_t` (event time, epoch us),
    `_event_time`, `_ingest_time` (the Kafka timestamp), `_offset`, `_partition`, `_topic`,
    `_raw` (the value as sent), `_problem` and `_good` (1 for a good event, else 0: the
    shape of the source-decoded problems, `source_decode.py`)."""
    from pyspark.sql import functions as sf

    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
    meta = ["_raw", "_ingest_time", "_offset", "_partition", "_topic"]
    # `inline(array(struct(...)))` is an optimisation barrier: without it Spark's optimiser
    # merges the projections and inlines `from_json` into every reference to a field, and
    # in `_problem`'s CASE branches each inlined copy parses the JSON again (measured: 18
    # branches, 21k events/s instead of 130k)
    parsed = raw.select(
        sf.inline(
            sf.array(
                sf.struct(
                    sf.from_json(
                        sf.col("value").cast("string"), schema_ddl(spec.schema_), options
                    ).alias("_sd_event"),
                    sf.col("value").alias(RAW),
                    sf.col("timestamp").alias("_ingest_time"),
                    sf.col("offset").alias("_offset"),
                    sf.col("partition").alias("_partition"),
                    sf.col("topic").alias("_topic"),
                )
            )
        )
    ).select("_sd_event.*", *meta)
    timed = parsed.withColumn("_t", sf.expr(event_time_sql(spec)))
    checked = timed.withColumn("_problem", sf.expr(problem_sql(spec)))
    good = checked.withColumn("_good", sf.expr("CAST(_problem IS NULL AS BIGINT)"))
    return good.withColumn("_event_time", sf.expr("timestamp_micros(_t)")).drop(CORRUPT)
