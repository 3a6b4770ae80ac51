"""paced(): a fixed monotonic schedule, released in small bursts, no drift."""

from __future__ import annotations

import time

import pytest

from streamdash.sources.generators import GeneratorError, paced


class FakeClock:
    """A monotonic clock that moves only when slept on or advanced by the test."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def test_items_are_released_on_schedule_in_bursts() -> None:
    clock = FakeClock()
    released = []
    for item in paced(range(1000), rate=500.0, clock=clock, sleep=clock.sleep):
        released.append((item, clock.now - 100.0))
    assert [item for item, _ in released] == list(range(1000))
    # 500/s in 10 ms ticks: bursts of 5, so about 200 sleeps, not 1000.
    assert len(clock.sleeps) == 199
    for item, at in released:
        assert at == pytest.approx(item // 5 * 5 / 500.0)


def test_a_slow_consumer_does_not_make_the_schedule_drift() -> None:
    clock = FakeClock()
    for _ in paced(range(1000), rate=500.0, clock=clock, sleep=clock.sleep):
        clock.now += 0.001  # the consumer spends 1 ms per item: half the budget
    assert clock.now - 100.0 == pytest.approx(2.0, abs=0.011)


def test_a_consumer_that_falls_behind_catches_up_without_sleeping() -> None:
    clock = FakeClock()
    iterator = paced(range(100), rate=100.0, clock=clock, sleep=clock.sleep)
    next(iterator)
    clock.now += 0.5  # stalled for half a second: 50 items overdue
    rest = [next(iterator) for _ in range(50)]
    assert rest == list(range(1, 51))
    assert clock.sleeps == []


def test_rate_must_be_positive() -> None:
    with pytest.raises(GeneratorError, match="rate must be"):
        next(paced(range(3), rate=0.0))


def test_real_time_pacing_takes_about_the_scheduled_time() -> None:
    started = time.monotonic()
    assert list(paced(range(101), rate=1000.0)) == list(range(101))
    elapsed = time.monotonic() - started
    assert 0.09 <= elapsed < 1.0
