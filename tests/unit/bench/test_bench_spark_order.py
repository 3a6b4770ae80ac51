"""The Spark benchmark measures its two jobs in alternating order, so that neither always
runs first (the JVM warms up, the machine drifts)."""

from __future__ import annotations

from streamdash.bench.spark import alternating


def test_two_rounds_are_runner_handwritten_handwritten_runner() -> None:
    assert alternating(2) == [(0, False), (0, True), (1, True), (1, False)]


def test_each_job_is_first_in_half_the_rounds() -> None:
    order = alternating(6)
    firsts = [order[i][1] for i in range(0, len(order), 2)]
    assert firsts.count(True) == firsts.count(False) == 3
    assert sorted(order) == [(i, h) for i in range(6) for h in (False, True)]
