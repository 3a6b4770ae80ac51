"""sensor items are Sensor Logger app push bodies, exactly in the app's format."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from typing import Any

import msgspec
import pytest

from streamdash.sources.generators import generate

START_US = 1_700_000_000_000_000
INT64_MAX = 2**63 - 1
VALUE_KEYS = {
    "accelerometer": {"x", "y", "z"},
    "gravity": {"x", "y", "z"},
    "gyroscope": {"x", "y", "z"},
    "magnetometer": {"x", "y", "z"},
    "gyroscopeuncalibrated": {"x", "y", "z"},
    "magnetometeruncalibrated": {"x", "y", "z"},
    "orientation": {"yaw", "pitch", "roll", "qw", "qx", "qy", "qz"},
    "barometer": {"pressure", "relativeAltitude"},
    "microphone": {"dBFS"},
    "battery": {"batteryLevel", "batteryState"},
    "pedometer": {"steps"},
    "light": {"lux"},
}
LOCATION_KEYS = {
    "latitude",
    "longitude",
    "altitude",
    "speed",
    "bearing",
    "horizontalAccuracy",
    "verticalAccuracy",
}


@pytest.fixture(scope="module")
def bodies() -> list[dict[str, Any]]:
    lines = generate("sensor", count=3000, seed=4, start_us=START_US, rate=2.0)
    return [msgspec.json.decode(line) for line in lines]


def readings(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [reading for body in bodies for reading in body["payload"]]


def test_body_has_exactly_the_app_keys(bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        assert list(body) == ["messageId", "sessionId", "deviceId", "payload"]
        assert isinstance(body["messageId"], int)
        assert isinstance(body["sessionId"], str) and isinstance(body["deviceId"], str)
        assert len(body["payload"]) >= 4


def test_readings_have_name_ns_time_values_and_optional_int_accuracy(
    bodies: list[dict[str, Any]],
) -> None:
    with_accuracy = 0
    for reading in readings(bodies):
        assert set(reading) in ({"name", "time", "values"}, {"name", "time", "values", "accuracy"})
        assert isinstance(reading["name"], str)
        assert isinstance(reading["time"], int) and 0 < reading["time"] <= INT64_MAX
        assert abs(reading["time"] - START_US * 1000) < 3600 * 10**9 * 2
        if "accuracy" in reading:
            assert isinstance(reading["accuracy"], int) and 0 <= reading["accuracy"] <= 3
            with_accuracy += 1
    assert with_accuracy > 0


def test_known_sensors_carry_their_value_keys(bodies: list[dict[str, Any]]) -> None:
    seen: Counter[str] = Counter()
    for reading in readings(bodies):
        name, values = reading["name"], reading["values"]
        seen[name] += 1
        if name in VALUE_KEYS:
            assert set(values) == VALUE_KEYS[name], reading
        elif name == "location":
            # The app sends more location keys than product.md lists: kept downstream.
            assert set(values) > LOCATION_KEYS
    assert set(VALUE_KEYS) | {"location"} <= set(seen)


def test_unknown_sensors_appear_now_and_then(bodies: list[dict[str, Any]]) -> None:
    unknown = [
        r for r in readings(bodies) if r["name"] not in VALUE_KEYS and r["name"] != "location"
    ]
    assert 0.02 < len(unknown) / len(bodies) < 0.1
    assert all(r["values"] for r in unknown)


def test_two_or_three_devices_each_with_one_session_and_increasing_message_ids(
    bodies: list[dict[str, Any]],
) -> None:
    message_ids: dict[str, list[int]] = defaultdict(list)
    sessions: dict[str, set[str]] = defaultdict(set)
    for body in bodies:
        message_ids[body["deviceId"]].append(body["messageId"])
        sessions[body["deviceId"]].add(body["sessionId"])
    assert 2 <= len(message_ids) <= 3
    for device, ids in message_ids.items():
        assert ids == list(range(len(ids)))
        assert len(sessions[device]) == 1


def test_orientation_quaternion_is_a_unit_quaternion(bodies: list[dict[str, Any]]) -> None:
    for reading in readings(bodies):
        if reading["name"] == "orientation":
            v = reading["values"]
            assert math.isclose(math.hypot(v["qw"], v["qx"], v["qy"], v["qz"]), 1.0, abs_tol=1e-5)


def test_location_is_a_plausible_walking_track(bodies: list[dict[str, Any]]) -> None:
    tracks: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for body in bodies:
        for reading in body["payload"]:
            if reading["name"] == "location":
                v = reading["values"]
                tracks[body["deviceId"]].append((reading["time"], v["latitude"], v["longitude"]))
    for track in tracks.values():
        assert len(track) > 50
        for (t0, lat0, lon0), (t1, lat1, lon1) in itertools.pairwise(track):
            metres = math.hypot(
                (lat1 - lat0) * 111_320, (lon1 - lon0) * 111_320 * math.cos(math.radians(lat0))
            )
            seconds = (t1 - t0) / 1e9
            assert metres <= 4.0 * max(seconds, 1.0), "faster than a brisk walk"
        start, end = track[0], track[-1]
        assert (start[1], start[2]) != (end[1], end[2]), "the phone moves"


def test_readings_of_a_body_lie_within_the_push_interval(bodies: list[dict[str, Any]]) -> None:
    for index, body in enumerate(bodies[:300]):
        body_ns = (START_US + index * 500_000) * 1000
        for reading in body["payload"]:
            assert body_ns - 10**9 <= reading["time"] <= body_ns
