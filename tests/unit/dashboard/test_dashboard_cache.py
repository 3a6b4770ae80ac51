"""The shared cache: one load per key per TTL, whatever the number of callers."""

from __future__ import annotations

import threading
import time

import pytest

from streamdash.dashboard.cache import SharedCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_value_is_reused_within_the_ttl_and_reloaded_after() -> None:
    clock = Clock()
    cache: SharedCache[int] = SharedCache(clock)
    calls: list[int] = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("k", load, ttl=1.0) == 1
    clock.now += 0.9
    assert cache.get("k", load, ttl=1.0) == 1
    clock.now += 0.2
    assert cache.get("k", load, ttl=1.0) == 2
    assert cache.get("other", load, ttl=1.0) == 3  # keys are independent
    assert cache.loads == 3


def test_concurrent_callers_share_one_load() -> None:
    cache: SharedCache[str] = SharedCache()
    started = threading.Barrier(20)
    loads: list[int] = []

    def load() -> str:
        loads.append(1)
        time.sleep(0.2)  # a slow query: every other caller arrives while it runs
        return "rows"

    results: list[str] = []

    def viewer() -> None:
        started.wait()
        results.append(cache.get("view", load, ttl=5.0))

    threads = [threading.Thread(target=viewer) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["rows"] * 20
    assert len(loads) == 1


def test_a_failure_is_cached_for_the_ttl_too() -> None:
    clock = Clock()
    cache: SharedCache[int] = SharedCache(clock)
    attempts: list[int] = []

    def failing() -> int:
        attempts.append(1)
        raise ConnectionError("database down")

    for _ in range(3):
        with pytest.raises(ConnectionError, match="database down"):
            cache.get("k", failing, ttl=1.0)
    assert len(attempts) == 1  # an outage is not hammered by every viewer
    clock.now += 1.5
    assert cache.get("k", lambda: 7, ttl=1.0) == 7


def test_age_counts_from_the_start_of_the_load() -> None:
    """A lone viewer polling every 0.5 s with a 0.45 s TTL must reload on every tick, even
    when the query itself takes a while."""
    clock = Clock()
    cache: SharedCache[float] = SharedCache(clock)

    def slow_load() -> float:
        clock.now += 0.3  # the query takes 0.3 s
        return clock.now

    first = cache.get("k", slow_load, ttl=0.45)
    clock.now += 0.2  # the next tick, 0.5 s after the first began
    assert cache.get("k", slow_load, ttl=0.45) != first


def test_generation_moves_only_when_the_value_changes() -> None:
    clock = Clock()
    cache: SharedCache[list[int]] = SharedCache(clock)
    values = iter([[1, 2], [1, 2], [1, 3]])
    generations = []
    for _ in range(3):
        _, generation = cache.get_versioned("k", lambda: next(values), ttl=1.0)
        generations.append(generation)
        clock.now += 1.5
    assert generations[0] == generations[1] != generations[2]


def test_a_failure_moves_the_generation() -> None:
    clock = Clock()
    cache: SharedCache[int] = SharedCache(clock)
    _, before = cache.get_versioned("k", lambda: 1, ttl=1.0)
    clock.now += 1.5

    def failing() -> int:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        cache.get_versioned("k", failing, ttl=1.0)
    clock.now += 1.5
    assert cache.get_versioned("k", lambda: 1, ttl=1.0)[1] not in (before,)


def test_max_keys_drops_the_least_recently_used() -> None:
    cache: SharedCache[str] = SharedCache(max_keys=2)
    loads: list[str] = []

    def load(key: str) -> str:
        loads.append(key)
        return key

    for key in ("a", "b", "a", "c", "a", "b"):
        cache.get(key, lambda key=key: load(key), ttl=60)  # type: ignore[misc]
    assert loads == ["a", "b", "c", "b"]  # "b" was dropped when "c" came, "a" never
