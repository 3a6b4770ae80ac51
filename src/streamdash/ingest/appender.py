"""Group commit: many requests' events made durable by one log write.

Every durable append costs an fsync (milliseconds); doing one per request would cap the API
at a few hundred requests per second. Instead requests hand their chunk to one writer
thread and await a future; while the writer is busy with one group, the next group piles
up and is then written with one `log.append` per stream - one fsync for all of them.

Dead letters of the group are appended (to `_dead_letters`) BEFORE the accepted events: if
the events' append then fails the request gets 503 and the producer sends again, which at
worst duplicates dead letters - never accepted events without their rejects on record.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from streamdash.errors import LogUnavailable
from streamdash.ingest.validate import Rejection
from streamdash.log.base import DEAD_LETTER_STREAM, Log

_log = logging.getLogger(__name__)


def dead_letter_records(stream: str, rejections: list[Rejection], received_us: int) -> bytes:
    """The NDJSON chunk of dead-letter records for `rejections`, one line each:
    `{"stream", "reason", "detail", "raw" | "raw_b64", "received_us", "index"}`.
    `raw` is the event as UTF-8 text; bytes that are not UTF-8 go to `raw_b64` instead."""
    lines: list[bytes] = []
    for rejection in rejections:
        record: dict[str, object] = {
            "stream": stream,
            "reason": rejection.reason,
            "detail": rejection.detail,
        }
        try:
            record["raw"] = rejection.raw.decode("utf-8")
        except UnicodeDecodeError:
            record["raw_b64"] = base64.b64encode(rejection.raw).decode("ascii")
        record["received_us"] = received_us
        record["index"] = rejection.index
        lines.append(msgspec.json.encode(record))
    lines.append(b"")
    return b"\n".join(lines)


@dataclass(slots=True)
class _Job:
    stream: str
    payload: bytes
    count: int
    dead_letters: bytes
    dead_count: int
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    key: str | None = None

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.dead_letters)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the request gave up (timeout, client gone)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class GroupCommitAppender:
    """Gathers concurrent appends and writes them in one durable `log.append` per stream.

    `append` returns once the request's events and dead letters are durable; it raises
    LogUnavailable when the log fails, when durability takes longer than `timeout_s`, or
    when more than `max_pending_bytes` are waiting (back-pressure instead of unbounded RAM).
    """

    def __init__(
        self,
        log: Log,
        *,
        timeout_s: float = 10.0,
        max_pending_bytes: int = 256 << 20,
        max_group_bytes: int = 64 << 20,
        observe_append: Callable[[float], None] | None = None,
    ) -> None:
        self._log = log
        self.timeout_s = timeout_s
        self.max_pending_bytes = max_pending_bytes
        self.max_group_bytes = max_group_bytes
        self._observe = observe_append
        self._queue: deque[_Job] = deque()
        self._pending_bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.groups_written = 0
        """Number of group commits done (for tests and benchmarks: groups < requests)."""

    @property
    def healthy(self) -> bool:
        """False once closed or if the writer thread died."""
        thread = self._thread
        return not self._closing and (thread is None or thread.is_alive())

    async def append(
        self,
        stream: str,
        payload: bytes,
        count: int,
        dead_letters: bytes,
        dead_count: int,
        key: str | None = None,
    ) -> None:
        """Make `count` events of `stream` and `dead_count` dead-letter records durable.

        With an idempotency `key`, a request already made durable under the same key (a
        producer's retry after a lost acknowledgement) is acknowledged without storing it
        again."""
        if count == 0 and dead_count == 0:
            return
        loop = asyncio.get_running_loop()
        job = _Job(
            stream, payload, count, dead_letters, dead_count, loop.create_future(), loop, key
        )
        with self._cond:
            if not self.healthy:
                raise LogUnavailable("the log writer is stopped; events were not stored")
            if self._pending_bytes + job.size > self.max_pending_bytes and self._queue:
                raise LogUnavailable(
                    f"more than {self.max_pending_bytes} bytes are waiting to be written to "
                    "the log; retry later"
                )
            self._start()
            self._queue.append(job)
            self._pending_bytes += job.size
            self._cond.notify()
        try:
            await asyncio.wait_for(asyncio.shield(job.future), self.timeout_s)
        except TimeoutError:
            raise LogUnavailable(
                f"the log did not make the events durable within {self.timeout_s} s; they are "
                "not acknowledged (they may still be written: resending can duplicate them)"
            ) from None

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _start(self) -> None:
        # lazily, on first use: apps served through an ASGI transport never see lifespan
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="streamdash-group-commit", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                group = [self._queue.popleft()]
                size = group[0].size
                while self._queue and size + self._queue[0].size <= self.max_group_bytes:
                    size += self._queue[0].size
                    group.append(self._queue.popleft())
                self._pending_bytes -= size
            self._write(group)

    def _write(self, group: list[_Job]) -> None:
        started = time.perf_counter()
        failed: dict[int, BaseException] = {}
        with_dead = [job for job in group if job.dead_count]
        if with_dead:
            chunks = [(job.dead_letters, job.dead_count) for job in with_dead]
            # dead-letter keys are scoped by stream: the key is the producer's, per stream
            keys = [f"{job.stream}:{job.key}" if job.key else None for job in with_dead]
            error = self._append(DEAD_LETTER_STREAM, chunks, keys)
            if error is not None:
                failed.update((id(job), error) for job in with_dead)
        by_stream: defaultdict[str, list[_Job]] = defaultdict(list)
        for job in group:
            if job.count and id(job) not in failed:
                by_stream[job.stream].append(job)
        for stream, jobs in by_stream.items():
            error = self._append(
                stream, [(job.payload, job.count) for job in jobs], [job.key for job in jobs]
            )
            if error is not None:
                failed.update((id(job), error) for job in jobs)
        if self._observe is not None:
            self._observe(time.perf_counter() - started)
        self.groups_written += 1
        for job in group:
            # RuntimeError: the request's event loop is closed, nobody is left to answer
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_settle, job.future, failed.get(id(job)))

    def _append(
        self, stream: str, chunks: list[tuple[bytes, int]], keys: list[str | None]
    ) -> BaseException | None:
        try:
            self._log.append(stream, chunks, keys if any(keys) else None)
        except LogUnavailable as err:
            _log.warning("log append to %s failed: %s", stream, err)
            return err
        except Exception as err:  # the writer must survive anything a log may raise
            _log.exception("unexpected error appending to log stream %s", stream)
            return LogUnavailable(f"appending to log stream {stream!r} failed: {err}")
        return None
