"""`sensor`: Sensor Logger app HTTP push bodies from 2-3 simulated phones.

One item is one request body, exactly as the app posts it (see product.md):
`{"messageId", "sessionId", "deviceId", "payload": [{"name", "time" (epoch ns), "values",
"accuracy"?}, ...]}`. Phones take turns; each body carries several readings per motion
sensor plus, now and then, location (a walking track), barometer, microphone, battery,
pedometer, light, uncalibrated variants and a sensor streamdash does not know, because
the app adds sensors over time and unknown ones must pass through intact.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from streamdash.sources.generators.faults import FaultTargets, malform
from streamdash.sources.generators.options import GeneratorOptions
from streamdash.sources.generators.plan import item_batches
from streamdash.sources.generators.seeding import python_rng

STREAM = "sensor"

MOTION_SENSORS = ("accelerometer", "gravity", "gyroscope", "orientation")
"""In every body, with 1-3 samples each: phones sample these fastest."""
OCCASIONAL_SENSORS = (
    ("magnetometer", 0.6),
    ("location", 0.4),
    ("barometer", 0.3),
    ("microphone", 0.3),
    ("light", 0.2),
    ("pedometer", 0.15),
    ("battery", 0.1),
    ("magnetometeruncalibrated", 0.1),
    ("gyroscopeuncalibrated", 0.1),
)
UNKNOWN_SENSOR_SHARE = 0.05
"""Share of bodies with a reading of a sensor not in product.md, with keys of its own."""
MAX_SPREAD_NS = 1_000_000_000
"""Readings of a body lie within the interval since the phone's previous body, at most 1 s."""
GRAVITY = 9.80665
START_POINTS = ((51.5074, -0.1278), (48.8566, 2.3522), (40.7128, -74.0060), (52.5200, 13.4050))

FAULT_TARGETS = FaultTargets(
    time_path=("payload", 0, "time"),
    int_path=("messageId",),
    text_path=("deviceId",),
)


@dataclass(slots=True)
class _Phone:
    """The evolving state of one simulated phone (local to one generator run)."""

    device_id: str
    session_id: str
    message_id: int
    latitude: float
    longitude: float
    altitude: float
    bearing: float
    yaw: float
    pitch: float
    roll: float
    battery: float
    steps: int


def generate_sensor(options: GeneratorOptions) -> Iterator[bytes]:
    """Yield Sensor Logger bodies; `options.count` counts bodies, not readings."""
    rng = python_rng(options.seed, STREAM, "content")
    detail = python_rng(options.seed, STREAM, "fault-detail")
    phones = [_new_phone(rng) for _ in range(rng.choice((2, 3)))]
    # Phones take turns, so each one pushes once per len(phones) items.
    phone_step_s = len(phones) / options.rate
    spread_ns = min(round(phone_step_s * 1e9), MAX_SPREAD_NS)
    for batch in item_batches(options, STREAM, FAULT_TARGETS.kinds):
        for offset, (time_us, fault) in enumerate(
            zip(batch.times_us.tolist(), batch.faults, strict=True)
        ):
            phone = phones[(batch.first + offset) % len(phones)]
            _advance(phone, phone_step_s, rng)
            body = _body(phone, time_us * 1000, spread_ns, rng)
            if fault is None:
                yield msgspec.json.encode(body)
            else:
                yield malform(body, fault, FAULT_TARGETS, detail)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _new_phone(rng: random.Random) -> _Phone:
    latitude, longitude = rng.choice(START_POINTS)
    return _Phone(
        device_id=_uuid(rng),
        session_id=_uuid(rng),
        message_id=0,
        latitude=latitude + rng.uniform(-0.01, 0.01),
        longitude=longitude + rng.uniform(-0.01, 0.01),
        altitude=rng.uniform(20.0, 80.0),
        bearing=rng.uniform(0.0, 360.0),
        yaw=rng.uniform(-math.pi, math.pi),
        pitch=rng.uniform(-0.3, 0.3),
        roll=rng.uniform(-0.3, 0.3),
        battery=rng.uniform(0.5, 1.0),
        steps=0,
    )


def _advance(phone: _Phone, seconds: float, rng: random.Random) -> None:
    """Walk the phone on for `seconds`: position, heading, attitude, battery, steps."""
    speed = max(0.0, rng.gauss(1.4, 0.3))
    distance = speed * seconds
    phone.bearing = (phone.bearing + rng.gauss(0.0, 5.0)) % 360.0
    heading = math.radians(phone.bearing)
    phone.latitude += distance * math.cos(heading) / 111_320.0
    phone.longitude += (
        distance * math.sin(heading) / (111_320.0 * math.cos(math.radians(phone.latitude)))
    )
    phone.altitude += rng.gauss(0.0, 0.05)
    phone.yaw = (phone.yaw + rng.gauss(0.0, 0.02) + math.pi) % (2 * math.pi) - math.pi
    phone.pitch = max(-1.2, min(1.2, phone.pitch + rng.gauss(0.0, 0.01)))
    phone.roll = max(-1.2, min(1.2, phone.roll + rng.gauss(0.0, 0.01)))
    phone.battery = max(0.05, phone.battery - 2e-6 * seconds)
    phone.steps += round(speed * seconds / 0.75)


