"""A tiny shared cache with a time-to-live and single-flight loading.

Every open browser tab polls twice a second. Without sharing, N viewers mean N database
queries per tick; with this cache all of them get the result of ONE query per key per TTL.
Single flight: when an entry expires and many requests arrive at once, one of them loads
while the others wait for its result instead of querying too. Failures are cached for the
TTL as well, so a database outage is not hammered by every viewer.

An entry's age counts from the moment its load *started* (the data is as old as the query
that read it): a lone viewer polling every `interval` with a TTL a little under it reloads
on every tick instead of every other one, which would double what it sees of staleness.

Each entry has a generation that moves only when a load returns something different from
the previous one: callers combine generations into a version of what they show, and skip
redrawing what has not changed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded_at: float | None = None
    # Value, error and generation in one attribute: readers outside the lock see one
    # consistent triple.
    result: tuple[T | None, Exception | None, int] | None = None


class SharedCache(Generic[T]):
    """`get(key, load, ttl)`: the cached value of `key` if younger than `ttl` seconds,
    else the result of `load()` (exactly one caller loads; concurrent callers wait).
    `max_keys`: keep at most this many keys, dropping the least recently used."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, max_keys: int | None = None
    ) -> None:
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry[T]] = OrderedDict()
        self._guard = threading.Lock()
        self._max_keys = max_keys
        self.loads = 0
        """How many times a loader ran (what the database saw): for tests and /stats."""

    def _entry(self, key: Hashable) -> _Entry[T]:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                if self._max_keys is not None and len(self._entries) > self._max_keys:
                    self._entries.popitem(last=False)  # a loader still holds its entry
            else:
                self._entries.move_to_end(key)
            return entry

    def _fresh(self, entry: _Entry[T], ttl: float) -> bool:
        return entry.loaded_at is not None and self._clock() - entry.loaded_at < ttl

    def get(self, key: Hashable, load: Callable[[], T], ttl: float) -> T:
        return self.get_versioned(key, load, ttl)[0]

    def get_versioned(self, key: Hashable, load: Callable[[], T], ttl: float) -> tuple[T, int]:
        """`get`, plus the generation of the value: equal generations, equal values."""
        entry = self._entry(key)
        if not self._fresh(entry, ttl):
            with entry.lock:
                # Re-check under the lock: whoever waited here while another request
                # loaded now finds a fresh entry and does not query again.
                if not self._fresh(entry, ttl):
                    self._load(entry, load)
        result = entry.result
        assert result is not None  # set by the load above or an earlier one
        value, error, generation = result
        if error is not None:
            raise error
        return value, generation  # type: ignore[return-value]  # not None: no error

    def _load(self, entry: _Entry[T], load: Callable[[], T]) -> None:
        with self._guard:
            self.loads += 1
        started = self._clock()
        previous = entry.result
        generation = previous[2] if previous is not None else 0
        try:
            value = load()
        except Exception as err:  # cached and re-raised to every caller of this tick
            entry.result = (None, err, generation + 1)
        else:
            same = previous is not None and previous[1] is None and previous[0] == value
            entry.result = (value, None, generation if same else generation + 1)
        entry.loaded_at = started
