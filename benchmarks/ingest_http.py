"""Ingest throughput: 4 concurrent clients POST 1 MB NDJSON batches of app_logs events to a
real uvicorn server (real SQLite log, synchronous=FULL), compared in the same run with the
in-process cost of validation and of a plain `msgspec.json.decode` of the same lines.

    .venv/bin/python benchmarks/ingest_http.py [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import msgspec

from streamdash.ingest.validate import EventValidator
from streamdash.spec.loader import load_builtin

APP_MODULE = """
import os
from pathlib import Path
from streamdash.ingest.app import create_app
from streamdash.log.sqlite import SqliteLog
from streamdash.spec.loader import load_builtin

def make():
    log = SqliteLog(Path(os.environ["BENCH_LOG_DIR"]))
    return create_app(load_builtin("app_logs"), log, token=None, reader=None)
"""


def make_body(seed: int, size: int = 1 << 20) -> tuple[bytes, int]:
    """About `size` bytes of valid app_logs NDJSON, and its number of events."""
    rnd = random.Random(seed)
    lines: list[bytes] = []
    total = 0
    while total < size:
        method = rnd.choice(["GET", "POST", "PUT", "DELETE"])
        endpoint = rnd.choice(["/api/users", "/api/orders", "/api/products/42", "/health"])
        status = rnd.choice([200, 200, 200, 201, 404, 500])
        line = msgspec.json.encode(
            {
                "application_id": f"app-{rnd.randint(1, 5)}",
                "timestamp": 1_717_171_717_000 + len(lines),
                "method": method,
                "endpoint": endpoint,
                "status_code": status,
                "latency_ms": round(rnd.uniform(1, 500), 2),
                "level": "ERROR" if status >= 500 else "INFO",
                "message": f"{method} {endpoint} {status}",
            }
        )
        lines.append(line)
        total += len(line) + 1
    return b"\n".join(lines) + b"\n", len(lines)


def per_second(work: int, run: object, repeat: int = 30) -> float:
    assert callable(run)
    run()
    started = time.perf_counter()
    for _ in range(repeat):
        run()
    return work * repeat / (time.perf_counter() - started)


def in_process(body: bytes, count: int) -> dict[str, float]:
    validator = EventValidator("app_logs", load_builtin("app_logs").streams["app_logs"])
    decoder = msgspec.json.Decoder()
    lines = body.splitlines()
    return {
        "validate_ndjson_events_per_s": per_second(count, lambda: validator.validate_ndjson(body)),
        "msgspec_decode_per_line_events_per_s": per_second(
            count, lambda: [decoder.decode(line) for line in lines]
        ),
        "msgspec_decode_lines_events_per_s": per_second(count, lambda: decoder.decode_lines(body)),
    }


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    (workdir / "bench_app.py").write_text(APP_MODULE)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "BENCH_LOG_DIR": str(workdir / "log")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench_app:make",
            "--app-dir",
            str(workdir),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("uvicorn did not start")


def over_http(
    url: str, bodies: list[tuple[bytes, int]], clients: int, seconds: float
) -> dict[str, float]:
    accepted = [0] * clients
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = number
            while time.monotonic() < deadline:
                body, _ = bodies[i % len(bodies)]
                i += 1
                started = time.perf_counter()
                response = http.post(
                    url + "/v1/streams/app_logs/events",
                    content=body,
                    headers={"content-type": "application/x-ndjson"},
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code}: {response.text}")
                accepted[number] += response.json()["accepted"]
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "http_events_per_s": sum(accepted) / elapsed,
        "http_mb_per_s": len(latencies) * len(bodies[0][0]) / elapsed / 1e6,
        "requests": len(latencies),
        "latency_p50_ms": statistics.median(latencies) * 1000,
        "latency_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    bodies = [make_body(seed) for seed in range(8)]
    body, count = bodies[0]
    results: dict[str, float] = {"events_per_body": count, "body_bytes": len(body)}
    results |= in_process(body, count)
    with tempfile.TemporaryDirectory() as workdir:
        process, url = start_server(Path(workdir))
        try:
            results |= over_http(url, bodies, args.clients, args.seconds)
        finally:
            process.terminate()
            process.wait()
    print(json.dumps({k: round(v, 1) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
