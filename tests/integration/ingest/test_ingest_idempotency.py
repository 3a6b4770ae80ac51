"""A producer's retry of a batch whose answer it never got must not store the batch twice."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from ingest_support import Served, event, ndjson, stored

from streamdash.log.base import DEAD_LETTER_STREAM
from streamdash.log.sqlite import SqliteLog


def post(served: Served, body: bytes, key: str | None) -> httpx.Response:
    headers = {"content-type": "application/x-ndjson"}
    if key is not None:
        headers["idempotency-key"] = key
    return httpx.post(f"{served.url}/v1/streams/app_logs/events", content=body, headers=headers)


def test_a_retried_batch_is_acknowledged_again_but_stored_once(
    serve: Callable[..., Served], log: SqliteLog
) -> None:
    served = serve()
    body = ndjson([event(i) for i in range(5)]) + b"{not json\n"
    first = post(served, body, "batch-0001")
    retry = post(served, body, "batch-0001")
    assert first.status_code == retry.status_code == 202
    assert (
        first.json()
        == retry.json()
        == {
            "accepted": 5,
            "rejected": 1,
            "errors": first.json()["errors"],
        }
    )
    assert len(stored(log, "app_logs")) == 5
    assert len(stored(log, DEAD_LETTER_STREAM)) == 1
    # another key is another batch, and no key means no deduplication at all
    assert post(served, body, "batch-0002").status_code == 202
    assert post(served, body, None).status_code == 202
    assert post(served, body, None).status_code == 202
    assert len(stored(log, "app_logs")) == 20
    assert len(stored(log, DEAD_LETTER_STREAM)) == 4


def test_concurrent_retries_with_one_key_store_one_copy(
    serve: Callable[..., Served], log: SqliteLog
) -> None:
    import concurrent.futures

    served = serve()
    body = ndjson([event(i) for i in range(100)])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(served, body, "same"), range(16)))
    assert {a.status_code for a in answers} == {202}
    assert len(stored(log, "app_logs")) == 100


def test_hostile_keys_are_refused_before_anything_is_stored(
    serve: Callable[..., Served], log: SqliteLog
) -> None:
    served = serve()
    body = ndjson([event(0)])
    for key in ("", "x" * 201, "a b", "key!", "k;DROP TABLE chunks"):
        response = post(served, body, key)
        assert response.status_code == 400, (key, response.text)
        assert response.json()["error"] == "invalid_header"
    assert stored(log, "app_logs") == []
