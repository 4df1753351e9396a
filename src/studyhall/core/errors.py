"""The application's error hierarchy and the handlers that render it as {detail, code}."""

from __future__ import annotations

import math
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from studyhall.core.context import current_context
from studyhall.core.middleware import API_CSP, SECURITY_HEADERS
from studyhall.core.routes import allowed_methods

log = structlog.get_logger(__name__)


class AppError(Exception):
    """An expected failure with a status code and a stable machine-readable code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        self.headers = headers or {}


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str = "Not authenticated", *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class PaymentRequired(AppError):
    status_code = 402
    code = "insufficient_tokens"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(AppError):
    status_code = 422
    code = "unprocessable"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


class GatewayTimeout(AppError):
    status_code = 504
    code = "gateway_timeout"


_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def error_response(
    status_code: int, detail: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error body shape of the API."""
    return JSONResponse({"detail": detail, "code": code}, status_code=status_code, headers=headers)


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.message, exc.code, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError | RecursionError):
        # FastAPI answers a JSON body it cannot decode (not UTF-8, nested too deeply) with a
        # bare 400, while any other malformed JSON is a 422 `json_invalid`: the same mistake
        # gets the same answer.
        why = (
            "The body is not valid UTF-8"
            if isinstance(cause, UnicodeDecodeError)
            else "The body is nested too deeply"
        )
        position: int = cause.start if isinstance(cause, UnicodeDecodeError) else 0
        return JSONResponse(
            {
                "detail": [
                    {
                        "type": "json_invalid",
                        "loc": ["body", position],
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": why},
                    }
                ]
            },
            status_code=422,
        )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    code = _STATUS_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, detail, code, headers)


def _encodable(value: Any) -> Any:
    """The value as strict JSON can carry it: an unpaired surrogate or a NaN/Infinity sent in a
    body comes back as text instead of failing the error response itself."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [_encodable(item) for item in value]
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    return value


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI's own 422 body, rendered so that any input it echoes can be encoded.
    return JSONResponse({"detail": _encodable(jsonable_encoder(exc.errors()))}, status_code=422)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    # Starlette answers from its outermost middleware, outside the one that adds the security
    # headers and the request id to every other answer: add them here.
    headers = {name.decode(): value.decode() for name, value in (*SECURITY_HEADERS, API_CSP)}
    request_id = current_context().request_id
    if request_id:
        headers["X-Request-ID"] = request_id
    return error_response(500, "Internal server error", "internal_error", headers)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Handled here rather than by the catch-all: Starlette re-raises what reaches the catch-all
    # after answering, which makes uvicorn drop the client's keep-alive connection.
    lost = isinstance(exc, (OSError, ConnectionError)) or (
        isinstance(exc, DBAPIError)
        and (exc.connection_invalidated or isinstance(exc.orig, (OSError, ConnectionError)))
    )
    if lost:
        log.warning("database_unavailable", path=request.url.path, error_type=type(exc).__name__)
        return error_response(
            503,
            "The database is unavailable; try again shortly",
            "database_unavailable",
            {"Retry-After": "5"},
        )
    # Reachable but saturated: no pooled connection came free, or SQLite's write lock stayed
    # taken, within DB_TIMEOUT_S. The request changed nothing and may simply be sent again.
    busy = isinstance(exc, PoolTimeout) or (
        isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
    )
    if busy:
        log.warning("database_busy", path=request.url.path, error_type=type(exc).__name__)
        return error_response(
            503, "The database is busy; try again shortly", "database_busy", {"Retry-After": "2"}
        )
    return await _unhandled(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as {detail, code}; validation errors as FastAPI's standard 422 list."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(Exception, _unhandled)
    app.add_exception_handler(RequestValidationError, _validation_error)
