"""`streamdash dead-letters list|replay`: look at rejected/late events, and send them through
ingest again once the spec or the producer is fixed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from streamdash.sources.sender import send_batches
from streamdash.store.reader import ResultReader

REPLAY_BATCH = 10_000
REQUEST_LINES = 1000
"""Dead letters per replay request (far below the API's body limit)."""
REPLAYABLE = frozenset({"malformed", "invalid", "too_large", "unknown_stream"})


def list_dead_letters(
    database_url: str, stream: str | None, reason: str | None, limit: int, console: Console
) -> None:
    reader = ResultReader(database_url)
    try:
        rows = reader.dead_letters(stream=stream, reason=reason, limit=limit)
    finally:
        reader.close()
    table = Table(title=f"{len(rows)} dead letter(s), newest first")
    for column in ("id", "received_at", "stream", "view", "reason", "detail", "raw"):
        table.add_column(column, overflow="fold")
    for row in rows:
        raw = str(row.get("raw_text") or row.get("raw") or "")
        table.add_row(
            str(row.get("id")),
            str(row.get("received_at")),
            str(row.get("stream")),
            str(row.get("view") or ""),
            str(row.get("reason")),
            str(row.get("detail")),
            raw[:200] + ("…" if len(raw) > 200 else ""),
        )
    console.print(table)


@dataclass
class ReplayResult:
    sent: int = 0
    accepted: int = 0
    rejected_again: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"replayed {self.sent} dead letter(s): {self.accepted} accepted, "
            f"{self.rejected_again} rejected again (new dead letters), "
            f"{self.failed} not sent"
        )
        if self.errors:
            text += " (" + "; ".join(self.errors[:3]) + ")"
        return text


def replay_dead_letters(
    database_url: str, api_url: str, stream: str | None, reason: str | None, token: str | None
) -> ReplayResult:
    """Re-send not-yet-replayed ingest rejections of real streams through the ingest API and
    mark the ones the API answered for as replayed (rejected ones come back as new dead
    letters). Late events are never re-sent: they are in the log already and were counted
    by every view whose window was still open, so sending them again would count them twice."""
    reader = ResultReader(database_url)
    result = ReplayResult()
    try:
        rows = [
            r
            for r in reader.dead_letters(stream=stream, reason=reason, limit=REPLAY_BATCH)
            if r.get("replayed_at") is None
            and r.get("reason") in REPLAYABLE
            and not str(r.get("stream", "")).startswith("_")
        ]
        rows.reverse()  # oldest first: the producer's order
        by_stream: dict[str, list[dict[str, object]]] = defaultdict(list)
        for row in rows:
            by_stream[str(row["stream"])].append(row)
        for name, letters in by_stream.items():
            for start in range(0, len(letters), REQUEST_LINES):
                chunk = letters[start : start + REQUEST_LINES]
                lines = [str(r.get("raw") or "").replace("\n", " ").encode() for r in chunk]
                outcome = send_batches(
                    [b"\n".join(lines) + b"\n"],
                    stream=name,
                    url=api_url,
                    token=token,
                    sensorlogger=False,
                )
                result.sent += len(chunk)
                if outcome.ok:
                    result.accepted += outcome.accepted
                    result.rejected_again += outcome.rejected
                    # marked per request: a failure later on leaves only unsent ones unmarked
                    reader.mark_replayed([int(str(r["id"])) for r in chunk])
                else:
                    result.failed += len(chunk)
                    result.errors += outcome.errors
    finally:
        reader.close()
    return result
