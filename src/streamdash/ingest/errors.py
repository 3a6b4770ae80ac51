"""Why a request was refused as a whole (as opposed to single events, which are rejected
individually and dead-lettered), and the JSON shape of every error answer.

Each exception carries its HTTP status and the short code of the answer
`{"error": code, "detail": text}`; nothing of a refused request is stored. The web
framework is imported only by the functions that answer requests: the validator raises
these errors in processes that serve none (Kafka workers, Spark's Python workers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import msgspec

from streamdash.errors import Fatal, LogUnavailable, StoreUnavailable

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response


class RequestRejected(Fatal):
    """The request cannot be served as sent. Fatal: sending it again unchanged cannot work."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedBody(RequestRejected):
    """Not JSON / NDJSON at all (or empty): there is no event in it to reject individually."""

    status = 400
    code = "malformed"


class WrongShape(RequestRejected):
    """Well-formed JSON, but not an object or a list of objects (or not the expected envelope)."""

    status = 422
    code = "wrong_shape"


class TooManyInvalid(RequestRejected):
    """So many events of one body are invalid that the body is refused as a whole.

    Every rejected event becomes a dead-letter record; without this cap a 16 MiB body of `{}`
    would turn into millions of records (~1 GB of dead letters) for one request."""

    status = 422
    code = "too_many_invalid"


class InvalidHeader(RequestRejected):
    status = 400
    code = "invalid_header"


class InvalidParameter(RequestRejected):
    status = 422
    code = "invalid_parameter"


class BodyTooLarge(RequestRejected):
    status = 413
    code = "too_large"


class UnsupportedMediaType(RequestRejected):
    status = 415
    code = "unsupported_media_type"


class NotFound(RequestRejected):
    status = 404
    code = "not_found"


class Unauthorized(RequestRejected):
    status = 401
    code = "unauthorized"


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The one JSON error shape of the API."""
    from starlette.responses import Response

    body = msgspec.json.encode({"error": code, "detail": detail})
    return Response(body, status, headers=headers, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the JSON shape, including unexpected ones (as a bare 500)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def rejected(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestRejected)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return error_response(exc.status, exc.code, exc.detail, headers)

    async def log_unavailable(_: Request, exc: Exception) -> Response:
        return error_response(503, "log_unavailable", str(exc), {"Retry-After": "1"})

    async def store_unavailable(_: Request, exc: Exception) -> Response:
        return error_response(503, "store_unavailable", str(exc), {"Retry-After": "5"})

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    async def invalid_request(_: Request, exc: Exception) -> Response:
        return error_response(422, "invalid_request", str(exc)[:500])

    async def unexpected(_: Request, exc: Exception) -> Response:
        # no stack trace or message to the client: it may reveal internals; the server logs it
        return error_response(500, "internal", "unexpected server error; see the server log")

    app.add_exception_handler(RequestRejected, rejected)
    app.add_exception_handler(LogUnavailable, log_unavailable)
    app.add_exception_handler(StoreUnavailable, store_unavailable)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)
