"""Pure ASGI middleware: request id, access log, metrics, security headers, body size limit.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses and client disconnects pass through.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studyhall.config import DEFAULT_MAX_REQUEST_BODY_BYTES, Settings
from studyhall.core.context import RequestContext, set_context
from studyhall.core.metrics import LATENCY, REQUESTS
from studyhall.core.routes import route_templates

log = structlog.get_logger("studyhall.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# The docs pages load Swagger/ReDoc assets; every other response is JSON and needs nothing.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class RequestBodyTooLarge(StarletteHTTPException):
    """Raised from `receive` once a body passes the limit; rendered as 413 {detail, code}."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the {limit} byte limit")


def _body_limit(scope: Scope) -> int | None:
    state = getattr(scope.get("app"), "state", None)
    # Resumable uploads (tus PATCH) stream to storage and enforce their upload's own length:
    # `app.state.streamed_body_paths` lists their path prefixes.
    if scope.get("method") == "PATCH" and scope["path"].startswith(
        tuple(getattr(state, "streamed_body_paths", ()))
    ):
        return None
    # The `max_request_body_bytes` setting; an app built without settings gets its default.
    settings: Settings | None = getattr(state, "settings", None)
    return DEFAULT_MAX_REQUEST_BODY_BYTES if settings is None else settings.max_request_body_bytes


# A NUL in a query parameter reaches SQL filters as text PostgreSQL refuses: answer it like
# any invalid parameter, before a handler runs.
_NUL_QUERY = JSONResponse(
    {
        "detail": [
            {
                "type": "string_nul",
                "loc": ["query"],
                "msg": "Query parameters must not contain NUL characters",
                "input": None,
            }
        ]
    },
    status_code=422,
)


def _has_nul(query: bytes) -> bool:
    return b"\x00" in query or b"%00" in query


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"The request body is larger than the {limit} byte limit",
            "code": "payload_too_large",
        },
        status_code=413,
    )


class RequestMiddleware:
    """Assigns a request id, logs one structured line per request and records metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        if self._templates is None:
            self._templates = route_templates(scope["app"])
        return self._templates.get(id(route)) or str(getattr(route, "path", "unmatched"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        client = scope.get("client")
        set_context(
            RequestContext(
                request_id=request_id,
                ip=client[0] if client else None,
                user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:300] or None,
            )
        )
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        start = time.perf_counter()
        status = 500
        path = scope["path"]
        # Each compatibility dialect has its own docs page at /compat/<name>/docs.
        is_docs = (
            path in ("/docs", "/redoc")
            or path.startswith("/docs/")
            or (path.startswith("/compat/") and path.endswith("/docs"))
        )
        limit = _body_limit(scope)
        declared = headers.get(b"content-length", b"")
        received = 0
        started = False

        async def limited_receive() -> Message:
            # Counted as the bytes arrive: a chunked body has no Content-Length to trust.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if limit is not None and received > limit:
                    raise RequestBodyTooLarge(limit)
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                raw = list(message.get("headers", []))
                raw.append((b"x-request-id", request_id.encode()))
                raw.extend(SECURITY_HEADERS)
                # The web pages send their own policy (scripts and styles from this server).
                if not is_docs and not any(k.lower() == API_CSP[0] for k, _ in raw):
                    raw.append(API_CSP)
                message["headers"] = raw
            await send(message)

        try:
            if limit is not None and declared.isdigit() and int(declared) > limit:
                await _too_large(limit)(scope, receive, send_wrapper)
            elif _has_nul(scope.get("query_string", b"")) and not scope["path"].startswith(
                "/compat/"
            ):
                # A dialect answers it itself, in its document's error shape (compat/base.py).
                await _NUL_QUERY(scope, receive, send_wrapper)
            else:
                try:
                    await self.app(scope, limited_receive, send_wrapper)
                except RequestBodyTooLarge:
                    # Normally rendered by the exception handlers; this catches a reader that
                    # let it escape (a background task, a raw ASGI app).
                    if started or limit is None:
                        raise
                    await _too_large(limit)(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            template = self._template(scope)
            method = scope["method"]
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            log.info(
                "request",
                method=method,
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
