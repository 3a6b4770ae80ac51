"""Producing events and waiting for the broker's acknowledgement of every one of them.

`EventProducer.send` returns only when each message is acknowledged (acks=all, idempotent
producer: the client's own retries never duplicate a message); otherwise it raises
LogUnavailable within the delivery timeout, naming the broker's error. That is the ingest
contract — an HTTP 202 only after the events are durable — with Kafka as the log.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from typing import Any

from streamdash.errors import LogUnavailable
from streamdash.kafka import confluent
from streamdash.kafka.settings import KafkaSettings

_log = logging.getLogger(__name__)
Headers = list[tuple[str, bytes]]
_RETIRING_NAMES = (
    "PRODUCER_FENCED",
    "UNKNOWN_PRODUCER_ID",
    "OUT_OF_ORDER_SEQUENCE_NUMBER",
    "INVALID_PRODUCER_EPOCH",
    "INVALID_PRODUCER_ID_MAPPING",
)


@functools.cache
def _codes() -> frozenset[int]:
    errors = confluent().KafkaError
    return frozenset(getattr(errors, n) for n in _RETIRING_NAMES if hasattr(errors, n))


class _Deliveries:
    """Delivery reports of one `send`: how many are outstanding, and the first error."""

    def __init__(self, count: int) -> None:
        self.pending = count
        self.failed = 0
        self.error: str | None = None
        self.retire = False
        """A report said this client cannot go on (fenced, sequence state lost)."""

    def report(self, err: Any, msg: Any) -> None:
        self.pending -= 1
        if err is not None:
            self.failed += 1
            if self.error is None:
                self.error = str(err)
            if not isinstance(err, str) and (err.fatal() or err.code() in _codes()):
                self.retire = True


class EventProducer:
    """One librdkafka producer, recreated after a fatal error (an idempotent producer that
    lost its sequence state cannot be used again)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: Any = None
        self._fatal: str | None = None
        self.sent = 0

    def _client(self) -> Any:
        if self._producer is None or self._fatal is not None:
            if self._fatal is not None:
                _log.warning("recreating the Kafka producer after a fatal error: %s", self._fatal)
            self._fatal = None
            config = {**self.settings.producer_config(), "error_cb": self._on_error}
            self._producer = confluent().Producer(config)
        return self._producer

    def _on_error(self, err: Any) -> None:
        if err.fatal():
            self._fatal = str(err)

    def send(
        self,
        topic: str,
        values: Sequence[bytes | None],
        keys: Sequence[bytes | None],
        headers: Sequence[Headers | None] | None = None,
    ) -> None:
        """Produce `values` (with their `keys`) and wait until the broker acknowledged all;
        raise LogUnavailable if any was not within the delivery timeout."""
        if not values:
            return
        producer = self._client()
        deliveries = _Deliveries(len(values))
        deadline = time.monotonic() + self.settings.delivery_timeout_s + 2.0
        report = deliveries.report
        for i, value in enumerate(values):
            extra = headers[i] if headers is not None else None
            while True:
                try:
                    if extra:
                        producer.produce(topic, value, keys[i], on_delivery=report, headers=extra)
                    else:
                        producer.produce(topic, value, keys[i], on_delivery=report)
                    break
                except BufferError:  # the client's queue is full: let it drain
                    if time.monotonic() > deadline:
                        deliveries.report("local queue full", None)
                        deliveries.pending -= len(values) - i - 1
                        break
                    self._poll(producer, 0.05)
                except confluent().KafkaException as err:
                    raise LogUnavailable(f"cannot produce to topic {topic!r}: {err}") from None
            if i % 10_000 == 9_999:
                self._poll(producer, 0)
        while deliveries.pending > 0 and time.monotonic() < deadline:
            self._poll(producer, 0.05)
        if deliveries.pending > 0:
            raise LogUnavailable(
                f"Kafka at {self.settings.bootstrap} did not acknowledge {deliveries.pending} of "
                f"{len(values)} events for topic {topic!r} in time; they are not acknowledged "
                "(some may still be written)"
            )
        if deliveries.retire:
            # e.g. a restarted broker that no longer knows this producer id: only a new
            # client (a new id) can produce again
            self._fatal = deliveries.error
        if deliveries.failed:
            raise LogUnavailable(
                f"Kafka at {self.settings.bootstrap} did not store {deliveries.failed} of "
                f"{len(values)} events for topic {topic!r}: {deliveries.error}"
            )
        self.sent += len(values)

    def _poll(self, producer: Any, timeout_s: float) -> None:
        """Serve delivery reports; a fatal client error (raised by poll) retires this client:
        the next `send` starts a new one."""
        try:
            producer.poll(timeout_s)
        except confluent().KafkaException as err:
            self._fatal = str(err)
            raise LogUnavailable(
                f"the Kafka producer failed ({err}); the events are not acknowledged"
            ) from None

    def close(self, timeout_s: float = 10.0) -> None:
        if self._producer is not None:
            with contextlib.suppress(confluent().KafkaException):
                self._producer.flush(timeout_s)
            self._producer = None
