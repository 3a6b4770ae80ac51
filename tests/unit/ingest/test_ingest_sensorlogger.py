from __future__ import annotations

from typing import Any

import msgspec
import pytest

from streamdash.ingest.errors import MalformedBody, WrongShape
from streamdash.ingest.sensorlogger import sensorlogger_events
from streamdash.ingest.validate import EventValidator
from streamdash.spec.loader import load_builtin
from streamdash.spec.models import Pipeline

T0 = 1_717_171_717_123_456_789


def body(
    payload: list[Any], device: str = "phone-1", session: str = "s-1", message: int = 0
) -> bytes:
    envelope = {"messageId": message, "sessionId": session, "deviceId": device, "payload": payload}
    return msgspec.json.encode(envelope)


def events(payload: bytes) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in payload.splitlines()]


@pytest.fixture
def sensor(pipeline: Pipeline) -> EventValidator:
    return EventValidator("sensor", pipeline.streams["sensor"])


def test_readings_become_flat_events(sensor: EventValidator) -> None:
    result = sensorlogger_events(
        body(
            [
                {
                    "name": "accelerometer",
                    "time": T0,
                    "accuracy": 3,
                    "values": {"x": 0.1, "y": 9.8, "z": 0.2},
                },
                {"name": "microphone", "time": T0 + 1, "values": {"dBFS": -45.5}},
                {
                    "name": "battery",
                    "time": T0 + 2,
                    "values": {"batteryLevel": 0.8, "batteryState": "unplugged", "lowPower": False},
                },
            ],
            message=7,
        ),
        sensor,
    )
    assert (result.count, result.rejections) == (3, [])
    envelope = {"device_id": "phone-1", "session_id": "s-1", "message_id": 7}
    assert events(result.payload) == [
        {
            **envelope,
            "sensor": "accelerometer",
            "time": T0,
            "accuracy": 3,
            "x": 0.1,
            "y": 9.8,
            "z": 0.2,
        },
        {**envelope, "sensor": "microphone", "time": T0 + 1, "dBFS": -45.5},
        {
            **envelope,
            "sensor": "battery",
            "time": T0 + 2,
            "batteryLevel": 0.8,
            "batteryState": "unplugged",
            "lowPower": False,
        },
    ]


def test_unknown_sensors_extra_keys_and_collisions_are_kept(sensor: EventValidator) -> None:
    reading = {
        "name": "heart_rate_v9",
        "time": T0,
        "values": {"bpm": 61, "sensor": "chest", "time": 5, "nested": {"a": [1]}},
        "source": "watch",
    }
    [event] = events(sensorlogger_events(body([reading]), sensor).payload)
    assert event["sensor"] == "heart_rate_v9"
    assert event["time"] == T0
    assert (event["value_sensor"], event["value_time"]) == ("chest", 5)
    assert (event["bpm"], event["nested"], event["source"]) == (61, {"a": [1]}, "watch")
    assert "accuracy" not in event


def test_bad_readings_are_rejected_alone(sensor: EventValidator) -> None:
    payload = [
        {"name": "gyroscope", "time": T0, "values": {"x": 1, "y": 2, "z": 3}},
        {"time": T0, "values": {"x": 1}},  # no name
        {"name": "gyroscope", "time": "now"},  # time not an int
        {"name": "gyroscope", "time": T0, "values": {"x": "fast"}},  # x must be float64
        "not a reading",
        {"name": "gyroscope", "time": -5},  # before 1970
        {"name": "gravity", "time": T0 + 9, "values": {"x": 0, "y": 0, "z": 9.81}},
    ]
    result = sensorlogger_events(body(payload), sensor)
    assert [e["sensor"] for e in events(result.payload)] == ["gyroscope", "gravity"]
    assert [(r.index, r.reason) for r in result.rejections] == [
        (1, "invalid"),
        (2, "invalid"),
        (3, "invalid"),
        (4, "invalid"),
        (5, "invalid"),
    ]
    assert "name" in result.rejections[0].detail
    assert "time" in result.rejections[1].detail
    assert "$.x" in result.rejections[2].detail
    assert result.rejections[3].raw == b'"not a reading"'
    assert msgspec.json.decode(result.rejections[4].raw) == payload[5]  # the reading as sent


def test_several_devices_and_sessions_in_sequence(sensor: EventValidator) -> None:
    seen = []
    for message, (device, session) in enumerate([("a", "s1"), ("b", "s9"), ("a", "s2")]):
        reading = {"name": "light", "time": T0 + message, "values": {"lux": 100 + message}}
        result = sensorlogger_events(body([reading], device, session, message), sensor)
        seen += [(e["device_id"], e["session_id"], e["message_id"]) for e in events(result.payload)]
    assert seen == [("a", "s1", 0), ("b", "s9", 1), ("a", "s2", 2)]


def test_empty_payload_is_fine(sensor: EventValidator) -> None:
    result = sensorlogger_events(body([]), sensor)
    assert (result.payload, result.count, result.rejections) == (b"", 0, [])


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{nope", MalformedBody),
        (b"[]", WrongShape),
        (b'{"messageId": 1, "sessionId": "s", "payload": []}', WrongShape),
        (b'{"messageId": "1", "sessionId": "s", "deviceId": "d", "payload": []}', WrongShape),
        (b'{"messageId": 1, "sessionId": "s", "deviceId": "d", "payload": {}}', WrongShape),
    ],
)
def test_not_a_sensorlogger_body(
    sensor: EventValidator, raw: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        sensorlogger_events(raw, sensor)


def test_builtin_sensor_spec_accepts_the_apps_readings() -> None:
    validator = EventValidator("sensor", load_builtin("sensor").streams["sensor"])
    payload = [
        {
            "name": "orientation",
            "time": T0,
            "values": {"qz": 0.1, "qy": 0.2, "qx": 0.3, "qw": 0.9, "roll": 1, "pitch": 2, "yaw": 3},
        },
        {
            "name": "location",
            "time": T0,
            "values": {
                "latitude": 52.1,
                "longitude": 4.3,
                "altitude": 3,
                "speed": 0,
                "bearing": 0,
                "horizontalAccuracy": 5,
                "verticalAccuracy": 3,
                "bearingAccuracy": 0,
                "speedAccuracy": 0,
            },
        },
        {
            "name": "battery",
            "time": T0,
            "values": {"batteryLevel": 0.5, "batteryState": "charging"},
        },
        {"name": "barometer", "time": T0, "values": {"pressure": 1013.2, "relativeAltitude": 0.1}},
        {"name": "pedometer", "time": T0, "values": {"steps": 12}},
        {
            "name": "magnetometeruncalibrated",
            "time": T0,
            "accuracy": 0,
            "values": {"x": 1, "y": 2, "z": 3},
        },
    ]
    result = sensorlogger_events(body(payload), validator)
    assert (result.count, result.rejections) == (len(payload), [])
