"""Dropping the events of a retried request that a partition already has.

Ingest produces each event of a request with an `Idempotency-Key` with two headers: the key
(`streamdash-request`) and the event's index in the request (`streamdash-seq`). A retry
(after a 503, or an acknowledgement lost on the way back) is produced again in full, and
since an event's message key is the same, it lands in the same partition as before. Per
partition, the seqs seen of each request are kept as a bitmap; an event whose seq is set
already is a duplicate and is dropped before the engine sees it. Only the seqs really seen
count, so a first attempt that failed half-way loses nothing: its missing events are taken
from the retry.

Requests are forgotten once the message time (the broker's timestamp) is `window_us` past
their first event — a pure function of the partition's contents, so a replay after a crash
drops exactly the same events. The state is part of the partition's checkpoint.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from streamdash.kafka.headers import REQUEST_HEADER, SEQ_HEADER


class _Saved(msgspec.Struct, array_like=True):
    request: bytes
    first_us: int
    seen: bytes


class RequestDedupe:
    def __init__(self, window_us: int) -> None:
        self.window_us = window_us
        self._requests: OrderedDict[bytes, tuple[int, int]] = OrderedDict()
        """request key -> (time of its first event, bitmap of the seqs seen), oldest first."""
        self.dropped = 0

    def duplicate(self, headers: list[tuple[str, bytes]] | None, time_us: int) -> bool:
        """Whether the message with these headers (at message time `time_us`) repeats an
        event seen before; records it as seen otherwise."""
        if not headers:
            return False
        request = seq_text = None
        for name, value in headers:
            if name == REQUEST_HEADER:
                request = value
            elif name == SEQ_HEADER:
                seq_text = value
        if request is None or seq_text is None or not seq_text.isdigit():
            return False
        self._expire(time_us)
        seq = int(seq_text)
        first, seen = self._requests.get(request, (time_us, 0))
        bit = 1 << seq
        if seen & bit:
            self.dropped += 1
            return True
        self._requests[request] = (first, seen | bit)
        return False

    def _expire(self, now_us: int) -> None:
        horizon = now_us - self.window_us
        while self._requests:
            request, (first, _) = next(iter(self._requests.items()))
            if first >= horizon:
                return
            del self._requests[request]

    def snapshot(self) -> bytes:
        saved = [
            _Saved(r, first, seen.to_bytes((seen.bit_length() + 7) // 8, "little"))
            for r, (first, seen) in self._requests.items()
        ]
        return msgspec.msgpack.encode(saved)

    def restore(self, data: bytes) -> None:
        self._requests = OrderedDict(
            (s.request, (s.first_us, int.from_bytes(s.seen, "little")))
            for s in msgspec.msgpack.decode(data, type=list[_Saved])
        )
