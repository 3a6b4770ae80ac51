"""Webhook delivery to a real local HTTP server: retried with backoff until it succeeds,
bounded against a dead endpoint (the evaluation loop goes on), recorded in `notified_at`,
re-sent after a restart if never delivered, and no secret of the URL in any log line."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
from alert_support import Results, alerts, app_rows, pipeline, webhook_server

from streamdash.alerts import AlertEvaluator
from streamdash.alerts.webhook import RetryPolicy
from streamdash.testing.waiting import wait_for

FAST = RetryPolicy(attempts=4, base_delay_s=0.02, max_delay_s=0.1, timeout_s=1.0)


def dead_url() -> str:
    """A local port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/s3cret-path?token=s3cret"


def test_a_failing_endpoint_is_retried_until_it_accepts(pg_db: str) -> None:
    results = Results(pg_db)
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True)))
    with webhook_server([500, 503]) as hook:
        evaluator = AlertEvaluator(pipeline(hook.url), pg_db, policy=FAST)
        try:
            evaluator.tick()
            wait_for(lambda: len(hook.bodies) == 3, 10, "3 webhook calls", 0.02)
            body = hook.bodies[-1]
            assert {k: body[k] for k in ("rule", "key", "state", "severity", "value")} == {
                "rule": "high_error_rate", "key": {"application_id": "app-1"}, "state": "open",
                "severity": "warning", "value": 0.3,
            }  # fmt: skip
            assert body["message"] == "error rate 30.0% on app-1"
            assert body["opened_at"] and body["resolved_at"] is None
            # The delivery is recorded on the next tick.
            wait_for(
                lambda: (evaluator.tick(), alerts(pg_db, "high_error_rate")[0][5])[1],
                10,
                "the alert marked notified",
                0.02,
            )

            results.commit(app_rows((2, "app-1", 0.0, True)))
            evaluator.tick()
            wait_for(lambda: len(hook.bodies) == 4, 10, "4 webhook calls", 0.02)
            assert (hook.bodies[-1]["state"], hook.bodies[-1]["resolved_at"] is not None) == (
                "resolved", True,
            )  # fmt: skip
        finally:
            evaluator.close()
            results.close()
    assert len(hook.bodies) == 4  # each state change delivered once, no repeats


def test_a_dead_endpoint_is_given_up_and_the_loop_survives(
    pg_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results = Results(pg_db)
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True)))
    evaluator = AlertEvaluator(pipeline(dead_url()), pg_db, policy=FAST)
    stop = threading.Event()
    loop = threading.Thread(target=evaluator.run, args=(stop, 0.05))
    loop.start()
    try:
        wait_for(lambda: "giving up" in caplog.text, 10, "the notifier giving up", 0.02)
        assert caplog.text.count("retrying in") == FAST.attempts - 1
        # Evaluation goes on while and after the webhook fails.
        results.commit(app_rows((2, "app-1", 0.0, True)))
        wait_for(
            lambda: alerts(pg_db, "high_error_rate")[0][3] == "resolved",
            10,
            "the alert resolved",
            0.02,
        )
        assert loop.is_alive()
    finally:
        stop.set()
        loop.join(10)
        evaluator.close()
        results.close()
    assert not loop.is_alive()
    assert alerts(pg_db, "high_error_rate")[0][5] is False  # never delivered
    assert "s3cret" not in caplog.text


def test_undelivered_notifications_are_sent_after_a_restart(pg_db: str) -> None:
    results = Results(pg_db)
    results.commit(app_rows((0, "app-1", 0.2, True), (1, "app-1", 0.3, True)))
    results.close()
    first = AlertEvaluator(pipeline(dead_url()), pg_db, policy=FAST)
    first.tick()
    first.close()  # stopped before any delivery succeeded
    with webhook_server() as hook:
        second = AlertEvaluator(pipeline(hook.url), pg_db, policy=FAST)
        try:
            second.tick()
            wait_for(lambda: len(hook.bodies) == 1, 10, "1 webhook call", 0.02)
            wait_for(
                lambda: (second.tick(), alerts(pg_db, "high_error_rate")[0][5])[1],
                10,
                "the alert marked notified by the second evaluator",
                0.02,
            )
            second.tick()
        finally:
            second.close()
    assert [b["state"] for b in hook.bodies] == ["open"]
    assert len(alerts(pg_db, "high_error_rate")) == 1
