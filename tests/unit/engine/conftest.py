"""Shared builders for engine tests: pipelines, seeded events, chunked logs."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from streamdash.engine import Processor
from streamdash.log.base import Chunk
from streamdash.results import CommitBatch, DeadLetter
from streamdash.spec.models import Pipeline

APP_SCHEMA = {
    "application_id": "string",
    "timestamp": "int64",
    "method": "string",
    "status_code": "int32",
    "latency_ms": "float64?",
    "user": "string?",
}
T0_MS = 1_700_000_000_000


def app_pipeline(views: dict[str, Any], lateness: str = "5s", **stream: Any) -> Pipeline:
    return Pipeline.model_validate(
        {
            "streams": {
                "app": {
                    "time": {"field": "timestamp", "unit": "ms"},
                    "lateness": lateness,
                    "schema": APP_SCHEMA,
                    **stream,
                }
            },
            "views": views,
        }
    )


def app_events(
    n: int,
    seed: int,
    disorder_ms: int = 3000,
    span_ms: int = 60_000,
) -> list[dict[str, Any]]:
    """Events whose times mostly increase, with jitter of up to `disorder_ms` backwards."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        t = T0_MS + i * span_ms // n - rnd.randint(0, disorder_ms)
        out.append(
            {
                "application_id": f"app-{rnd.randint(1, 3)}",
                "timestamp": t,
                "method": rnd.choice(["GET", "POST", "PUT"]),
                "status_code": rnd.choice([200, 200, 201, 404, 500, 503]),
                "latency_ms": None if rnd.random() < 0.05 else round(rnd.lognormvariate(4, 1), 3),
                "user": f"u{rnd.randint(1, 40)}",
                "extra": "ignored",
            }
        )
    return out


def to_chunks(
    events: Iterable[dict[str, Any] | bytes], per_chunk: int, stream: str = "app", start: int = 0
) -> list[Chunk]:
    lines = [e if isinstance(e, bytes) else json.dumps(e).encode() for e in events]
    chunks = []
    for i in range(0, len(lines), per_chunk):
        part = lines[i : i + per_chunk]
        payload = b"".join(line + b"\n" for line in part)
        chunks.append(Chunk(stream, start + i, len(part), 1_000 + i, payload))
    return chunks


class Run:
    """Feeds chunks to a processor in batches and folds the updates like a sink would."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self.dead: list[DeadLetter] = []
        self.counters: dict[tuple[str, str], int] = {}
        self.final_seen: dict[str, list[tuple[Any, ...]]] = {}

    def apply(self, batch: CommitBatch) -> None:
        self.dead += batch.dead_letters
        for key, n in batch.counters.items():
            self.counters[key] = self.counters.get(key, 0) + n
        schemas = {s.view: s for s in self.processor.schemas()}
        for update in batch.updates:
            pk = schemas[update.view].primary_key
            table = self.rows.setdefault(update.view, {})
            if update.deleted is not None:
                for row in update.deleted.to_pylist():
                    table.pop(tuple(row[k] for k in pk), None)
            for row in update.rows.to_pylist():
                key = tuple(row[k] for k in pk)
                assert not table.get(key, {}).get("final"), f"final row updated again: {key}"
                table[key] = row
                if row["final"]:
                    self.final_seen.setdefault(update.view, []).append(key)

    def feed(self, chunks: list[Chunk], batch_events: int, now_us: int = 0) -> None:
        batch: list[Chunk] = []
        for chunk in chunks:
            batch.append(chunk)
            if sum(c.count for c in batch) >= batch_events:
                self.apply(self.processor.process(chunk.stream, batch, now_us))
                batch = []
        if batch:
            self.apply(self.processor.process(batch[0].stream, batch, now_us))


def table_rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()