def _body(phone: _Phone, time_ns: int, spread_ns: int, rng: random.Random) -> dict[str, Any]:
    readings: list[dict[str, Any]] = []
    for name in MOTION_SENSORS:
        samples = rng.randint(1, 3)
        for k in range(samples):
            sample_ns = time_ns - spread_ns + (k + 1) * spread_ns // samples
            readings.append(_reading(name, sample_ns, _values(name, phone, rng), rng))
    for name, share in OCCASIONAL_SENSORS:
        if rng.random() < share:
            sample_ns = time_ns - rng.randrange(spread_ns + 1)
            readings.append(_reading(name, sample_ns, _values(name, phone, rng), rng))
    if rng.random() < UNKNOWN_SENSOR_SHARE:
        name, values = _unknown_sensor(rng)
        readings.append(_reading(name, time_ns - rng.randrange(spread_ns + 1), values, rng))
    phone.message_id += 1
    return {
        "messageId": phone.message_id - 1,
        "sessionId": phone.session_id,
        "deviceId": phone.device_id,
        "payload": readings,
    }


def _reading(name: str, time_ns: int, values: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    reading: dict[str, Any] = {"name": name, "time": time_ns, "values": values}
    # Android reports a calibration accuracy (0-3) for some sensors; iOS leaves it out.
    if name.startswith("magnetometer") or (name == "accelerometer" and rng.random() < 0.5):
        reading["accuracy"] = rng.randint(0, 3)
    return reading


def _xyz(x: float, y: float, z: float) -> dict[str, float]:
    return {"x": round(x, 6), "y": round(y, 6), "z": round(z, 6)}


def _values(name: str, phone: _Phone, rng: random.Random) -> dict[str, Any]:
    gauss = rng.gauss
    if name == "accelerometer":
        # User acceleration (gravity removed), with a walking bounce on z.
        return _xyz(gauss(0, 0.3), gauss(0, 0.3), gauss(0, 0.3) + 0.8 * math.sin(phone.steps))
    if name == "gravity":
        g, p, r = GRAVITY, phone.pitch, phone.roll
        return _xyz(-g * math.sin(r) * math.cos(p), g * math.sin(p), -g * math.cos(r) * math.cos(p))
    if name.startswith("gyroscope"):
        bias = 0.02 if name.endswith("uncalibrated") else 0.0
        return _xyz(gauss(bias, 0.15), gauss(bias, 0.15), gauss(bias, 0.15))
    if name.startswith("magnetometer"):
        bias = 12.0 if name.endswith("uncalibrated") else 0.0
        return _xyz(gauss(20 + bias, 1.5), gauss(-5 + bias, 1.5), gauss(-40 + bias, 1.5))
    if name == "orientation":
        return _orientation(phone.yaw, phone.pitch, phone.roll)
    if name == "location":
        return _location(phone, rng)
    if name == "barometer":
        relative = phone.altitude - 50.0
        return {
            "pressure": round(1013.25 - phone.altitude / 8.3 + gauss(0, 0.05), 4),
            "relativeAltitude": round(relative, 3),
        }
    if name == "microphone":
        return {"dBFS": round(min(0.0, gauss(-38.0, 8.0)), 2)}
    if name == "light":
        return {"lux": round(rng.lognormvariate(5.0, 1.0), 2)}
    if name == "pedometer":
        return {"steps": phone.steps}
    if name == "battery":
        state = "charging" if phone.battery <= 0.05 else "unplugged"
        return {"batteryLevel": round(phone.battery, 4), "batteryState": state}
    raise ValueError(f"no value model for sensor {name!r}; expected one of the known sensors")


def _orientation(yaw: float, pitch: float, roll: float) -> dict[str, float]:
    """Euler angles and the matching unit quaternion (Z-Y-X order), as the app reports."""
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    angles = {
        "yaw": yaw,
        "pitch": pitch,
        "roll": roll,
        "qw": cr * cp * cy + sr * sp * sy,
        "qx": sr * cp * cy - cr * sp * sy,
        "qy": cr * sp * cy + sr * cp * sy,
        "qz": cr * cp * sy - sr * sp * cy,
    }
    return {key: round(value, 6) for key, value in angles.items()}


def _location(phone: _Phone, rng: random.Random) -> dict[str, float]:
    # Beyond the keys product.md lists, the app sends more; they must be kept downstream.
    return {
        "latitude": round(phone.latitude, 7),
        "longitude": round(phone.longitude, 7),
        "altitude": round(phone.altitude, 2),
        "speed": round(max(0.0, rng.gauss(1.4, 0.3)), 3),
        "bearing": round(phone.bearing, 2),
        "horizontalAccuracy": round(rng.uniform(3.0, 15.0), 2),
        "verticalAccuracy": round(rng.uniform(2.0, 10.0), 2),
        "speedAccuracy": round(rng.uniform(0.2, 1.5), 2),
        "bearingAccuracy": round(rng.uniform(5.0, 30.0), 2),
        "altitudeAboveMeanSeaLevel": round(phone.altitude - 0.5, 2),
    }


def _unknown_sensor(rng: random.Random) -> tuple[str, dict[str, Any]]:
    if rng.random() < 0.5:
        return "compass", {"magneticBearing": round(rng.uniform(0.0, 360.0), 2)}
    return "heartrate", {"bpm": rng.randint(55, 150), "confidence": rng.choice(("low", "high"))}
