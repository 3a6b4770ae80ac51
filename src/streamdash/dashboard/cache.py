"""A tiny shared cache with a time-to-live and single-flight loading.

Every open browser tab polls about once a second. Without sharing, N viewers mean N
database queries per tick; with this cache all of them get the result of ONE query per
key per TTL. Single flight: when an entry expires and many requests arrive at once, one
of them loads while the others wait for its result instead of querying too. Failures are
cached for the TTL as well, so a database outage is not hammered by every viewer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded_at: float | None = None
    # Value and error in one attribute: readers outside the lock see one consistent pair.
    result: tuple[T, None] | tuple[None, Exception] | None = None


class SharedCache(Generic[T]):
    """`get(key, load, ttl)`: the cached value of `key` if younger than `ttl` seconds,
    else the result of `load()` (exactly one caller loads; concurrent callers wait)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._guard = threading.Lock()
        self.loads = 0
        """How many times a loader ran (what the database saw): for tests and /stats."""

    def _entry(self, key: Hashable) -> _Entry[T]:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
            return entry

    def _fresh(self, entry: _Entry[T], ttl: float) -> bool:
        return entry.loaded_at is not None and self._clock() - entry.loaded_at < ttl

    def get(self, key: Hashable, load: Callable[[], T], ttl: float) -> T:
        entry = self._entry(key)
        if not self._fresh(entry, ttl):
            with entry.lock:
                # Re-check under the lock: whoever waited here while another request
                # loaded now finds a fresh entry and does not query again.
                if not self._fresh(entry, ttl):
                    self._load(entry, load)
        result = entry.result
        assert result is not None  # set by the load above or an earlier one
        value, error = result
        if error is not None:
            raise error
        return value  # type: ignore[return-value]  # not None: error is None here

    def _load(self, entry: _Entry[T], load: Callable[[], T]) -> None:
        with self._guard:
            self.loads += 1
        try:
            value = load()
        except Exception as err:  # cached and re-raised to every caller of this tick
            entry.result = (None, err)
        else:
            entry.result = (value, None)
        entry.loaded_at = self._clock()
