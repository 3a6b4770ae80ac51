"""The Sensor Logger app's HTTP push body, turned into one flat event per reading.

Body: `{"messageId": int, "sessionId": str, "deviceId": str, "payload": [reading, ...]}`,
reading: `{"name": str, "time": epoch ns, "values": {...}, "accuracy": optional}`.
Event: `device_id`, `session_id`, `message_id`, `sensor`, `time`, `accuracy` (when given), and
every key of `values` as a top-level field. A `values` key that collides with one of those
names is prefixed with `value_`; other extra keys of a reading are kept top-level the same
way (prefix `reading_` on collision). Unknown sensors need no code: their values simply
become fields. A bad reading is rejected on its own; the others are still accepted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from streamdash.ingest.errors import MalformedBody, TooManyInvalid, WrongShape
from streamdash.ingest.validate import EventValidator, Rejection, Validated

_READING_KEYS = frozenset({"name", "time", "values", "accuracy"})


class _Envelope(msgspec.Struct, rename="camel"):
    message_id: int
    session_id: str
    device_id: str
    payload: list[msgspec.Raw]


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_READING = msgspec.json.Decoder(dict[str, Any])


def _free_name(event: dict[str, Any], key: str, prefix: str) -> str:
    while key in event:
        key = prefix + key
    return key


def _reading_to_event(envelope: _Envelope, reading: dict[str, Any]) -> dict[str, Any] | str:
    """The flat event of one reading, or why the reading cannot become one."""
    name = reading.get("name")
    if not isinstance(name, str) or not name:
        return f"reading has no valid `name` (got {name!r:.60}); expected the sensor name string"
    time = reading.get("time")
    if not isinstance(time, int) or isinstance(time, bool):
        return f"reading `time` is {time!r:.60}; expected epoch nanoseconds as an integer"
    event: dict[str, Any] = {
        "device_id": envelope.device_id,
        "session_id": envelope.session_id,
        "message_id": envelope.message_id,
        "sensor": name,
        "time": time,
    }
    if reading.get("accuracy") is not None:
        event["accuracy"] = reading["accuracy"]
    values = reading.get("values")
    if isinstance(values, dict):
        for key, value in values.items():
            event[_free_name(event, key, "value_")] = value
    elif values is not None:  # some sensors may send a list or a number: keep it as is
        event[_free_name(event, "values", "value_")] = values
    for key, value in reading.items():
        if key not in _READING_KEYS:
            event[_free_name(event, key, "reading_")] = value
    return event


def _decode_envelope(body: bytes) -> _Envelope:
    try:
        return _ENVELOPE.decode(body)
    except msgspec.ValidationError as err:
        raise WrongShape(
            f"not a Sensor Logger body: {err}; expected "
            '{"messageId": int, "sessionId": str, "deviceId": str, "payload": [readings]}'
        ) from None
    except (msgspec.DecodeError, RecursionError) as err:
        raise MalformedBody(
            f"body is not valid JSON ({err}); expected a Sensor Logger body"
        ) from None


def sensorlogger_events(body: bytes, validator: EventValidator) -> Validated:
    """Flatten a Sensor Logger body and validate the events against the stream's schema.

    Rejection indexes are positions in `payload` and their `raw` is the reading as sent.
    Raises MalformedBody / WrongShape when the body itself is not a Sensor Logger body.
    """
    envelope = _decode_envelope(body)
    lines: list[bytes] = []
    origin: list[int] = []
    rejections: list[Rejection] = []
    for index, raw in enumerate(envelope.payload):
        try:
            reading = _READING.decode(raw)
        except msgspec.ValidationError as err:
            rejections.append(
                Rejection(index, "invalid", f"reading: {err}; expected an object", bytes(raw))
            )
            continue
        except (msgspec.DecodeError, RecursionError) as err:
            rejections.append(Rejection(index, "malformed", f"reading: {err}", bytes(raw)))
            continue
        event = _reading_to_event(envelope, reading)
        if isinstance(event, str):
            rejections.append(Rejection(index, "invalid", event, bytes(raw)))
            continue
        lines.append(msgspec.json.encode(event))
        origin.append(index)
    if len(rejections) > validator.max_rejections:
        raise TooManyInvalid(
            f"{len(rejections)} readings of this body are invalid (first: "
            f"{rejections[0].detail}); nothing was stored"
        )
    if not lines:
        return Validated(b"", 0, rejections)
    checked = validator.validate_lines(lines)
    for rejection in checked.rejections:
        index = origin[rejection.index]
        sent = bytes(envelope.payload[index])
        rejections.append(Rejection(index, rejection.reason, rejection.detail, sent))
    rejections.sort(key=lambda rejection: rejection.index)
    return Validated(checked.payload, checked.count, rejections)
