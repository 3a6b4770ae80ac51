"""Arrow rows -> InfluxDB line protocol (`measurement,tag=v field=1i 1700000000000000000`).

Escaping follows the protocol: measurement names escape commas and spaces; tag keys, tag
values and field keys escape commas, equals signs and spaces; string field values escape
double quotes and backslashes (a line break inside a quoted string is fine). What the
protocol cannot carry is changed, as InfluxDB 1.x parses it (checked against a real
server in the tests): line breaks in names and tags become spaces, a trailing backslash of
a name or tag is dropped (it would escape the separator after it). NULLs and non-finite
floats are left out (the protocol has no null); empty tags are left out too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

_NAME = str.maketrans({",": "\\,", " ": "\\ ", "\n": " ", "\r": " "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": " ", "\r": " "})
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\"})


def measurement(name: str) -> str:
    return name.rstrip("\\").translate(_NAME)


def key(text: str) -> str:
    """A tag key, tag value or field key ("" when nothing representable is left)."""
    return text.rstrip("\\").translate(_KEY)


def _float(value: float) -> str | None:
    return repr(float(value)) if math.isfinite(value) else None


def field_formatter(kind: pa.DataType) -> Callable[[Any], str | None]:
    """How a column's values are written as field values (None: leave the field out)."""
    if pa.types.is_boolean(kind):
        return lambda v: "true" if v else "false"
    if pa.types.is_integer(kind):
        return lambda v: f"{int(v)}i"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return lambda v: _float(float(v))
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return lambda v: f'"{v.isoformat()}"'
    return lambda v: f'"{str(v).translate(_STRING)}"'


def stored_tag(value: Any) -> str | None:
    """The text InfluxDB stores for a tag value (None: the tag is left out)."""
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    text = text.rstrip("\\").replace("\n", " ").replace("\r", " ")
    return text or None


def _tag(value: Any) -> str | None:
    text = stored_tag(value)
    return None if text is None else text.translate(_KEY)


def encode(
    name: str,
    table: pa.Table,
    tags: Sequence[str],
    fields: Sequence[str],
    times_ns: Sequence[int],
    extra: Sequence[tuple[str, Sequence[str]]] = (),
) -> Iterator[str]:
    """One line per row of `table` (at `times_ns[row]`); `extra` are pre-formatted fields
    (name, one value per row) that every line carries, so no line is left without fields."""
    prefix = measurement(name)
    tag_columns = [(key(t), table.column(t).to_pylist()) for t in tags]
    field_columns = [
        (key(f), field_formatter(table.schema.field(f).type), table.column(f).to_pylist())
        for f in fields
    ]
    for row in range(table.num_rows):
        head = [prefix]
        for tag_key, values in tag_columns:
            value = _tag(values[row])
            if value is not None:
                head.append(f"{tag_key}={value}")
        parts = [f"{k}={v}" for k, v in ((k, vs[row]) for k, vs in extra)]
        for field_key, formatter, values in field_columns:
            value = values[row]
            text = None if value is None else formatter(value)
            if text is not None:
                parts.append(f"{field_key}={text}")
        if parts:
            yield f"{','.join(head)} {','.join(parts)} {times_ns[row]}"
