"""One Kafka message value -> one JSON event line, or the reason it cannot be one.

A value must be one JSON document (pretty-printed is fine: its line breaks are whitespace
and are taken out, so a value never splits into two events) or, for `format: avro`
streams, one Confluent-framed Avro record. A null value (a tombstone), a value over the
stream's `max_event_bytes`, and a value that is not in the stream's format are
`Undecodable`, with a dead-letter reason. Whether the JSON is an event of the stream's
schema is checked afterwards, in bulk (ingest's validator).

No engine imports: the Spark runner can use this module as it is.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from streamdash.kafka.avro import AvroError, ConfluentAvro

Reason = Literal["malformed", "invalid", "too_large"]


class Undecodable(ValueError):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


class ValueDecoder:
    """`line(value)` for the messages of one stream."""

    def __init__(self, *, max_event_bytes: int, avro: ConfluentAvro | None = None) -> None:
        self.max_event_bytes = max_event_bytes
        self.avro = avro

    def line(self, value: bytes | None) -> bytes:
        if value is None:
            raise Undecodable("malformed", "tombstone: the message has no value (null)")
        if len(value) > self.max_event_bytes:
            raise Undecodable(
                "too_large",
                f"message value is {len(value)} bytes; the stream's limit is "
                f"{self.max_event_bytes} (max_event_bytes)",
            )
        if self.avro is not None:
            try:
                return self.avro.line(value)
            except AvroError as err:
                reason: Reason = "invalid" if err.reason == "invalid" else "malformed"
                raise Undecodable(reason, err.detail) from None
        if b"\n" in value or b"\r" in value:
            try:  # pretty-printed JSON: compact it onto one line
                return msgspec.json.format(value, indent=-1)
            except msgspec.DecodeError as err:
                raise Undecodable("malformed", f"not valid JSON: {err}"[:500]) from None
        if value[:1] == b"\x00":
            raise Undecodable(
                "malformed", "looks like Confluent-framed Avro (magic byte 0) on a json stream"
            )
        return value
