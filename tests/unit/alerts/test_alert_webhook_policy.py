"""Webhook helpers: backoff schedule and URL redaction (secrets never reach a log line)."""

from __future__ import annotations

from streamdash.alerts.webhook import RetryPolicy, redact


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=6, base_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_redact_keeps_only_scheme_host_and_port() -> None:
    assert redact("https://hooks.example.com/services/T0/B0/s3cret?token=abc") == (
        "https://hooks.example.com/…"
    )
    assert redact("http://user:pw@127.0.0.1:8080/x") == "http://127.0.0.1:8080/…"
    assert redact("http://[::1/") == "<webhook>"
