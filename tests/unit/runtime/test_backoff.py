"""Retry delays: short first, doubling to a ceiling, reset by a success."""

from __future__ import annotations

from streamdash.runtime.backoff import Backoff


def test_delays_double_up_to_the_ceiling() -> None:
    backoff = Backoff(first_s=0.05, most_s=1.0)
    delays = [backoff.next_delay() for _ in range(7)]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_at_ceiling_only_once_the_longest_delay_is_reached() -> None:
    backoff = Backoff(first_s=0.25, most_s=1.0)
    assert not backoff.at_ceiling
    seen = []
    for _ in range(4):
        backoff.next_delay()
        seen.append(backoff.at_ceiling)
    assert seen == [False, False, True, True]


def test_success_starts_over() -> None:
    backoff = Backoff(first_s=0.05, most_s=1.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.succeeded()
    assert backoff.failures == 0
    assert backoff.next_delay() == 0.05


def test_a_long_outage_does_not_overflow() -> None:
    backoff = Backoff(first_s=0.05, most_s=1.0, failures=100_000)
    assert backoff.next_delay() == 1.0
