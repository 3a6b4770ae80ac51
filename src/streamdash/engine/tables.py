"""Reference tables (the right side of stream-table joins) as DuckDB tables."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from streamdash.engine.identifiers import quote
from streamdash.results import arrow_timestamp
from streamdash.spec.models import FieldSpec

_ARROW = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": arrow_timestamp(),
    "json": pa.string(),
}


def arrow_type_of(field: FieldSpec) -> pa.DataType:
    if field.type == "struct":
        assert field.fields is not None
        return pa.struct([(n, arrow_type_of(f)) for n, f in field.fields.items()])
    return _ARROW[field.type]


def arrow_schema_of(fields: dict[str, FieldSpec]) -> pa.Schema:
    return pa.schema([(name, arrow_type_of(f)) for name, f in fields.items()])


def load_reference(con: duckdb.DuckDBPyConnection, name: str, key: str, table: pa.Table) -> None:
    """Copy `table` into DuckDB as `name`, one row per key (the last one given): a left
    join with duplicate keys would silently count an event several times."""
    con.register("_incoming", table)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {name} AS SELECT * EXCLUDE (_rn) FROM ("
            f"SELECT *, row_number() OVER () AS _rn FROM _incoming) "
            f"QUALIFY _rn = max(_rn) OVER (PARTITION BY {quote(key)})"
        )
    finally:
        con.unregister("_incoming")
