"""`OptionalCurrentUser`: the caller of a route anyone may call (the public catalog's kind)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from studyhall.identity.dependencies import OptionalCurrentUser
from studyhall.identity.models import User

PATH = "/api/v1/test-only/optional-caller"


async def test_nobody_without_credentials_and_credentials_checked_as_everywhere_when_sent(
    app: Any,
    client: httpx.AsyncClient,
    student: User,
    auth: Callable[[User], dict[str, str]],
) -> None:
    @app.get(PATH)
    async def caller(user: OptionalCurrentUser) -> dict[str, str | None]:
        return {"id": str(user.id) if user is not None else None}

    anonymous = await client.get(PATH)
    assert anonymous.status_code == 200 and anonymous.json() == {"id": None}
    signed_in = await client.get(PATH, headers=auth(student))
    assert signed_in.status_code == 200 and signed_in.json() == {"id": str(student.id)}
    bad_token = await client.get(PATH, headers={"Authorization": "Bearer not-a-token"})
    assert bad_token.status_code == 401 and bad_token.json()["code"] == "invalid_token"
    bad_key = await client.get(PATH, headers={"X-API-Key": "sh_not-a-key"})
    assert bad_key.status_code == 401 and bad_key.json()["code"] == "invalid_api_key"
