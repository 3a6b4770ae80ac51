"""Throughput of the engine alone (no log, no sink) on the built-in app_logs view.

Decodes, windows and aggregates N synthetic app_logs events in batches of ~100k (log
chunks of 1000 events), the `application_metrics` view: 10 s tumbling per application_id
with count, count_if, avg, two quantiles and four count_ifs. For scale it also times
plain `msgspec.json.decode` of the same lines into Python dicts — the cost of merely
turning each event into a Python object — and prints the ratio.

    .venv/bin/python benchmarks/engine_processor.py [--events 1000000] [--batch 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import time

import msgspec

from streamdash.engine import Processor
from streamdash.log.base import Chunk
from streamdash.spec.models import Pipeline

PIPELINE = {
    "streams": {
        "app_logs": {
            "time": {"field": "timestamp", "unit": "ms"},
            "lateness": "10s",
            "schema": {
                "application_id": "string",
                "timestamp": "int64",
                "method": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
                "endpoint": "string",
                "status_code": "int32",
                "latency_ms": "float64",
                "level": {"type": "string", "enum": ["INFO", "WARN", "ERROR"]},
                "message": "string",
            },
        }
    },
    "views": {
        "application_metrics": {
            "from": "app_logs",
            "window": {"tumbling": "10s"},
            "group_by": ["application_id"],
            "metrics": {
                "request_count": "count()",
                "error_count": "count_if(status_code >= 500)",
                "error_rate": "avg(CASE WHEN status_code >= 500 THEN 1.0 ELSE 0.0 END)",
                "avg_latency_ms": "avg(latency_ms)",
                "p95_latency_ms": "quantile(latency_ms, 0.95)",
                "p99_latency_ms": "quantile(latency_ms, 0.99)",
                "get_count": "count_if(method = 'GET')",
                "post_count": "count_if(method = 'POST')",
                "put_count": "count_if(method = 'PUT')",
                "delete_count": "count_if(method = 'DELETE')",
            },
        }
    },
}


def lines(n: int, rate_per_s: int = 20_000, seed: int = 7) -> list[bytes]:
    """app_logs events at `rate_per_s` of event time, up to 3 s out of order."""
    rnd = random.Random(seed)
    t0 = 1_717_000_000_000
    endpoints = ["/api/orders", "/api/users", "/api/items", "/login", "/health"]
    out = []
    for i in range(n):
        status = rnd.choices([200, 201, 404, 500, 503], [70, 10, 10, 6, 4])[0]
        method = rnd.choice(["GET", "POST", "PUT", "DELETE"])
        endpoint = rnd.choice(endpoints)
        out.append(
            json.dumps(
                {
                    "application_id": f"app-{rnd.randint(1, 5)}",
                    "timestamp": t0 + i * 1000 // rate_per_s - rnd.randint(0, 3000),
                    "method": method,
                    "endpoint": endpoint,
                    "status_code": status,
                    "latency_ms": round(rnd.lognormvariate(4, 0.8), 2),
                    "level": "ERROR" if status >= 500 else "INFO",
                    "message": f"{method} {endpoint} {status}",
                }
            ).encode()
        )
    return out


def chunks(events: list[bytes], per_chunk: int = 1000) -> list[Chunk]:
    return [
        Chunk(
            "app_logs",
            i,
            len(events[i : i + per_chunk]),
            0,
            b"".join(e + b"\n" for e in events[i : i + per_chunk]),
        )
        for i in range(0, len(events), per_chunk)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    events = lines(args.events)
    log = chunks(events)
    per_batch = max(1, args.batch // 1000)
    batches = [log[i : i + per_batch] for i in range(0, len(log), per_batch)]
    engine_best = float("inf")
    for _ in range(args.repeat):
        processor = Processor(Pipeline.model_validate(PIPELINE))
        start = time.perf_counter()
        rows = 0
        for batch in batches:
            result = processor.process("app_logs", batch, now_us=0)
            rows += sum(u.rows.num_rows for u in result.updates)
        engine_best = min(engine_best, time.perf_counter() - start)
        processor.close()
    decode_best = float("inf")
    decoder = msgspec.json.Decoder()
    for _ in range(args.repeat):
        start = time.perf_counter()
        for line in events:
            decoder.decode(line)
        decode_best = min(decode_best, time.perf_counter() - start)
    n = len(events)
    print(f"events: {n}, batch: {args.batch}, bytes/event: {sum(map(len, events)) / n:.0f}")
    print(
        f"engine (decode+window+aggregate+emit): {n / engine_best / 1e6:.2f}M events/s "
        f"({engine_best:.2f} s, {rows} result rows)"
    )
    print(
        f"msgspec.json.decode per line:          {n / decode_best / 1e6:.2f}M events/s "
        f"({decode_best:.2f} s)"
    )
    print(f"ratio engine / msgspec decode: {decode_best / engine_best:.2f}x")


if __name__ == "__main__":
    main()
