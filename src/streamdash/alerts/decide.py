"""What changes, given a rule's observations and its open alerts: pure, no I/O, so every
rule of the state machine is unit-tested without a database.

Windowed views: an alert for a key opens when the newest `for` final windows of that key
all satisfy the condition (for tumbling/hopping views these must be the `for` newest
window slots of the view: a window without a row for the key breaks the run), and
resolves when the key's newest final window, later than the one last seen, does not.
Running views: an alert opens once the condition held at every tick for `for` (wall-clock)
and resolves at the first tick it does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamdash.alerts.observe import Key, Observation
from streamdash.alerts.rules import CompiledRule


@dataclass(frozen=True)
class OpenAlert:
    """An alert that is open in the `alerts` table."""

    id: int
    rule: str
    key: dict[str, Any]
    window_start: datetime | None
    """The newest window it has seen (None for running views)."""


@dataclass
class Changes:
    opened: list[Observation] = field(default_factory=list)
    resolved: list[tuple[OpenAlert, Observation]] = field(default_factory=list)
    updated: list[tuple[OpenAlert, Observation]] = field(default_factory=list)
    """Open alerts with a newer satisfying window: their value and message are refreshed."""


def by_key(observations: Sequence[Observation]) -> dict[Key, list[Observation]]:
    """Observations per key, keeping their order (newest first)."""
    out: dict[Key, list[Observation]] = {}
    for obs in observations:
        out.setdefault(obs.key_id, []).append(obs)
    return out


def _run_complete(rule: CompiledRule, rows: Sequence[Observation]) -> bool:
    """Whether the newest `for` windows of one key all satisfy the condition."""
    if len(rows) < rule.windows:
        return False
    # Tumbling/hopping: the query returned exactly the newest `for` slots, so `for`
    # rows means no slot is missing. Sessions: the key's own newest sessions.
    return all(obs.hit for obs in rows[: rule.windows])


def decide_windowed(
    rule: CompiledRule,
    observations: Sequence[Observation],
    open_alerts: Mapping[Key, OpenAlert],
) -> Changes:
    changes = Changes()
    for key, rows in by_key(observations).items():
        newest = rows[0]
        current = open_alerts.get(key)
        if current is None:
            if _run_complete(rule, rows):
                changes.opened.append(newest)
            continue
        seen = current.window_start
        if newest.window_start is None or (seen is not None and newest.window_start <= seen):
            continue  # nothing newer than what the alert already reflects
        if newest.hit:
            changes.updated.append((current, newest))
        else:
            changes.resolved.append((current, newest))
    return changes


def decide_running(
    rule: CompiledRule,
    observations: Sequence[Observation],
    open_alerts: Mapping[Key, OpenAlert],
    pending: MutableMapping[Key, float],
    now_s: float,
) -> Changes:
    """`pending` maps a key to when its condition started to hold (monotonic seconds); it
    lives in the evaluator's memory, so a restart starts the `for` period again (it never
    opens an alert early, nor twice)."""
    changes = Changes()
    seen: set[Key] = set()
    for obs in observations:
        key = obs.key_id
        seen.add(key)
        current = open_alerts.get(key)
        if not obs.hit:
            pending.pop(key, None)
            if current is not None:
                changes.resolved.append((current, obs))
            continue
        if current is not None:
            changes.updated.append((current, obs))
            continue
        since = pending.setdefault(key, now_s)
        if now_s - since >= rule.duration_us / 1e6:
            changes.opened.append(obs)
    for key in list(pending):
        if key not in seen:  # the row is gone: the run of true ticks is broken
            del pending[key]
    return changes
