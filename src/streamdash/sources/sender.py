"""Sending events to a streamdash ingest API: `streamdash ingest FILE` and
`streamdash generate --to URL`. Batches are NDJSON bodies; transient failures (503,
connection errors) are retried with backoff so a restarting server loses nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from urllib.parse import quote

import httpx

NDJSON = "application/x-ndjson"


@dataclass
class SendResult:
    batches: int = 0
    accepted: int = 0
    rejected: int = 0
    failed_batches: int = 0
    errors: list[str] = field(default_factory=list)
    fatal: str | None = None
    """Why sending stopped early: an answer every later batch would get too (401, 404)."""

    @property
    def ok(self) -> bool:
        return self.failed_batches == 0

    def summary(self) -> str:
        text = f"sent {self.batches} batch(es): {self.accepted} accepted, {self.rejected} rejected"
        if self.failed_batches:
            text += f", {self.failed_batches} batch(es) FAILED: " + "; ".join(self.errors[:3])
        if self.fatal:
            text += f"; stopped: {self.fatal}"
        return text


_STOP_STATUSES = {
    401: "the API wants a token: set STREAMDASH_TOKEN to the API's token",
    403: "the API refused the token in STREAMDASH_TOKEN",
    404: "the API does not know this stream or route (is the URL and --stream right?)",
}
"""Answers that every later batch would get too: sending the rest is pointless."""


def _detail(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(answer, dict) and "detail" in answer:
        return str(answer["detail"])[:300]
    return response.text[:300]


def _post(
    client: httpx.Client,
    path: str,
    body: bytes,
    content_type: str,
    result: SendResult,
    retries: int = 5,
) -> None:
    delay = 0.2
    # one key per batch, the same on every retry: if an attempt was stored but its answer
    # lost (server killed, connection dropped), the retry is acknowledged, not stored again
    headers = {"Content-Type": content_type, "Idempotency-Key": uuid.uuid4().hex}
    for attempt in range(retries + 1):
        try:
            response = client.post(path, content=body, headers=headers)
        except httpx.TransportError as err:
            error = f"cannot reach {client.base_url}: {type(err).__name__}: {err}"
        else:
            if response.status_code < 300:
                payload = response.json()
                result.accepted += int(payload.get("accepted", 0))
                result.rejected += int(payload.get("rejected", 0))
                result.batches += 1
                return
            error = f"HTTP {response.status_code} from {path}: {_detail(response)}"
            if response.status_code in _STOP_STATUSES:
                result.fatal = (
                    f"HTTP {response.status_code}: {_STOP_STATUSES[response.status_code]}"
                )
                break
            if response.status_code != 503:
                break  # a client error will not go away by retrying
        if attempt < retries:
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    result.failed_batches += 1
    result.errors.append(error)


def send_batches(
    batches: Iterable[bytes], *, stream: str, url: str, token: str | None, sensorlogger: bool
) -> SendResult:
    """POST each NDJSON batch (or, for Sensor Logger, each body line) and tally the answers."""
    result = SendResult()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client:
        for batch in batches:
            if sensorlogger:
                for body in batch.splitlines():
                    if body.strip() and result.fatal is None:
                        _post(client, "/v1/sensorlogger", body, "application/json", result)
            else:
                _post(client, f"/v1/streams/{quote(stream, safe='')}/events", batch, NDJSON, result)
            if result.fatal is not None:
                break
    return result


def _batched(lines: Iterable[bytes], size: int, rate: float | None) -> Iterator[bytes]:
    iterator = iter(lines)
    started = time.monotonic()
    sent = 0
    while chunk := list(islice(iterator, size)):
        if rate:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        sent += len(chunk)
        yield b"\n".join(chunk) + b"\n"


def send_lines(
    lines: Iterable[bytes],
    *,
    stream: str,
    url: str,
    token: str | None,
    rate: float | None,
    sensorlogger: bool,
    batch_size: int = 1000,
) -> SendResult:
    """Send generated lines, paced at `rate` events/s when given."""
    size = batch_size if rate is None else max(1, min(batch_size, int(rate / 10) or 1))
    return send_batches(
        _batched(lines, size, rate), stream=stream, url=url, token=token, sensorlogger=sensorlogger
    )
