"""The engine's sink with the extra sinks of the spec in front of it.

Order is what keeps the copies exact: every extra sink writes a batch (idempotently)
before the PostgreSQL transaction that records the batch's offsets. A crash or error
between the two leaves the offsets where they were, so the batch is produced and written
again, replacing the same points; a batch whose offsets are committed was written
everywhere. An extra sink that is down holds the pipeline back (like PostgreSQL being
down), it never skips data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from streamdash.results import CommitBatch, ViewSchema
from streamdash.runtime.runner import Sink
from streamdash.spec.models import Pipeline


class ExtraSink(Protocol):
    name: str

    def open(self) -> None: ...
    def write(self, batch: CommitBatch) -> int: ...
    def close(self) -> None: ...


class WithExtraSinks:
    """A `runner.Sink`: `extras` first, then `primary` (the system of record)."""

    def __init__(self, primary: Sink, extras: Sequence[ExtraSink]) -> None:
        self.primary = primary
        self.extras = list(extras)
        self.points: dict[str, int] = {extra.name: 0 for extra in self.extras}
        """Points written per extra sink since start (retries included)."""

    def open(self, schemas: list[ViewSchema]) -> None:
        self.primary.open(schemas)
        for extra in self.extras:
            extra.open()

    def commit(self, consumer: str, batch: CommitBatch) -> None:
        for extra in self.extras:
            self.points[extra.name] += extra.write(batch)
        self.primary.commit(consumer, batch)

    def load_offsets(self, consumer: str) -> dict[str, int]:
        return self.primary.load_offsets(consumer)

    def load_checkpoint(self, consumer: str) -> tuple[dict[str, int], bytes] | None:
        return self.primary.load_checkpoint(consumer)

    def close(self) -> None:
        for extra in self.extras:
            extra.close()


def extra_sinks(pipeline: Pipeline, environ: Mapping[str, str] | None = None) -> list[ExtraSink]:
    """The spec's extra sinks, ready to open (none: [])."""
    from streamdash.sinks.influxdb import InfluxSink
    from streamdash.spec.sinks import parse_sinks

    return [
        InfluxSink(name, spec, pipeline, environ) for name, spec in parse_sinks(pipeline).items()
    ]
