"""A spec with an InfluxDB sink, run as the engine process (`streamdash engine SPEC`) with
the server's URL in STREAMDASH_INFLUXDB_URL: after a kill -9 and a restart, InfluxDB holds
every accepted event once, and the view's rows equal PostgreSQL's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest
from e2e_harness import Deployment
from test_user_stream_e2e import SPEC, readings

from streamdash.testing.influxdb import InfluxServer, influxd_binary

pytestmark = pytest.mark.skipif(
    influxd_binary() is None, reason="Debian `influxdb` is not installed (`make test` installs it)"
)
SINK = """
sinks:
  influx:
    type: influxdb
    database: climate
    inputs:
      - {stream: thermostats, tags: [room, device], fields: [celsius, heating, too_warm]}
      - {view: room_climate, measurement: climate_per_minute}
"""


@pytest.fixture
def influx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InfluxServer]:
    with InfluxServer(tmp_path / "influx") as server:
        monkeypatch.setenv("STREAMDASH_INFLUXDB_URL", server.url)  # the engine inherits it
        yield server


def test_events_and_rows_reach_influxdb_once_across_kill_9(
    influx: InfluxServer, deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    spec = tmp_path / "thermostats_influx.yaml"
    spec.write_text(SPEC.read_text() + SINK)
    d = deployment(spec)
    d.start_api()
    d.start_engine()
    events = readings(1200)
    lines = [msgspec.json.encode(e) for e in events]
    for i in range(0, 600, 100):
        assert d.post_ndjson("thermostats", lines[i : i + 100])["accepted"] == 100
    d.wait_committed(["thermostats"])
    d.kill_engine()  # kill -9 after commits; the posts below are processed by a new engine
    for i in range(600, 1200, 100):
        assert d.post_ndjson("thermostats", lines[i : i + 100])["accepted"] == 100
    d.start_engine()
    d.wait_committed(["thermostats"])

    points = influx.rows("climate", 'SELECT * FROM "thermostats" GROUP BY *')
    assert len(points) == len(events)
    assert sorted(p["log_offset"] for p in points) == list(range(len(events)))
    by_offset = {p["log_offset"]: p for p in points}
    for offset in (0, 599, 600, 1199):
        event, point = events[offset], by_offset[offset]
        assert (point["room"], point["device"]) == (event["room"], event["device"])
        assert point["celsius"] == event["celsius"]
        assert point["too_warm"] == (event["celsius"] > 25)
        assert point.get("heating") == event.get("heating")
        assert point["time"] == event["at"] * 1_000_000 + offset % 1000  # deterministic
    with psycopg.connect(d.database_url) as conn:
        rows = conn.execute(
            "SELECT (extract(epoch FROM window_start) * 1e9)::bigint, room, readings, "
            "avg_celsius, devices FROM room_climate"
        ).fetchall()
    got = {
        (p["time"], p["room"]): p
        for p in influx.rows("climate", 'SELECT * FROM "climate_per_minute" GROUP BY *')
    }
    assert len(got) == len(rows) > 3
    for t, room, count, avg, devices in rows:
        assert got[(t, room)]["readings"] == count
        assert got[(t, room)]["avg_celsius"] == pytest.approx(avg)
        assert got[(t, room)]["devices"] == devices
