"""The alert state machine without a database: opening after `for` final windows per key,
resolving on a later window, running views' `for` duration, and messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streamdash.alerts.decide import OpenAlert, decide_running, decide_windowed
from streamdash.alerts.message import render
from streamdash.alerts.observe import Observation, key_text
from streamdash.alerts.rules import CompiledRule, compile_rule
from streamdash.spec.alerts import parse_rule
from streamdash.spec.models import Pipeline

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPEC: dict[str, Any] = {
    "streams": {
        "logs": {"time": {"field": "ts"}, "schema": {"ts": "int64", "app": "string"}},
    },
    "views": {
        "per_app": {"from": "logs", "window": {"tumbling": "10s"}, "group_by": ["app"],
                    "metrics": {"n": "count()"}},
        "totals": {"from": "logs", "group_by": ["app"], "metrics": {"n": "count()"}},
    },
}  # fmt: skip


def rule(**fields: Any) -> CompiledRule:
    pipeline = Pipeline.model_validate(SPEC)
    return compile_rule("r", parse_rule({"view": "per_app", "when": "n > 5", **fields}), pipeline)


def obs(app: str, slot: int, n: int) -> Observation:
    start = T0 + timedelta(seconds=10 * slot)
    row = {"app": app, "n": n, "window_start": start.isoformat()}
    return Observation({"app": app}, start, n > 5, n, row)


def open_alert(app: str, slot: int) -> dict[str, OpenAlert]:
    start = T0 + timedelta(seconds=10 * slot)
    return {key_text({"app": app}): OpenAlert(1, "r", {"app": app}, start)}


def test_opens_only_when_the_newest_for_windows_all_hold() -> None:
    two = rule(**{"for": "2 windows"})
    assert decide_windowed(two, [obs("a", 2, 9), obs("a", 1, 9)], {}).opened == [obs("a", 2, 9)]
    assert decide_windowed(two, [obs("a", 2, 9), obs("a", 1, 1)], {}).opened == []
    assert decide_windowed(two, [obs("a", 2, 9)], {}).opened == []  # a missing slot breaks it


def test_keys_are_independent() -> None:
    two = rule(**{"for": "2 windows"})
    rows = [obs("a", 2, 9), obs("b", 2, 9), obs("a", 1, 9), obs("b", 1, 0)]
    assert [o.key for o in decide_windowed(two, rows, {}).opened] == [{"app": "a"}]


def test_resolves_on_a_newer_window_that_does_not_hold() -> None:
    one = rule()
    changes = decide_windowed(one, [obs("a", 3, 1)], open_alert("a", 2))
    assert [o for _, o in changes.resolved] == [obs("a", 3, 1)]
    # The window the alert already reflects (or an older one) changes nothing.
    assert decide_windowed(one, [obs("a", 2, 1)], open_alert("a", 2)).resolved == []


def test_an_open_alert_is_never_opened_again_and_follows_new_windows() -> None:
    changes = decide_windowed(rule(), [obs("a", 3, 8)], open_alert("a", 2))
    assert changes.opened == [] and changes.resolved == []
    assert [o for _, o in changes.updated] == [obs("a", 3, 8)]


def test_running_views_open_after_the_duration_and_resolve_at_once() -> None:
    pipeline = Pipeline.model_validate(SPEC)
    spec = parse_rule({"view": "totals", "when": "n > 5", "for": "30s"})
    running = compile_rule("r", spec, pipeline)
    hit = Observation({"app": "a"}, None, True, 9, {"app": "a", "n": 9})
    miss = Observation({"app": "a"}, None, False, 1, {"app": "a", "n": 1})
    pending: dict[str, float] = {}
    assert decide_running(running, [hit], {}, pending, 100.0).opened == []
    assert decide_running(running, [hit], {}, pending, 129.0).opened == []
    assert decide_running(running, [hit], {}, pending, 130.0).opened == [hit]
    assert decide_running(running, [miss], {}, pending, 131.0).opened == []
    assert pending == {}  # a false tick restarts the period
    current = {hit.key_id: OpenAlert(7, "r", {"app": "a"}, None)}
    assert [o for _, o in decide_running(running, [miss], current, pending, 132.0).resolved] == [
        miss
    ]


def test_messages_fill_placeholders_and_survive_nulls() -> None:
    r = rule(message="{n:.1f} events on {app} ({rule}, {severity}, value {value})")
    assert render(r, obs("a", 0, 9)) == "9.0 events on a (r, warning, value 9)"
    nulls = Observation({"app": "a"}, T0, True, None, {"app": "a", "n": None})
    assert render(r, nulls) == "n/a events on a (r, warning, value None)"
    assert render(rule(), obs("a", 0, 9)) == "r: n > 5 (app=a, value 9)"
