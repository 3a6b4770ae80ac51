"""Consumed messages, held per partition until a batch of them is worth processing.

A poll returns the messages of several partitions in runs of one partition each (librdkafka
hands over each fetch response's messages together). They are grouped here with list
comprehensions of C calls and numpy, not a Python step per message: at the workers' rates a
Python loop body per message costs as much as the engine's whole work per event.

The engine's and the commit's cost per batch is mostly fixed (about 20 DuckDB statements
and 15 PostgreSQL ones, tens of ms on this machine), so a partition's messages wait for more
until one of these holds:

- there are `batch_messages` of them;
- the oldest has waited `max_wait_s` (light traffic is not delayed longer than that);
- the partition is caught up: its last message is the last one the broker had.
"""

from __future__ import annotations

import itertools
from collections.abc import Container, Sequence
from typing import Any

import numpy as np

Key = tuple[str, int]
"""(topic, partition)"""


def partition_runs(messages: Sequence[Any]) -> list[tuple[Key, Sequence[Any]]]:
    """`messages` (no error events) cut into consecutive runs of one partition each, in
    order; a partition may have several runs."""
    n = len(messages)
    if not n:
        return []
    partitions = np.array([m.partition() for m in messages], np.int64)
    topics = [m.topic() for m in messages]
    change = partitions[1:] != partitions[:-1]
    if topics.count(topics[0]) != n:
        codes = {name: i for i, name in enumerate(dict.fromkeys(topics))}
        topic_codes = np.array([codes[name] for name in topics], np.int64)
        change |= topic_codes[1:] != topic_codes[:-1]
    cuts = [0, *(np.flatnonzero(change) + 1).tolist(), n]
    return [((topics[a], int(partitions[a])), messages[a:b]) for a, b in itertools.pairwise(cuts)]


class PartitionBuffers:
    def __init__(self, batch_messages: int, max_wait_s: float) -> None:
        self.batch_messages = batch_messages
        self.max_wait_s = max_wait_s
        self._messages: dict[Key, list[Any]] = {}
        self._since: dict[Key, float] = {}
        """When the oldest buffered message of each partition arrived (monotonic s)."""
        self.total = 0
        """Messages buffered over all partitions."""

    def __bool__(self) -> bool:
        return bool(self._messages)

    def add(self, messages: Sequence[Any], now: float, owned: Container[Key]) -> list[Any]:
        """Buffer the messages of the partitions in `owned` (others were revoked meanwhile:
        their new owner fetches them again); returns the error events among `messages`."""
        errors = [m.error() for m in messages]
        events: list[Any] = []
        # any(): `errors.count(None)` would compare a KafkaError with None, which raises
        # inside confluent-kafka's comparison (SystemError)
        if any(errors):
            events = [m for m, e in zip(messages, errors, strict=True) if e is not None]
            messages = [m for m, e in zip(messages, errors, strict=True) if e is None]
        for key, run in partition_runs(messages):
            if key not in owned:
                continue
            buffer = self._messages.get(key)
            if buffer is None:
                buffer = self._messages[key] = []
                self._since[key] = now
            buffer.extend(run)
            self.total += len(run)
        return events

    def has(self, key: Key) -> bool:
        return key in self._messages

    def due(self, key: Key, now: float, high_watermark: int | None) -> list[Any] | None:
        """The partition's buffered messages, taken out, if they are due (None otherwise)."""
        buffer = self._messages.get(key)
        if buffer is None:
            return None
        caught_up = high_watermark is not None and buffer[-1].offset() + 1 >= high_watermark
        if (
            len(buffer) >= self.batch_messages
            or caught_up
            or now - self._since[key] >= self.max_wait_s
        ):
            return self.drop(key)
        return None

    def drop(self, key: Key) -> list[Any] | None:
        buffer = self._messages.pop(key, None)
        self._since.pop(key, None)
        if buffer is not None:
            self.total -= len(buffer)
        return buffer
