"""Pure ASGI middleware: request id, access log, metrics, security headers.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses and client disconnects pass through.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


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
        is_docs = path in ("/docs", "/redoc") or path.startswith("/docs/")

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                raw = list(message.get("headers", []))
                raw.append((b"x-request-id", request_id.encode()))
                raw.extend(SECURITY_HEADERS)
                if not is_docs:
                    raw.append(_API_CSP)
                message["headers"] = raw
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
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
