"""`MemorySink`: the engine's sink contract in memory, for testing pipelines without a
database (like bytewax's testing sink). One commit is applied whole, as in PostgreSQL;
rows are upserted on each view's primary key."""

from __future__ import annotations

from typing import Any

from streamdash.results import CommitBatch, ViewSchema


class MemorySink:
    def __init__(self) -> None:
        self.schemas: dict[str, ViewSchema] = {}
        self.commits: list[CommitBatch] = []
        self.offsets: dict[str, int] = {}
        self.checkpoint: tuple[dict[str, int], bytes] | None = None
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        """view -> primary key -> the row as last written."""
        self.counters: dict[tuple[str, str], int] = {}

    def open(self, schemas: list[ViewSchema]) -> None:
        self.schemas = {s.view: s for s in schemas}

    def commit(self, consumer: str, batch: CommitBatch) -> None:
        self.commits.append(batch)
        for update in batch.updates:
            key = self.schemas[update.view].primary_key
            table = self.rows.setdefault(update.view, {})
            if update.deleted is not None:
                for row in update.deleted.to_pylist():
                    table.pop(tuple(row.get(k) for k in key), None)
            for row in update.rows.to_pylist():
                table[tuple(row[k] for k in key)] = row
        for name, n in batch.counters.items():
            self.counters[name] = self.counters.get(name, 0) + n
        self.offsets.update(batch.offsets)
        if batch.checkpoint is not None:  # valid at the offsets after this commit
            self.checkpoint = (dict(self.offsets), batch.checkpoint)

    def load_offsets(self, consumer: str) -> dict[str, int]:
        return dict(self.offsets)

    def load_checkpoint(self, consumer: str) -> tuple[dict[str, int], bytes] | None:
        return self.checkpoint
