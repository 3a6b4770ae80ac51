"""Avro message values in the Confluent wire format: byte 0 is 0 (the magic byte), bytes
1-4 the writer schema's id (big-endian), the rest one Avro-encoded record. The schema is
looked up by its id — in a Confluent-compatible schema registry (`GET /schemas/ids/<id>`)
or in a directory of `<id>.avsc` files — and each record becomes one JSON event line.

No engine imports: the Spark runner can decode the same messages with this module.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from streamdash.errors import MissingExtra

MAGIC = 0
HEADER = struct.Struct(">bI")
USER_EVENT_SCHEMA = "user_event.avsc"


def builtin_schema_text(name: str = USER_EVENT_SCHEMA) -> str:
    """The text of a schema shipped with streamdash (the seed's `UserEvent`)."""
    return resources.files("streamdash.spec").joinpath("builtin", name).read_text("utf-8")


class AvroError(ValueError):
    """A value that is not a readable Confluent-framed Avro record; `reason` is a dead-letter
    reason (`malformed`: not this format or a broken record; `invalid`: unknown schema)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _fastavro() -> Any:
    try:
        import fastavro
    except ImportError:
        raise MissingExtra("fastavro", "kafka") from None
    return fastavro


def directory_lookup(directory: Path) -> Callable[[int], str | None]:
    def lookup(schema_id: int) -> str | None:
        path = directory / f"{schema_id}.avsc"
        return path.read_text("utf-8") if path.is_file() else None

    return lookup


def registry_lookup(url: str, timeout_s: float = 5.0) -> Callable[[int], str | None]:
    """Schema texts from a Confluent-compatible registry; None for an id it does not know.
    An unreachable registry raises (the consumer retries the batch rather than dead-letter
    good messages)."""
    import httpx

    base = url.rstrip("/")

    def lookup(schema_id: int) -> str | None:
        response = httpx.get(f"{base}/schemas/ids/{schema_id}", timeout=timeout_s)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return str(response.json()["schema"])

    return lookup


class ConfluentAvro:
    """Decodes Confluent-framed Avro values to JSON lines; schemas are parsed once per id."""

    def __init__(self, lookup: Callable[[int], str | None]) -> None:
        self._lookup = lookup
        self._schemas: dict[int, Any] = {}
        self._missing: set[int] = set()

    def _schema(self, schema_id: int) -> Any:
        if schema_id in self._schemas:
            return self._schemas[schema_id]
        if schema_id in self._missing:
            raise AvroError("invalid", f"unknown Avro schema id {schema_id}")
        text = self._lookup(schema_id)
        if text is None:
            self._missing.add(schema_id)
            raise AvroError("invalid", f"unknown Avro schema id {schema_id}")
        try:
            parsed = _fastavro().parse_schema(json.loads(text))
        except (ValueError, KeyError, TypeError) as err:
            raise AvroError("invalid", f"Avro schema {schema_id} does not parse: {err}") from None
        self._schemas[schema_id] = parsed
        return parsed

    def line(self, value: bytes) -> bytes:
        """One JSON object for one framed record; AvroError says what is wrong."""
        if len(value) < HEADER.size or value[0] != MAGIC:
            raise AvroError(
                "malformed",
                "not Confluent-framed Avro (expected magic byte 0 and a 4-byte schema id)",
            )
        _, schema_id = HEADER.unpack_from(value)
        schema = self._schema(schema_id)
        body = io.BytesIO(value[HEADER.size :])
        try:
            record = _fastavro().schemaless_reader(body, schema, None)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, struct.error) as err:
            raise AvroError(
                "malformed", f"Avro record (schema {schema_id}) does not decode: {err or 'EOF'}"
            ) from None
        left = len(value) - HEADER.size - body.tell()
        if left:
            raise AvroError(
                "malformed", f"{left} byte(s) after the Avro record (schema {schema_id})"
            )
        if not isinstance(record, dict):
            raise AvroError("invalid", f"schema {schema_id} is not an Avro record")
        return msgspec.json.encode(record)


def encode_framed(schema_id: int, schema_text: str, record: dict[str, Any]) -> bytes:
    """A record in the Confluent wire format (for producers and tests)."""
    fastavro = _fastavro()
    out = io.BytesIO()
    out.write(HEADER.pack(MAGIC, schema_id))
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(schema_text)), record)
    return out.getvalue()
