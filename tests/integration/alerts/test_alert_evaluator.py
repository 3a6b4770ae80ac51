"""The evaluator against real PostgreSQL rows written by `PostgresSink`: alerts open after
`for` consecutive FINAL windows, never on open ones, resolve on a later window, per key,
and a restarted evaluator neither reopens nor duplicates anything."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from alert_support import Results, alerts, app_rows, click_rows, pipeline, total_rows

from streamdash.alerts import AlertEvaluator, start_alert_thread
from streamdash.testing.waiting import wait_for


@pytest.fixture
def results(pg_db: str) -> Iterator[Results]:
    opened = Results(pg_db)
    yield opened
    opened.close()


@pytest.fixture
def evaluator(pg_db: str) -> Iterator[AlertEvaluator]:
    opened = AlertEvaluator(pipeline(), pg_db)
    yield opened
    opened.close()


def errors(url: str) -> list[tuple[object, ...]]:
    return [(r[2]["application_id"], r[3]) for r in alerts(url, "high_error_rate")]


def test_opens_after_two_consecutive_final_windows(
    results: Results, evaluator: AlertEvaluator, pg_db: str
) -> None:
    results.commit(app_rows((0, "app-1", 0.2, True)))
    assert evaluator.tick().opened == 0
    assert errors(pg_db) == []
    results.commit(app_rows((1, "app-1", 0.3, True)))
    assert evaluator.tick().opened == 1
    assert errors(pg_db) == [("app-1", "open")]
    with psycopg.connect(pg_db) as conn:
        message, value, severity = conn.execute(
            "SELECT message, last_value->'value', severity FROM alerts"
        ).fetchone() or ("", None, "")
    assert (message, value, severity) == ("error rate 30.0% on app-1", 0.3, "warning")
    evaluator.tick()
    assert errors(pg_db) == [("app-1", "open")]  # still one: no duplicate per tick


def test_windows_that_are_not_final_do_not_count(
    results: Results, evaluator: AlertEvaluator, pg_db: str
) -> None:
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, False)))
    evaluator.tick()
    assert errors(pg_db) == []
    results.commit(app_rows((1, "app-1", 0.01, True)))  # the window ended below the limit
    evaluator.tick()
    assert errors(pg_db) == []


def test_a_gap_between_hits_does_not_open(
    results: Results, evaluator: AlertEvaluator, pg_db: str
) -> None:
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.01, True),
                            (2, "app-1", 0.2, True)))  # fmt: skip
    evaluator.tick()
    assert errors(pg_db) == []


def test_resolves_when_a_later_final_window_is_below(
    results: Results, evaluator: AlertEvaluator, pg_db: str
) -> None:
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True)))
    evaluator.tick()
    results.commit(app_rows((2, "app-1", 0.01, False)))  # open window: not yet
    evaluator.tick()
    assert errors(pg_db) == [("app-1", "open")]
    results.commit(app_rows((2, "app-1", 0.01, True)))
    assert evaluator.tick().resolved == 1
    assert alerts(pg_db, "high_error_rate")[0][3:5] == ("resolved", True)
    # A new run of bad windows opens a NEW alert; the resolved one stays as history.
    results.commit(app_rows((3, "app-1", 0.2, True), (4, "app-1", 0.2, True)))
    evaluator.tick()
    assert errors(pg_db) == [("app-1", "resolved"), ("app-1", "open")]


def test_keys_are_independent(results: Results, evaluator: AlertEvaluator, pg_db: str) -> None:
    results.commit(app_rows((0, "app-1", 0.2, True), (0, "app-2", 0.2, True),
                            (1, "app-1", 0.3, True), (1, "app-2", 0.0, True)))  # fmt: skip
    evaluator.tick()
    assert errors(pg_db) == [("app-1", "open")]
    results.commit(app_rows((2, "app-1", 0.0, True), (2, "app-2", 0.2, True)))
    evaluator.tick()
    assert errors(pg_db) == [("app-1", "resolved")]
    results.commit(app_rows((3, "app-1", 0.0, True), (3, "app-2", 0.2, True)))
    evaluator.tick()
    assert errors(pg_db) == [("app-1", "resolved"), ("app-2", "open")]


def test_a_restart_neither_reopens_nor_duplicates(results: Results, pg_db: str) -> None:
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True),
                            (0, "app-2", 0.2, True), (1, "app-2", 0.2, True)))  # fmt: skip
    first = AlertEvaluator(pipeline(), pg_db)
    first.tick()
    first.close()
    before = alerts(pg_db, "high_error_rate")
    assert [r[3] for r in before] == ["open", "open"]

    second = AlertEvaluator(pipeline(), pg_db)
    second.tick()
    assert alerts(pg_db, "high_error_rate") == before  # same ids, still open, no new rows
    results.commit(app_rows((2, "app-1", 0.0, True), (2, "app-2", 0.3, True)))
    second.tick()
    second.close()
    after = alerts(pg_db, "high_error_rate")

    third = AlertEvaluator(pipeline(), pg_db)
    third.tick()
    third.tick()
    third.close()
    assert alerts(pg_db, "high_error_rate") == after
    assert [(r[0], r[3]) for r in after] == [(before[0][0], "resolved"), (before[1][0], "open")]


def test_two_evaluators_at_once_open_one_alert(results: Results, pg_db: str) -> None:
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True)))
    one, two = AlertEvaluator(pipeline(), pg_db), AlertEvaluator(pipeline(), pg_db)
    try:
        one.tick()
        two.tick()
    finally:
        one.close()
        two.close()
    assert errors(pg_db) == [("app-1", "open")]


def test_an_aggregating_rule_sums_the_rows_of_a_window(
    results: Results, evaluator: AlertEvaluator, pg_db: str
) -> None:
    results.commit(click_rows((0, "view", 60, True), (0, "buy", 30, True)))
    evaluator.tick()
    assert alerts(pg_db, "click_volume") == []
    results.commit(click_rows((1, "view", 60, True), (1, "buy", 50, True)))
    evaluator.tick()
    [row] = alerts(pg_db, "click_volume")
    assert (row[2], row[3]) == ({}, "open")
    with psycopg.connect(pg_db) as conn:
        assert conn.execute(
            "SELECT message FROM alerts WHERE rule = 'click_volume'"
        ).fetchone() == ("110 clicks",)


def test_a_running_view_alert(results: Results, evaluator: AlertEvaluator, pg_db: str) -> None:
    results.commit(total_rows(("view", 1500), ("buy", 10)))
    evaluator.tick()
    assert [(r[2], r[3]) for r in alerts(pg_db, "click_total")] == [({"kind": "view"}, "open")]
    results.commit(total_rows(("view", 900)))
    evaluator.tick()
    assert [r[3] for r in alerts(pg_db, "click_total")] == ["resolved"]


def test_a_missing_table_skips_that_rule_only(pg_db: str) -> None:
    results = Results(pg_db)
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True)))
    results.close()
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("DROP TABLE clicks_per_minute")
    evaluator = AlertEvaluator(pipeline(), pg_db)
    try:
        stats = evaluator.tick()
    finally:
        evaluator.close()
    assert stats.failed_rules == 1
    assert errors(pg_db) == [("app-1", "open")]


def test_the_thread_for_run_and_demo_evaluates_until_stopped(results: Results, pg_db: str) -> None:
    stop = threading.Event()
    thread = start_alert_thread(pipeline(), pg_db, stop)
    try:
        results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True)))
        wait_for(lambda: errors(pg_db) == [("app-1", "open")], 10, "the alert of app-1 open", 0.02)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
