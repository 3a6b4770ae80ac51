"""The bookkeeping half of a commit: dead letters, counters, offsets + watermarks, the engine
checkpoint and the commit token. Each is one statement per batch, inside the caller's
transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg

from streamdash.results import DeadLetter

Cursor = psycopg.Cursor[tuple[object, ...]]


def _time(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, UTC)


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; bad input (what dead letters are) may contain it.
    return value.replace("\x00", "\ufffd")


def write_dead_letters(cur: Cursor, letters: list[DeadLetter]) -> None:
    if not letters:
        return
    statement = (
        "COPY dead_letters (stream, view, reason, detail, raw, raw_text, event_time, "
        "received_at, log_offset, log_partition) FROM STDIN"
    )
    with cur.copy(statement) as copy:
        for d in letters:
            copy.write_row(
                (
                    _text(d.stream),
                    None if d.view is None else _text(d.view),
                    d.reason,
                    _text(d.detail),
                    d.raw,
                    _text(d.raw.decode("utf-8", errors="replace")),
                    _time(d.event_time_us),
                    _time(d.received_us),
                    d.offset,
                    d.partition,
                )
            )


def add_counters(cur: Cursor, counters: dict[tuple[str, str], int]) -> None:
    if not counters:
        return
    # Sorted: concurrent workers lock counter rows in the same order (no deadlock).
    items = sorted(counters.items())
    cur.execute(
        """INSERT INTO streamdash_counters (scope, name, value)
           SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[])
           ON CONFLICT (scope, name)
           DO UPDATE SET value = streamdash_counters.value + EXCLUDED.value""",
        ([s for (s, _), _ in items], [n for (_, n), _ in items], [v for _, v in items]),
    )


def save_offsets(
    cur: Cursor, consumer: str, offsets: dict[str, int], watermarks: dict[str, int]
) -> None:
    """Upsert next offsets and watermarks; a stream missing from one map keeps that value."""
    streams = sorted(offsets.keys() | watermarks.keys())
    if not streams:
        return
    cur.execute(
        """INSERT INTO streamdash_offsets AS o (consumer, stream, next_offset, watermark_us)
           SELECT %s, * FROM unnest(%s::text[], %s::bigint[], %s::bigint[])
           ON CONFLICT (consumer, stream) DO UPDATE SET
             next_offset = COALESCE(EXCLUDED.next_offset, o.next_offset),
             watermark_us = COALESCE(EXCLUDED.watermark_us, o.watermark_us),
             updated_at = now()""",
        (
            consumer,
            streams,
            [offsets.get(s) for s in streams],
            [watermarks.get(s) for s in streams],
        ),
    )


def save_checkpoint(cur: Cursor, consumer: str, state: bytes) -> None:
    """Store the engine state with the consumer's offsets as they are after this batch (all
    streams, not only those the batch advanced): the state is valid at exactly those."""
    cur.execute(
        """INSERT INTO streamdash_checkpoints (consumer, offsets, state, created_at)
           SELECT %s, COALESCE(jsonb_object_agg(stream, next_offset), '{}'::jsonb), %s, now()
           FROM streamdash_offsets WHERE consumer = %s AND next_offset IS NOT NULL
           ON CONFLICT (consumer) DO UPDATE SET
             offsets = EXCLUDED.offsets, state = EXCLUDED.state, created_at = now()""",
        (consumer, state, consumer),
    )


def already_committed(cur: Cursor, consumer: str, token: uuid.UUID) -> bool:
    """True if the batch with `token` is the consumer's last committed one. Locks the row, so
    two processes retrying the same consumer's batch cannot both apply it."""
    cur.execute("SELECT token FROM streamdash_commits WHERE consumer = %s FOR UPDATE", (consumer,))
    row = cur.fetchone()
    return row is not None and row[0] == token


def record_commit(cur: Cursor, consumer: str, token: uuid.UUID) -> None:
    cur.execute(
        """INSERT INTO streamdash_commits (consumer, token) VALUES (%s, %s)
           ON CONFLICT (consumer) DO UPDATE SET token = EXCLUDED.token, committed_at = now()""",
        (consumer, token),
    )


def load_offsets(cur: Cursor, consumer: str) -> tuple[dict[str, int], dict[str, int]]:
    """(next offsets, watermarks) of `consumer`."""
    cur.execute(
        "SELECT stream, next_offset, watermark_us FROM streamdash_offsets WHERE consumer = %s",
        (consumer,),
    )
    offsets: dict[str, int] = {}
    marks: dict[str, int] = {}
    for stream, offset, mark in cur.fetchall():
        if isinstance(offset, int):
            offsets[str(stream)] = offset
        if isinstance(mark, int):
            marks[str(stream)] = mark
    return offsets, marks


def load_checkpoint(cur: Cursor, consumer: str) -> tuple[dict[str, int], bytes] | None:
    cur.execute(
        "SELECT offsets, state FROM streamdash_checkpoints WHERE consumer = %s", (consumer,)
    )
    row = cur.fetchone()
    if row is None:
        return None
    offsets, state = row
    assert isinstance(offsets, dict) and isinstance(state, bytes)
    return {str(k): int(v) for k, v in offsets.items()}, state
