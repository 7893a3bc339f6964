"""Every refusal as JSON `{"error": code, "detail": text}` with an honest status code.

The framework's own refusals (unknown route 404, wrong method 405, invalid parameters 422) are
mapped here too, so no answer ever has another shape; parameter errors become 400 bad_request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from cairn.server.dbhealth import DatabaseHealth, unavailable_errors

__all__ = [
    "ApiError",
    "error_response",
    "install",
    "internal_error_response",
    "json_response",
    "unavailable_errors",
    "unavailable_response",
]

log = logging.getLogger("cairn.server")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    """A refusal the handlers raise; rendered by `error_response`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        content=json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def error_response(error: ApiError) -> Response:
    return json_response(
        {"error": error.code, "detail": error.detail, **error.extra}, error.status, error.headers
    )


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code
    return error_response(ApiError(exc.status_code, code, detail, headers=exc.headers))


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Name the parameter and the rule, never echo the offending value back.
    problems = [
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
        for err in exc.errors()
    ]
    return error_response(ApiError(400, "bad_request", "; ".join(problems) or "invalid request"))


def _health(request: Request) -> DatabaseHealth | None:
    health = getattr(request.app.state, "db_health", None)
    return health if isinstance(health, DatabaseHealth) else None


def _report(request: Request, exc: Exception) -> None:
    """Tell the app's DatabaseHealth (it counts and logs database errors)."""
    health = _health(request)
    if health is not None:
        health.report(exc)


async def _unavailable(request: Request, exc: Exception) -> Response:
    return unavailable_response(exc, _health(request))


def unavailable_response(exc: Exception, health: DatabaseHealth | None = None) -> Response:
    """503 `unavailable`; the outage is logged once, by `health` (dbhealth.py)."""
    if health is not None:
        health.report(exc)
    else:
        log.warning("database unavailable", extra={"fields": {"exception": type(exc).__name__}})
    return error_response(
        ApiError(
            503,
            "unavailable",
            "the server's database cannot be reached; retry later",
            headers={"Retry-After": "5"},
        )
    )


# nginx's status for a request whose client closed the connection before it was answered.
CLIENT_CLOSED = 499


def client_gone_response() -> Response:
    """For a request whose client went away while it was being read: no fault of the server's
    (not a 500, nothing logged as an error), and nothing can reach the client. The status is
    what the request's log line and metrics show."""
    return Response(status_code=CLIENT_CLOSED)


async def _client_gone(_: Request, _exc: Exception) -> Response:
    return client_gone_response()


async def _unexpected(request: Request, exc: Exception) -> Response:
    _report(request, exc)
    return internal_error_response(exc)


def internal_error_response(exc: Exception) -> Response:
    """500 `internal` for an exception nothing else handled; logged by its type only."""
    log.error("unhandled error", extra={"fields": {"exception": type(exc).__name__}})
    return error_response(ApiError(500, "internal", "the server failed to handle the request"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for unavailable in unavailable_errors():
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
