"""Web interface fixtures: the identity harness (local SMTP server, job worker) and form helpers."""

from __future__ import annotations

import re

import httpx
import pytest

from studyhall.config import Settings, SMTPSettings
from studyhall.identity.models import User
from tests.conftest import TEST_PASSWORD
from tests.identity.conftest import smtp, worker  # noqa: F401  (fixtures)
from tests.peers.smtp import SMTPPeer

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(settings: Settings, smtp: SMTPPeer) -> Settings:  # noqa: F811
    """The harness settings, sending mail to the local SMTP server."""
    return settings.model_copy(
        update={"smtp": SMTPSettings(host="127.0.0.1", port=smtp.port, starttls=False, timeout_s=5)}
    )


def csrf_of(html: str) -> str:
    """The CSRF token a rendered form carries."""
    match = CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def get_form(client: httpx.AsyncClient, path: str) -> str:
    """Open a page with a form; its CSRF token."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, str], *, form_page: str | None = None
) -> httpx.Response:
    """Post a form the way a browser does: open its page first, send its token back."""
    token = await get_form(client, form_page or path)
    return await client.post(path, data={**data, "csrf_token": token})


async def signed_in(client: httpx.AsyncClient, user: User) -> None:
    """Sign `user` in through the sign-in form (password TEST_PASSWORD)."""
    response = await post_form(client, "/sign-in", {"login": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 303, response.text
