"""Probe events of the dashboard benchmark: sign-ups (`users` stream) whose first name is a
unique token, posted on a jittered schedule, and a poller that notes when each token's
result row is committed in PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass

import httpx
import msgspec
import psycopg

from streamdash.bench.viewers import PROBE_PREFIX
from streamdash.sources.generators import generate

STREAM = "users"
VIEW = "created_users"
ROW_POLL_S = 0.01


@dataclass
class Probe:
    token: str
    sent_ms: float
    """Wall-clock ms just before the POST (the browser's Date.now() is on the same clock)."""


def wall_ms() -> float:
    return time.time() * 1000


def probe_event(token: str, seed: int) -> bytes:
    """A valid sign-up from the generator, with a fresh id and `token` as first name."""
    event = msgspec.json.decode(next(generate(STREAM, count=1, seed=seed)))
    event["id"] = str(uuid.uuid4())
    event["name"]["first"] = token
    return msgspec.json.encode(event)


def new_token() -> str:
    return PROBE_PREFIX + uuid.uuid4().hex[:10]


def post_probes(
    http: httpx.Client, api_url: str, seconds: float, every: float, rng: random.Random
) -> list[Probe]:
    """One probe every `every` s (+- 25 % jitter: no lock-step with the refresh ticks)."""
    probes: list[Probe] = []
    url = f"{api_url}/v1/streams/{STREAM}/events"
    started = time.monotonic()
    due = started
    while due - started < seconds:
        time.sleep(max(0.0, due - time.monotonic()))
        token = new_token()
        body = probe_event(token, seed=len(probes))
        sent = wall_ms()
        response = http.post(url, content=body, headers={"content-type": "application/json"})
        if response.status_code != 202 or response.json().get("accepted") != 1:
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")
        probes.append(Probe(token, sent))
        due += every * rng.uniform(0.75, 1.25)
    return probes


class RowPoller:
    """Every 10 ms on its own connection (as the superuser, so it is not counted with the
    dashboard's queries): the wall-clock ms at which each probe's row was first seen."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.seen_ms: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="row-poller", daemon=True)

    def __enter__(self) -> RowPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        query = f"SELECT first_name FROM {VIEW} WHERE first_name LIKE '{PROBE_PREFIX}%'"
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.is_set():
                now = wall_ms()
                try:
                    names = [str(row[0]) for row in conn.execute(query).fetchall()]
                except psycopg.errors.UndefinedTable:
                    names = []
                for name in names:
                    self.seen_ms.setdefault(name, now)
                self._stop.wait(ROW_POLL_S)


def seed_users(http: httpx.Client, api_url: str, count: int, database_url: str) -> None:
    """`count` generated sign-ups, so the page has the data a user would see; returns once
    they are all in the result table."""
    body = b"".join(line + b"\n" for line in generate(STREAM, count=count, seed=11))
    response = http.post(
        f"{api_url}/v1/streams/{STREAM}/events",
        content=body,
        headers={"content-type": "application/x-ndjson"},
    )
    if response.status_code != 202:
        raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")
    deadline = time.monotonic() + 60
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            try:
                row = conn.execute(f"SELECT count(*) FROM {VIEW}").fetchone()
            except psycopg.errors.UndefinedTable:
                row = None
            if row and int(row[0]) >= count:
                return
            time.sleep(0.05)
    raise RuntimeError(f"the engine did not write {count} users within 60 s")
