"""Feeding generated events to the ingest API over HTTP, as a real producer would.

Used by `streamdash demo` (one feeder thread per built-in stream) and by
`streamdash generate --to http://...`. Events are posted in NDJSON batches every `tick`
seconds so that a rate of thousands of events/s costs a few requests per second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from streamdash.sources.generators import generate

NDJSON = "application/x-ndjson"
READINGS_PER_BODY = 10


@dataclass
class FeedStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    failures: int = 0
    last_error: str | None = None


@dataclass
class Feeder:
    """Posts `stream`'s generated events at `rate` events/s until stopped."""

    api_url: str
    stream: str
    rate: float
    seed: int
    token: str | None = None
    late_fraction: float = 0.0
    bad_fraction: float = 0.0
    tick: float = 0.1
    sensorlogger: bool = False
    stats: FeedStats = field(default_factory=FeedStats)

    @property
    def items_per_second(self) -> float:
        """Sensor Logger bodies carry ~10 readings each: `rate` counts events, not bodies."""
        return self.rate / READINGS_PER_BODY if self.sensorlogger else self.rate

    def _items(self) -> Iterator[bytes]:
        return generate(
            self.stream,
            count=10**12,
            seed=self.seed,
            rate=self.items_per_second,
            start_us=time.time_ns() // 1000,
            late_fraction=self.late_fraction,
            bad_fraction=self.bad_fraction,
        )

    def run(self, stop: threading.Event) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        items = self._items()
        started = time.monotonic()
        due = 0.0
        with httpx.Client(base_url=self.api_url, headers=headers, timeout=10.0) as client:
            while not stop.is_set():
                target = (time.monotonic() - started) * self.items_per_second
                n = int(target - due)
                if n > 0:
                    batch = [next(items) for _ in range(n)]
                    due += n
                    self._post(client, batch)
                stop.wait(self.tick)

    def _post(self, client: httpx.Client, batch: list[bytes]) -> None:
        try:
            if self.sensorlogger:
                for body in batch:
                    self._account(
                        client.post(
                            "/v1/sensorlogger",
                            content=body,
                            headers={"Content-Type": "application/json"},
                        )
                    )
            else:
                self._account(
                    client.post(
                        f"/v1/streams/{self.stream}/events",
                        content=b"\n".join(batch) + b"\n",
                        headers={"Content-Type": NDJSON},
                    )
                )
            self.stats.sent += len(batch)
        except httpx.HTTPError as err:
            self.stats.failures += 1
            self.stats.last_error = str(err)

    def _account(self, response: httpx.Response) -> None:
        if response.status_code >= 500:
            self.stats.failures += 1
            self.stats.last_error = f"HTTP {response.status_code}: {response.text[:200]}"
            return
        try:
            body = response.json()
        except ValueError:
            return
        self.stats.accepted += int(body.get("accepted", 0))
        self.stats.rejected += int(body.get("rejected", 0))
