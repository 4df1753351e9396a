"""Sign-in buttons for the configured providers, and the whole browser flow against a local
GitHub-shaped peer; a sign-in started in another browser cannot be finished in this one."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from studyhall.config import Settings
from studyhall.identity.oauth import providers
from tests.identity.oauth.conftest import auth_settings
from tests.peers.github_oauth import GitHubPeer


@pytest.fixture
def github() -> Iterator[GitHubPeer]:
    peer = GitHubPeer()
    peer.start()
    providers.clear_caches()
    try:
        yield peer
    finally:
        peer.stop()
        providers.clear_caches()


@pytest.fixture
def settings(settings: Settings, github: GitHubPeer) -> Settings:
    return settings.model_copy(update={"auth": auth_settings(None, github)})


async def _at_github(authorization_url: str) -> str:
    """The person approves at the provider; the path and query it sends them back to."""
    async with httpx.AsyncClient(follow_redirects=False) as person:
        response = await person.get(authorization_url)
    assert response.is_redirect, response.text
    back = urlsplit(response.headers["location"])
    assert back.path == "/sign-in/sso/github/callback"
    return f"{back.path}?{back.query}"


async def test_a_person_signs_in_with_github_from_the_sign_in_page(
    client: httpx.AsyncClient, app: object, github: GitHubPeer
) -> None:
    github.add_user("octo", email="octo@example.org")
    github.approve_as = "octo"
    sign_in = await client.get("/sign-in")
    assert 'href="/sign-in/sso/github"' in sign_in.text

    started = await client.get("/sign-in/sso/github")
    assert started.status_code == 303
    assert started.headers["location"].startswith(github.url + "/login/oauth/authorize?")
    back = await _at_github(started.headers["location"])

    # Another browser holding the code and state cannot finish this sign-in.
    transport = httpx.ASGITransport(app=app, client=("203.0.113.11", 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        stolen = await other.get(back)
        assert stolen.status_code == 400 and 'role="alert"' in stolen.text
        assert "sh_access" not in other.cookies

    finished = await client.get(back)
    assert finished.status_code == 303 and finished.headers["location"] == "/home"
    home = await client.get("/home")
    assert home.status_code == 200 and "octo@example.org" in home.text
    again = await client.get(back)  # a state is good once
    assert again.status_code in (303, 400)

    unknown = await client.get("/sign-in/sso/nope")
    assert unknown.status_code == 404
