"""The authenticating reverse proxy in front of every workspace: /workspaces/{id}/… over HTTP
and WebSocket (Jupyter's kernels and editors need both).

Each request must carry the StudyHall session (a bearer access token, or the web interface's
cookie); only the workspace's owner gets through (another user: 403, an unknown id: 404, a
workspace that is not running: 409). StudyHall's own credentials are removed and the
workspace's token is added (`Authorization: token …`, Jupyter's scheme), so a workspace never
sees a StudyHall token and a user never needs the workspace's. Traffic counts as activity for
the idle cull. The path is forwarded whole: a workspace serves under its base URL.

These are not JSON API routes (they carry whatever the workspace serves), so they stay out of
the OpenAPI schema; tests/security checks their answers in a table of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.errors import AppError, Forbidden, Unauthorized
from studyhall.identity.dependencies import user_from_access_token
from studyhall.identity.models import User
from studyhall.identity.tokens import ACCESS_COOKIE
from studyhall.workspaces import service
from studyhall.workspaces.errors import WorkspaceNotFound

log = structlog.get_logger(__name__)

PREFIX = "/workspaces/{workspace_id}"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# Headers that describe one hop, not the message (RFC 9110 §7.6.1), and the caller's StudyHall
# credentials, which a workspace must never see.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
_CREDENTIALS = frozenset({"authorization", "x-api-key", "x-admin-key", "cookie"})
# Set by the WebSocket handshake itself.
_WS_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "origin",
    }
)


class WorkspaceUnreachable(AppError):
    status_code = 502
    code = "workspace_unreachable"


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.cookies.get(ACCESS_COOKIE)


async def _caller(conn: HTTPConnection) -> User:
    """The signed-in user (bearer token or the web session's cookie); 401 otherwise."""
    token = _bearer(conn)
    if not token:
        raise Unauthorized()
    settings: Settings = conn.app.state.settings
    db: Database = conn.app.state.db
    async with db.session(write=False) as session:
        user = await user_from_access_token(session, settings, token)
        session.expunge(user)
    if not user.is_verified and settings.verified_email_required:
        raise Forbidden("Confirm your email address first", code="email_not_verified")
    return user


async def _target(conn: HTTPConnection) -> tuple[uuid.UUID, service.ProxyTarget]:
    user = await _caller(conn)
    try:
        workspace_id = uuid.UUID(conn.path_params["workspace_id"])
    except ValueError:
        raise WorkspaceNotFound() from None
    target = await service.proxy_target(conn.app.state.db, user=user, workspace_id=workspace_id)
    return workspace_id, target


def _upstream_headers(
    conn: HTTPConnection, token: str, *, drop: frozenset[str]
) -> list[tuple[str, str]]:
    headers = [
        (name, value)
        for name, value in conn.headers.items()
        if name not in _HOP_BY_HOP and name not in _CREDENTIALS and name not in drop
    ]
    # The workspace's own cookies (Jupyter's _xsrf) go on; StudyHall's session does not.
    cookies = "; ".join(
        f"{name}={value}" for name, value in conn.cookies.items() if not name.startswith("sh_")
    )
    if cookies:
        headers.append(("cookie", cookies))
    client = conn.client.host if conn.client else ""
    headers += [
        ("authorization", f"token {token}"),
        ("x-forwarded-for", client),
        ("x-forwarded-proto", conn.url.scheme.replace("ws", "http")),
        ("x-forwarded-host", conn.headers.get("host", "")),
    ]
    return headers


def _client(app: Any) -> httpx.AsyncClient:
    client: httpx.AsyncClient | None = getattr(app.state, "workspace_proxy_client", None)
    if client is None:
        # No read timeout: long polls and slow cells are normal; the workspace's end decides.
        client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0), follow_redirects=False)
        app.state.workspace_proxy_client = client
    return client


