"""What the engine hands to a sink: the contract between `engine/` and `store/`.

The engine is pure (no I/O): it turns log chunks into a `CommitBatch`. The runner hands the
batch to the sink, which writes results, dead letters, counters, offsets and (optionally) an
engine checkpoint in ONE transaction — that is what makes results exactly-once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported where Arrow data is made, not here: the ingest API uses this module
# for `DeadLetterReason` only, and importing pyarrow (with numpy) cost it ~0.15 s of CPU
# on every start.

DeadLetterReason = Literal["malformed", "invalid", "too_large", "late", "unknown_stream"]


def arrow_timestamp() -> pa.DataType:
    """The type of every timestamp in result tables: microseconds, UTC."""
    import pyarrow as pa

    return pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ViewSchema:
    """The result table of one view.

    Table columns, in order: `window_start`, `window_end` (windowed views only), the key
    columns, the metric columns, then `final` (bool) and `updated_at` (timestamptz).
    Primary key: (window_start, keys...) for windowed views, (keys...) for running ones.
    """

    view: str
    table: str
    stream: str
    window: Literal["tumbling", "hopping", "session", "none"]
    keys: tuple[tuple[str, pa.DataType], ...]
    metrics: tuple[tuple[str, pa.DataType], ...]

    @property
    def windowed(self) -> bool:
        return self.window != "none"

    @property
    def primary_key(self) -> tuple[str, ...]:
        keys = tuple(name for name, _ in self.keys)
        return ("window_start", *keys) if self.windowed else keys

    @property
    def arrow_schema(self) -> pa.Schema:
        """Schema of `ViewUpdate.rows` for this view (no `updated_at`: the sink sets it)."""
        import pyarrow as pa

        timestamp = arrow_timestamp()
        columns: list[tuple[str, pa.DataType]] = []
        if self.windowed:
            columns += [("window_start", timestamp), ("window_end", timestamp)]
        columns += [*self.keys, *self.metrics, ("final", pa.bool_())]
        return pa.schema(columns)


@dataclass(frozen=True)
class ViewUpdate:
    """Rows of one view that changed in a batch (upserted on the primary key), and rows to
    delete (session windows that merged into another: their old `window_start` is gone)."""

    view: str
    rows: pa.Table
    deleted: pa.Table | None = None


@dataclass(frozen=True)
class DeadLetter:
    stream: str
    reason: DeadLetterReason
    detail: str
    raw: bytes
    received_us: int
    event_time_us: int | None = None
    offset: int | None = None
    view: str | None = None
    partition: int | None = None
    """The Kafka partition `offset` is in (None on the embedded log: one offset space)."""


@dataclass(frozen=True)
class PartialState:
    """The mergeable state of the groups of one view that a batch touched, for a runner
    that merges the states of several engines (one per Kafka partition) into one row.

    `rows`: `gkey` (the group's identity: JSON of window start and keys), `ws`/`we` (window
    bounds, epoch us; null for running views) and `state` (JSON of the state columns and
    the sketch rows). `structure`: the DuckDB types of `state`, for `json_transform`."""

    view: str
    rows: pa.Table
    structure: str


@dataclass
class CommitBatch:
    """Everything one engine step produced, written atomically with the offsets it covers."""

    updates: list[ViewUpdate] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)
    """stream -> next log offset to read (a chunk boundary)."""
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    """(stream or view, counter name) -> increment, e.g. ("application_metrics", "late")."""
    watermarks: dict[str, int] = field(default_factory=dict)
    """stream -> watermark (epoch us) after this batch."""
    checkpoint: bytes | None = None
    """Engine state snapshot valid at exactly `offsets` (None: no new checkpoint)."""
    events: dict[str, pa.Table] = field(default_factory=dict)
    """stream -> its enriched events in this batch, for the extra sinks that take them
    (`spec.sinks`; empty without such sinks): the columns those sinks need, plus `_t`
    (event time, epoch us) and `_offset` (log offset)."""
    partials: list[PartialState] = field(default_factory=list)
    """Partial states of the views whose `ViewState.export_partials` is set."""
    final_until: dict[str, int] = field(default_factory=dict)
    """view -> watermark (epoch us): its rows with `window_end` at or before it become final.
    For engines that finalise windows without emitting them again (Spark's update mode)."""
    token: uuid.UUID | None = None
    """The batch's identity, if the caller has one that survives a restart (e.g. derived from
    Spark's batch id): a batch whose token is the consumer's last committed one is skipped.
    None: the sink makes one per batch object (retries of the same object are detected)."""
