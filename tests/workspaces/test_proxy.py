"""The authenticating proxy over a real TCP server: HTTP (bearer or the web session's cookie)
and a WebSocket echo reach the owner's workspace with its token added and StudyHall's
credentials removed; another user is refused with 403 on both."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from studyhall.config import Settings
from studyhall.identity.models import Role, User
from studyhall.identity.tokens import ACCESS_COOKIE, issue_access_token
from tests.conftest import MakeUser
from tests.tutor.conftest import live_server
from tests.workspaces.conftest import API

Headers = Callable[[User], dict[str, str]]


async def test_http_and_websocket_through_the_proxy(
    app: Any, make_user: MakeUser, auth: Headers, settings: Settings
) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.student)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
        started = await client.post(f"{API}/workspaces", json={}, headers=auth(owner))
        assert started.status_code == 201, started.text
        prefix = f"/workspaces/{started.json()['id']}"

        echo = await client.post(
            f"{prefix}/api/run?x=1",
            content=b"print(1)",
            headers={
                **auth(owner),
                "X-API-Key": "sk-not-for-the-workspace",
                "Cookie": "app_cookie=1; sh_refresh=secret-refresh",
            },
        )
        assert echo.status_code == 200, echo.text
        seen = echo.json()
        assert seen["method"] == "POST" and seen["target"] == f"{prefix}/api/run?x=1"
        assert seen["body"] == "print(1)"
        # The workspace sees its own token and cookies, never StudyHall's credentials.
        assert seen["headers"]["authorization"].startswith("token ")
        assert "x-api-key" not in seen["headers"]
        assert seen["headers"]["cookie"] == "app_cookie=1"
        # Both of the workspace's cookies reach the browser.
        assert echo.headers.get_list("set-cookie") == [
            "app_cookie=1; Path=/",
            "app_other=2; Path=/",
        ]

        # The web interface's session cookie is enough, as in a browser.
        cookie = {"Cookie": f"{ACCESS_COOKIE}={issue_access_token(settings, owner)}"}
        assert (await client.get(f"{prefix}/lab", headers=cookie)).status_code == 200
        refused = await client.get(f"{prefix}/lab", headers=auth(other))
        assert refused.status_code == 403 and refused.json()["code"] == "not_your_workspace"

        ws_url = base.replace("http", "ws") + f"{prefix}/api/kernels/k1/channels"
        async with connect(
            ws_url,
            additional_headers=auth(owner),
            subprotocols=["v1.kernel.websocket.jupyter.org"],  # type: ignore[list-item]
        ) as ws:
            assert ws.subprotocol == "v1.kernel.websocket.jupyter.org"
            await ws.send("hello")
            assert await ws.recv() == "echo:hello"
            await ws.send(b"\x00\x01binary")
            assert await ws.recv() == b"\x00\x01binary"
            big = "x" * 100_000
            await ws.send(big)
            assert await ws.recv() == "echo:" + big

        for headers, status in ((auth(other), 403), ({}, 401)):
            with pytest.raises(InvalidStatus) as refused_ws:
                async with connect(ws_url, additional_headers=headers):
                    pass
            assert refused_ws.value.response.status_code == status
            assert json.loads(refused_ws.value.response.body or b"{}")["code"]

        assert (await client.delete(f"{API}/workspaces/me", headers=auth(owner))).status_code == 204
        with pytest.raises(InvalidStatus) as stopped:
            async with connect(ws_url, additional_headers=auth(owner)):
                pass
        assert stopped.value.response.status_code == 409