async def proxy_http(request: Request) -> Response:
    """Forward one HTTP request to the caller's workspace and stream the answer back."""
    _, target = await _target(request)
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    url = target.endpoint + path.split("?", 1)[0]
    query = request.url.query
    # A body goes on as it arrives, with its length when the client gave one.
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    upstream_request = _client(request.app).build_request(
        request.method,
        url + ("?" + query if query else ""),
        headers=_upstream_headers(request, target.token, drop=frozenset()),
        content=request.stream() if has_body else None,
    )
    try:
        upstream = await _client(request.app).send(upstream_request, stream=True)
    except httpx.TransportError as exc:
        log.warning("workspace_proxy_failed", error=str(exc))
        raise WorkspaceUnreachable("The workspace does not answer") from exc
    response = StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    response.raw_headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in upstream.headers.multi_items()
        if name.lower() not in _HOP_BY_HOP
    ]
    return response


def _denial(exc: AppError) -> JSONResponse:
    return JSONResponse(
        {"detail": exc.message, "code": exc.code}, status_code=exc.status_code, headers=exc.headers
    )


async def proxy_websocket(websocket: WebSocket) -> None:
    """Connect to the workspace's WebSocket as the caller, then relay both ways."""
    try:
        workspace_id, target = await _target(websocket)
        upstream = await _open_upstream(websocket, target)
    except AppError as exc:
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(_denial(exc))
        else:
            await websocket.close(code=1008, reason=exc.code)
        return
    async with upstream:
        await websocket.accept(subprotocol=upstream.subprotocol)
        await _relay(websocket, upstream, websocket.app.state.db, workspace_id)


async def _open_upstream(websocket: WebSocket, target: service.ProxyTarget) -> ClientConnection:
    base = "ws" + target.endpoint[len("http") :]
    path = websocket.scope.get("raw_path", websocket.url.path.encode()).decode("latin-1")
    query = websocket.url.query
    protocols = [
        p.strip()
        for p in websocket.headers.get("sec-websocket-protocol", "").split(",")
        if p.strip()
    ]
    try:
        return await connect(
            base + path.split("?", 1)[0] + ("?" + query if query else ""),
            additional_headers=_upstream_headers(websocket, target.token, drop=_WS_HANDSHAKE),
            subprotocols=protocols or None,  # type: ignore[arg-type]
            open_timeout=10,
            max_size=None,
            user_agent_header=None,
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        log.warning("workspace_proxy_ws_failed", error=str(exc))
        raise WorkspaceUnreachable("The workspace does not answer") from exc


async def _relay(
    websocket: WebSocket, upstream: ClientConnection, db: Database, workspace_id: uuid.UUID
) -> None:
    # The idle cull's clock (utcnow), so frames keep the workspace alive by the same measure;
    # the handshake itself counted as activity.
    last_touch = utcnow()

    async def activity() -> None:
        nonlocal last_touch
        now = utcnow()
        if (now - last_touch).total_seconds() >= service.ACTIVITY_RESOLUTION_S:
            last_touch = now
            await service.touch_by_id(db, workspace_id=workspace_id)

    async def client_to_workspace() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            await upstream.send(data if data is not None else message.get("text") or "")
            await activity()

    async def workspace_to_client() -> None:
        async for data in _frames(upstream):
            if isinstance(data, bytes):
                await websocket.send_bytes(data)
            else:
                await websocket.send_text(data)
            await activity()

    tasks = [
        asyncio.create_task(client_to_workspace()),
        asyncio.create_task(workspace_to_client()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, ConnectionClosed):
                await task
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


async def _frames(upstream: ClientConnection) -> AsyncIterator[str | bytes]:
    with contextlib.suppress(ConnectionClosed):
        async for data in upstream:
            yield data


def install_proxy(app: FastAPI) -> None:
    """Mount the proxy routes (outside /api/v1 and outside the schema)."""
    # `{path:path}` also matches the empty path: /workspaces/<id>/ itself.
    path = PREFIX + "/{path:path}"
    app.add_api_route(path, proxy_http, methods=METHODS, include_in_schema=False)
    app.add_api_websocket_route(path, proxy_websocket)


async def aclose_proxy(app: FastAPI) -> None:
    """Close the proxy's connection pool."""
    client: httpx.AsyncClient | None = getattr(app.state, "workspace_proxy_client", None)
    if client is not None:
        await client.aclose()
