"""Webhook delivery: POST the alert as JSON, retried with exponential backoff, a bounded
number of attempts and a timeout per attempt. Runs on its own thread so that a slow or dead
endpoint never delays the evaluation of alerts; failures are logged, never raised.

Webhook URLs often carry a secret (Slack, Teams, tokens in the query): only the scheme and
host are ever logged.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    timeout_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Wait after failed attempt number `attempt` (1-based): 0.5 s, 1 s, 2 s, ..."""
        return float(min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s))


def redact(url: str) -> str:
    """`https://hooks.example.com/services/T0/B0/s3cret?x=1` -> `https://hooks.example.com/…`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<webhook>"
    return f"{parts.scheme}://{host}{port}/…"


class _RedactUrls(logging.Filter):
    """httpx logs every request with its full URL at INFO: keep only scheme and host."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_REDACT = _RedactUrls()


def _retryable(status: int) -> bool:
    # 4xx other than timeouts/rate limits will not change by sending again.
    return status >= 500 or status in (408, 425, 429)


def post_with_retries(
    client: httpx.Client,
    url: str,
    payload: dict[str, Any],
    policy: RetryPolicy,
    stop: threading.Event,
) -> bool:
    """True once the endpoint answered 2xx; False after the last attempt (or on stop)."""
    where = redact(url)
    for attempt in range(1, policy.attempts + 1):
        try:
            response = client.post(url, json=payload, timeout=policy.timeout_s)
        except httpx.HTTPError as err:
            # The exception text may contain the URL: log its type only.
            problem = f"{type(err).__name__}"
            retry = True
        else:
            if 200 <= response.status_code < 300:
                return True
            problem = f"HTTP {response.status_code}"
            retry = _retryable(response.status_code)
        if not retry or attempt == policy.attempts:
            log.warning(
                "webhook %s for alert %s (%s) failed after %d attempt(s): %s; giving up",
                where, payload.get("id"), payload.get("rule"), attempt, problem,
            )  # fmt: skip
            return False
        delay = policy.delay(attempt)
        log.info("webhook %s: %s; retrying in %.1f s", where, problem, delay)
        if stop.wait(delay):
            return False
    return False


Done = Callable[[int, str], None]
"""Called with (alert id, state) after a successful delivery."""


@dataclass(frozen=True)
class _Job:
    url: str
    payload: dict[str, Any]


class WebhookWorker:
    """A queue of deliveries and the one thread that sends them, in order."""

    def __init__(self, on_delivered: Done, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self._on_delivered = on_delivered
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-webhooks", daemon=True)
        self._thread.start()

    def submit(self, url: str, payload: dict[str, Any]) -> None:
        self._jobs.put(_Job(url, payload))

    def pending(self) -> int:
        return self._jobs.qsize()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        logging.getLogger("httpx").addFilter(_REDACT)  # the same filter object: added once
        with httpx.Client(headers={"User-Agent": "streamdash-alerts"}) as client:
            while not self._stop.is_set():
                job = self._jobs.get()
                if job is None:
                    return
                try:
                    if post_with_retries(client, job.url, job.payload, self.policy, self._stop):
                        self._on_delivered(int(job.payload["id"]), str(job.payload["state"]))
                except Exception as err:  # a bug here must not end deliveries for good
                    # No traceback: its text could quote the URL.
                    log.error("webhook delivery to %s failed: %s", redact(job.url), type(err))
