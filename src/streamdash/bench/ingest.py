"""Ingest benchmark: concurrent clients POST ~1 MB NDJSON bodies of app_logs events to a real
`streamdash serve` subprocess (uvicorn, real SQLite log with synchronous=FULL).

Baselines in the same run and process: plain msgspec decode of the same lines, and the
ingest validator alone (the CPU work the server must do per body, minus HTTP and the log).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import psutil

from streamdash.bench.processes import NDJSON, start_api, stop
from streamdash.bench.report import Measure
from streamdash.bench.workload import (
    STREAM,
    app_logs_lines,
    msgspec_decode_rate,
    ndjson,
    percentile,
    scratch_dir,
)
from streamdash.ingest.validate import EventValidator
from streamdash.spec.loader import load_builtin

TARGET_EVENTS_PER_S = 500_000
AVERAGE_EVENT_BYTES = 186  # of the app_logs generator; sizes the bodies


@dataclass
class IngestResult:
    clients: int
    seconds: float
    body_bytes: int
    events_per_body: int
    requests: int
    http_events_per_s: float
    http_mb_per_s: float
    request_p50_ms: float
    request_p99_ms: float
    validate_events_per_s: float
    msgspec_decode_events_per_s: float
    server_cpu_s: float
    """CPU seconds of the `streamdash serve` process during the run (`seconds` x 2 at most)."""
    client_cpu_s: float
    """CPU seconds of the benchmark process (the clients) during the run: on 2 cores the
    clients compete with the server, so this is part of the answer to "where does time go"."""

    def measures(self) -> list[Measure]:
        return [
            Measure(
                "ingest",
                f"HTTP, {self.clients} clients",
                self.http_events_per_s,
                "events/s",
                self.msgspec_decode_events_per_s,
                "msgspec decode",
                ">= 500k events/s",
                self.http_events_per_s >= TARGET_EVENTS_PER_S,
            ),
            Measure(
                "ingest",
                "validator alone",
                self.validate_events_per_s,
                "events/s",
                self.msgspec_decode_events_per_s,
                "msgspec decode",
            ),
            Measure("ingest", "request p99", self.request_p99_ms, "ms"),
            Measure("ingest", "server CPU", self.server_cpu_s / self.seconds, "cores"),
            Measure("ingest", "client CPU", self.client_cpu_s / self.seconds, "cores"),
        ]


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def validate_rate(body: bytes, count: int, repeat: int = 10) -> float:
    validator = EventValidator(STREAM, load_builtin(STREAM).streams[STREAM])
    validator.validate_ndjson(body)  # warm up
    started = time.perf_counter()
    for _ in range(repeat):
        validator.validate_ndjson(body)
    return count * repeat / (time.perf_counter() - started)


def run_ingest_benchmark(
    seconds: float = 10.0, *, clients: int = 4, body_bytes: int = 1 << 20
) -> IngestResult:
    per_body = max(1, body_bytes // AVERAGE_EVENT_BYTES)
    lines = app_logs_lines(per_body * 8)
    bodies = [ndjson(lines[i : i + per_body]) for i in range(0, len(lines), per_body)]
    decode_rate = msgspec_decode_rate(lines)
    validator_rate = validate_rate(bodies[0], per_body)
    accepted = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []

    with scratch_dir("ingest") as tmp:
        api, url = start_api(tmp, None)
        try:
            start_gate = threading.Barrier(clients + 1)
            deadline = [0.0]

            def client(number: int) -> None:
                try:
                    with httpx.Client(timeout=60) as http:
                        start_gate.wait()
                        i = number
                        while time.monotonic() < deadline[0]:
                            started = time.perf_counter()
                            response = http.post(
                                f"{url}/v1/streams/{STREAM}/events",
                                content=bodies[i % len(bodies)],
                                headers=NDJSON,
                            )
                            latencies[number].append(time.perf_counter() - started)
                            if response.status_code != 202:
                                raise RuntimeError(f"{response.status_code}: {response.text}")
                            accepted[number] += int(response.json()["accepted"])
                            i += 1
                except BaseException as err:  # reported after the join, not lost in a thread
                    errors.append(err)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for thread in threads:
                thread.start()
            server, me = psutil.Process(api.pid), psutil.Process()
            server_cpu, client_cpu = _cpu(server), _cpu(me)
            began = time.monotonic()
            deadline[0] = began + seconds
            start_gate.wait()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
            server_cpu, client_cpu = _cpu(server) - server_cpu, _cpu(me) - client_cpu
        finally:
            stop(api)
    if errors:
        raise RuntimeError(f"an ingest client failed: {errors[0]!r}") from errors[0]
    all_latencies = [x for per_client in latencies for x in per_client]
    return IngestResult(
        clients=clients,
        seconds=elapsed,
        body_bytes=len(bodies[0]),
        events_per_body=per_body,
        requests=len(all_latencies),
        http_events_per_s=sum(accepted) / elapsed,
        http_mb_per_s=len(all_latencies) * len(bodies[0]) / elapsed / 1e6,
        request_p50_ms=percentile(all_latencies, 50) * 1000,
        request_p99_ms=percentile(all_latencies, 99) * 1000,
        validate_events_per_s=validator_rate,
        msgspec_decode_events_per_s=decode_rate,
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
    )
