"""Reference tables (e.g. `user_demographics`): loaded from a generator, a CSV file or a
PostgreSQL query, typed by the table's schema, and reloaded while the pipeline runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from streamdash.errors import Fatal, StoreUnavailable
from streamdash.spec.models import FieldSpec, TableSpec

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.string(),  # ISO-8601 text; cast in SQL where a time is needed
    "json": pa.string(),
}


def arrow_type(spec: FieldSpec) -> pa.DataType:
    if spec.type == "struct":
        assert spec.fields is not None
        return pa.struct([(name, arrow_type(f)) for name, f in spec.fields.items()])
    return _SCALARS[spec.type]


def arrow_schema(fields: dict[str, FieldSpec]) -> pa.Schema:
    return pa.schema([(name, arrow_type(f)) for name, f in fields.items()])


def load_table(
    name: str,
    spec: TableSpec,
    *,
    version: int = 0,
    base_dir: Path = Path(),
    database_url: str | None = None,
) -> pa.Table:
    """Load a reference table; `version` lets a generator change over refreshes."""
    schema = arrow_schema(spec.schema_)
    source = spec.source
    rows: list[dict[str, Any]]
    if source.generator is not None:
        from streamdash.sources.generators import table_rows

        rows = table_rows(source.generator, count=source.rows, seed=source.seed, version=version)
        table = pa.Table.from_pylist(rows, schema=schema)
    elif source.csv is not None:
        path = (base_dir / source.csv).resolve()
        if not path.is_file():
            raise Fatal(f"table {name!r}: CSV file {path} does not exist")
        options = pacsv.ConvertOptions(column_types=schema, include_columns=schema.names)
        table = pacsv.read_csv(path, convert_options=options)
    else:
        assert source.postgres is not None
        if database_url is None:
            raise Fatal(f"table {name!r} reads PostgreSQL but no database is configured")
        import psycopg
        from psycopg.rows import dict_row

        try:
            with psycopg.connect(database_url, row_factory=dict_row, connect_timeout=5) as conn:
                rows = conn.execute(source.postgres).fetchall()
        except psycopg.OperationalError as err:  # down or still starting: worth a retry
            raise StoreUnavailable(f"table {name!r}: cannot read PostgreSQL: {err}") from err
        table = pa.Table.from_pylist(
            [{k: r.get(k) for k in schema.names} for r in rows], schema=schema
        )
    keys = table.column(spec.key)
    if keys.null_count:
        raise Fatal(f"table {name!r}: {keys.null_count} row(s) have no {spec.key!r}")
    if len(pc.unique(keys)) != len(keys):
        raise Fatal(f"table {name!r}: key {spec.key!r} is not unique")
    return table
