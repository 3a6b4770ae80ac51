"""`GET /v1/alerts?state=open|resolved&limit=N`: alerts, newest first, as JSON."""

from __future__ import annotations

from typing import cast, get_args

import msgspec
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from streamdash.alerts.reader import MAX_LIMIT, AlertReader, State
from streamdash.ingest.errors import InvalidParameter

DEFAULT_LIMIT = 100


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit() and len(text) < 6 and 1 <= int(text) <= MAX_LIMIT):
        raise InvalidParameter(
            f"limit={text!r:.40} is not valid; expected an integer 1..{MAX_LIMIT}"
        )
    return int(text)


def _state(text: str | None) -> State | None:
    if text is None or text == "":
        return None
    if text not in get_args(State):
        raise InvalidParameter(f"state={text!r:.40} is not valid; expected open or resolved")
    return cast(State, text)


def alerts_router(reader: AlertReader) -> APIRouter:
    """Mount with `app.include_router(alerts_router(reader))`. Errors use the API's JSON
    shape through its handlers (422 for a bad parameter, 503 when the database is down)."""
    router = APIRouter()

    @router.get("/v1/alerts")
    async def list_alerts(state: str | None = None, limit: str | None = None) -> Response:
        rows = await run_in_threadpool(reader.alerts, _state(state), _limit(limit))
        return Response(msgspec.json.encode(rows), media_type="application/json")

    return router
