"""External sign-in fixtures: a real OpenID provider (npm oidc-provider, run by Node) and a
GitHub-shaped OAuth2 peer, with StudyHall's settings pointing at both."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from studyhall.config import AuthSettings, OAuthProviderSettings, Settings
from studyhall.identity.oauth import providers
from tests.peers import github_oauth
from tests.peers.github_oauth import GitHubPeer
from tests.peers.oidc_provider import OIDCPeer, node_unavailable

API = "/api/v1"
# The front-end page the providers send people back to (never fetched: the test reads the URL).
REDIRECT_URI = "http://app.studyhall.test/sso/callback"
SCHOOL_DOMAIN = "school.example.edu"
CLIENT_SECRET = "oidc-test-client-secret-0123456789abcdef"
# Two registrations at the same provider: one limited to the school's domain, one open.
CLIENTS = [
    {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
    }
    for client_id in ("studyhall-school", "studyhall-open")
]


@pytest.fixture(scope="session")
def oidc_peer() -> Iterator[OIDCPeer]:
    """oidc-provider on a free port for the whole run; skipped without Node, except in CI."""
    reason = node_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError(f"the OpenID provider peer is required in CI: {reason}")
        pytest.skip(reason)
    peer = OIDCPeer(clients=CLIENTS)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def github() -> Iterator[GitHubPeer]:
    """The GitHub-shaped peer on a random local port."""
    peer = GitHubPeer()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


def auth_settings(oidc: OIDCPeer | None, github: GitHubPeer | None) -> AuthSettings:
    """Providers `school` (allow-list), `open` (OIDC, no allow-list) and `github`."""
    configured: dict[str, OAuthProviderSettings] = {}
    if oidc is not None:
        configured["school"] = OAuthProviderSettings(
            kind="oidc",
            client_id="studyhall-school",
            client_secret=CLIENT_SECRET,
            issuer=oidc.issuer,
            allowed_email_domains=[SCHOOL_DOMAIN],
            redirect_uris=[REDIRECT_URI],
            display_name="School account",
            timeout_s=5,
        )
        configured["open"] = OAuthProviderSettings(
            kind="oidc",
            client_id="studyhall-open",
            client_secret=CLIENT_SECRET,
            discovery_url=oidc.issuer + "/.well-known/openid-configuration",
            timeout_s=5,
        )
    if github is not None:
        configured["github"] = OAuthProviderSettings(
            kind="github",
            client_id=github_oauth.CLIENT_ID,
            client_secret=github_oauth.CLIENT_SECRET,
            authorize_url=github.url + "/login/oauth/authorize",
            token_url=github.url + "/login/oauth/access_token",
            api_base_url=github.url,
            timeout_s=5,
        )
    return AuthSettings(providers=configured, jwks_min_refresh_s=0)


@pytest.fixture(autouse=True)
def _fresh_provider_caches() -> Iterator[None]:
    providers.clear_caches()
    yield
    providers.clear_caches()


class ProviderBrowser:
    """A person at the provider: follows redirects, fills oidc-provider's login and consent
    forms, and stops at the redirect back to StudyHall's front-end."""

    def __init__(self) -> None:
        self.client = httpx.AsyncClient(follow_redirects=False, timeout=10)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def sign_in(self, authorization_url: str, login: str) -> dict[str, str]:
        """The query StudyHall's front-end receives (`code`, `state`, `iss` or `error`).

        Each call is a fresh browser: the provider's session cookie of an earlier person would
        otherwise sign them in again without a login form."""
        self.client.cookies.clear()
        response = await self.client.get(authorization_url)
        for _ in range(20):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(REDIRECT_URI):
                    query = parse_qs(urlsplit(location).query)
                    return {k: v[0] for k, v in query.items()}
                response = await self.client.get(location)
                continue
            assert response.status_code == 200, response.text[:300]
            html = response.text
            action = re.search(r'<form[^>]*action="([^"]+)"', html)
            assert action is not None, html[:500]
            target = urljoin(str(response.url), action.group(1))
            # Submit the form as a person would: its hidden fields, plus login and password on
            # the login screen (the consent screen is just "Continue").
            form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
            if 'name="login"' in html:
                form.update({"login": login, "password": "any-password"})
            response = await self.client.post(target, data=form)
        raise AssertionError("the provider never sent the person back")


@pytest.fixture
async def browser() -> Any:
    person = ProviderBrowser()
    try:
        yield person
    finally:
        await person.aclose()


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Harness settings with the providers the test's peers serve."""
    oidc = request.getfixturevalue("oidc_peer") if "oidc_peer" in request.fixturenames else None
    gh = request.getfixturevalue("github") if "github" in request.fixturenames else None
    return settings.model_copy(update={"auth": auth_settings(oidc, gh)})
