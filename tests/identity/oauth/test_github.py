"""Sign-in with GitHub (plain OAuth2) against a local GitHub-shaped peer: form-encoded token
answers, the verified primary address from /user/emails, and what must fail."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, select

from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.identity.oauth.models import OAuthAccount
from tests.identity.conftest import audit_rows
from tests.identity.oauth.conftest import API, REDIRECT_URI
from tests.peers.github_oauth import GitHubPeer


async def start(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get(
        f"{API}/auth/oauth/github/authorize", params={"redirect_uri": REDIRECT_URI}
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def approve(started: dict[str, str]) -> dict[str, str]:
    """The person approves at GitHub; GitHub redirects back with code and state."""
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        response = await browser.get(started["authorization_url"])
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {"code": query["code"][0], "state": query["state"][0]}


async def finish(client: httpx.AsyncClient, back: dict[str, str]) -> httpx.Response:
    return await client.post(
        f"{API}/auth/oauth/github/callback", json={**back, "redirect_uri": REDIRECT_URI}
    )


async def users(db: Database) -> int:
    async with db.session(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_github_sign_in_uses_the_verified_primary_address_and_finds_the_user_by_id(
    client: httpx.AsyncClient, db: Database, github: GitHubPeer
) -> None:
    github.add_user(
        "octo",
        email="octo@example.org",
        extra=[{"email": "old@example.org", "primary": False, "verified": True}],
    )
    github.approve_as = "octo"
    started = await start(client)
    url = urlsplit(started["authorization_url"])
    query = parse_qs(url.query)
    assert started["authorization_url"].startswith(github.url + "/login/oauth/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["state"] == [started["state"]]
    assert query["scope"] == ["read:user user:email"]
    back = await approve(started)
    response = await finish(client, back)
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["email"] == "octo@example.org" and user["is_verified"] is True
    # The token request carried the PKCE verifier and our secret, form-encoded.
    sent = github.token_requests[-1]
    assert sent["code_verifier"] and sent["redirect_uri"] == REDIRECT_URI
    async with db.session(write=False) as session:
        account = (await session.scalars(select(OAuthAccount))).one()
    assert (account.issuer, account.subject) == (github.url, str(github.users["octo"].id))

    # The person changes their primary address at GitHub: still the same account (by id).
    github.users["octo"].emails = [
        {"email": "octo-new@example.org", "primary": True, "verified": True}
    ]
    again = await finish(client, await approve(await start(client)))
    assert again.status_code == 200 and again.json()["user"]["id"] == user["id"]
    assert await users(db) == 1
    assert len(await audit_rows(db, "auth.oauth_login")) == 2


async def test_github_refusals_unverified_primary_bad_code_and_a_github_that_is_down(
    client: httpx.AsyncClient, db: Database, github: GitHubPeer
) -> None:
    github.add_user("shady", email="shady@example.org", verified=False)
    github.approve_as = "shady"
    unverified = await finish(client, await approve(await start(client)))
    assert unverified.status_code == 401 and unverified.json()["code"] == "email_not_verified"

    github.add_user("octo", email="octo@example.org")
    github.approve_as = "octo"
    started = await start(client)
    back = await approve(started)
    # A code GitHub does not know (form-encoded error answer with status 200).
    wrong = await finish(client, {"code": "not-a-github-code", "state": back["state"]})
    assert wrong.status_code == 400 and wrong.json()["code"] == "oauth_code_rejected"

    # GitHub down at the token endpoint, then at the API.
    back = await approve(await start(client))
    github.fail_next = 503
    down = await finish(client, back)
    assert down.status_code == 503 and down.json()["code"] == "oauth_provider_unavailable"
    # The token works, but GitHub's API answers 502.
    github.fail_api = 502
    broken = await finish(client, await approve(await start(client)))
    assert broken.status_code == 503 and broken.json()["code"] == "oauth_provider_unavailable"
    github.fail_api = None
    assert await users(db) == 0
    ok = await finish(client, await approve(await start(client)))
    assert ok.status_code == 200, ok.text
    assert await users(db) == 1
    failures = await audit_rows(db, "auth.oauth_login_failed")
    assert [r.details["code"] for r in failures] == [
        "email_not_verified",
        "oauth_code_rejected",
        "oauth_provider_unavailable",
        "oauth_provider_unavailable",
    ]
