"""Message keys from events: the value of the stream's `key` field, as the seeds keyed
their topics (user_events by user_id...). One field is decoded per event, the rest of the
event is skipped by msgspec without building Python objects."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec


class MessageKeys:
    """`keys(lines)` -> the key of each JSON event line (None when it has no such field).

    A string key is its UTF-8 text; any other JSON value its JSON text (`17`, `true`), so
    events with equal keys get equal message keys, hence one partition."""

    def __init__(self, field: str | None) -> None:
        self.field = field
        if field is not None:
            holder = msgspec.defstruct(
                "KeyHolder", [("value", msgspec.Raw, msgspec.Raw(b"null"))], rename={"value": field}
            )
            self._decoder: msgspec.json.Decoder[object] = msgspec.json.Decoder(holder)

    def keys(self, lines: Sequence[bytes]) -> list[bytes | None]:
        if self.field is None:
            return [None] * len(lines)
        return [self._key(line) for line in lines]

    def _key(self, line: bytes) -> bytes | None:
        try:
            raw = self._decoder.decode(line).value  # type: ignore[attr-defined]
        except msgspec.DecodeError:  # not an object: no key (ingest validated it anyway)
            return None
        text = bytes(raw)
        if text.startswith(b'"'):
            return str(msgspec.json.decode(text)).encode()
        return None if text == b"null" else text
