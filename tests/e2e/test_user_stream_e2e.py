"""A user-defined stream end to end, from a YAML file and nothing else: `streamdash run SPEC`
as a subprocess, events over HTTP, results checked in the JSON API and in PostgreSQL
against values computed here independently."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

SPEC = Path(__file__).parents[1] / "fixtures" / "specs" / "thermostats.yaml"
BASE_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z, a window boundary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readings(n: int) -> list[dict[str, Any]]:
    rng = random.Random(5)
    out = []
    for i in range(n):
        event: dict[str, Any] = {
            "room": rng.choice(["kitchen", "hall", "attic"]),
            "device": f"dev-{rng.randrange(4)}",
            "at": BASE_MS + i * 250,  # in order: 4 per second over 3 one-minute windows
            "celsius": round(rng.uniform(18, 30), 2),
        }
        if i % 3:
            event["heating"] = i % 2 == 0
        out.append(event)
    return out


def expected_rows(events: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(window_start ISO, room) -> the view's metrics, computed in plain Python."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        start_ms = e["at"] - e["at"] % 60_000
        start = datetime.fromtimestamp(start_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        groups[(start, e["room"])].append(e)
    return {
        key: {
            "readings": len(es),
            "avg_celsius": sum(e["celsius"] for e in es) / len(es),
            "max_celsius": max(e["celsius"] for e in es),
            "warm_readings": sum(e["celsius"] > 25 for e in es),
            "heating_on": sum(bool(e.get("heating")) for e in es),
            "devices": len({e["device"] for e in es}),
        }
        for key, es in groups.items()
    }


def matches(row: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(
        abs(row[k] - v) < 1e-9 if isinstance(v, float) else row[k] == v for k, v in want.items()
    )


def test_user_spec_runs_end_to_end(pg_db: str, tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDASH_")}
    env["STREAMDASH_DATABASE_URL"] = pg_db
    log = tmp_path / "run.log"
    args = ["run", str(SPEC), "--data-dir", str(tmp_path / "data"), "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamdash", *args], env=env, stdout=out, stderr=out
        )
    try:
        with httpx.Client(base_url=api, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the API did not start\n" + log.read_text()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)

            events = readings(600)
            body = b"".join(msgspec.json.encode(e) + b"\n" for e in events)
            posted = client.post(
                "/v1/streams/thermostats/events",
                content=body,
                headers={"Content-Type": "application/x-ndjson"},
            )
            assert posted.status_code == 202, posted.text
            assert posted.json() == {"accepted": 600, "rejected": 0, "errors": []}

            views = client.get("/v1/views").json()
            assert [v["name"] for v in views] == ["room_climate"]
            assert views[0]["keys"] == ["room"]
            assert views[0]["window"] == "tumbling"

            want = expected_rows(events)
            kitchen = {k: v for k, v in want.items() if k[1] == "kitchen"}
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                rows = client.get("/v1/views/room_climate", params={"key": "kitchen"}).json()
                got = {(r["window_start"], r["room"]): r for r in rows}
                if got.keys() == kitchen.keys() and all(
                    matches(got[k], v) for k, v in kitchen.items()
                ):
                    break
                assert time.monotonic() < deadline, f"API rows {rows} != expected {kitchen}"
                time.sleep(0.3)
            assert {r["room"] for r in rows} == {"kitchen"}
            # newest window first, and `limit` is honoured
            newest = client.get("/v1/views/room_climate", params={"key": "kitchen", "limit": 1})
            assert [r["window_start"] for r in newest.json()] == [max(k[0] for k in kitchen)]
            assert all(r["window_end"] > r["window_start"] for r in rows)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the documented way to stop
        code = proc.wait(60)
    assert code == 0, log.read_text()
    assert "stopped cleanly" in log.read_text()

    with psycopg.connect(pg_db) as conn:
        stored = conn.execute(
            "SELECT window_start, room, readings, avg_celsius, max_celsius, warm_readings, "
            "heating_on, devices FROM room_climate"
        ).fetchall()
    table = {
        (ws.astimezone(UTC).isoformat().replace("+00:00", "Z"), room): {
            "readings": n,
            "avg_celsius": avg,
            "max_celsius": mx,
            "warm_readings": warm,
            "heating_on": heat,
            "devices": dev,
        }
        for ws, room, n, avg, mx, warm, heat, dev in stored
    }
    assert table.keys() == want.keys()
    for key, values in want.items():
        assert matches(table[key], values), (key, table[key], values)
