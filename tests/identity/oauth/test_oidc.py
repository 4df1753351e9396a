"""Sign-in through a real OpenID Connect provider (npm oidc-provider): the authorization-code flow
with PKCE through its login and consent forms, ID-token sign-in, and everything that must fail."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import func, select, update

from studyhall.config import Settings
from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.identity.oauth import service as external_sign_in
from studyhall.identity.oauth.errors import IdTokenReplayed
from studyhall.identity.oauth.models import OAuthAccount, OAuthLoginState
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.identity.conftest import audit_rows, bearer
from tests.identity.oauth.conftest import (
    API,
    CLIENT_SECRET,
    REDIRECT_URI,
    SCHOOL_DOMAIN,
    ProviderBrowser,
)
from tests.peers.oidc_provider import OIDCPeer


async def authorize(
    client: httpx.AsyncClient, provider: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get(
        f"{API}/auth/oauth/{provider}/authorize",
        params={"redirect_uri": REDIRECT_URI},
        headers=headers or {},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def callback(
    client: httpx.AsyncClient,
    provider: str,
    back: dict[str, str],
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/oauth/{provider}/callback",
        json={"code": back["code"], "state": back["state"], "redirect_uri": REDIRECT_URI, **extra},
        headers=headers or {},
    )


async def sign_in(
    client: httpx.AsyncClient, browser: ProviderBrowser, provider: str, login: str
) -> httpx.Response:
    started = await authorize(client, provider)
    back = await browser.sign_in(started["authorization_url"], login)
    assert back["state"] == started["state"]
    return await callback(client, provider, back)


async def count(db: Database, model: Any) -> int:
    async with db.session(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def issued_id_token(
    peer: OIDCPeer,
    browser: ProviderBrowser,
    login: str,
    *,
    client_id: str = "studyhall-open",
    nonce: str = "n" * 16,
) -> str:
    """An ID token oidc-provider issues to a client that ran the flow itself (as a mobile app
    or Google's sign-in button does), for StudyHall's client id."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    url = f"{peer.issuer}/auth?" + urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": REDIRECT_URI,
            "state": "s" * 16,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    back = await browser.sign_in(url, login)
    response = await browser.client.post(
        f"{peer.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": client_id,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload = _segments(token)[1]
    loaded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return loaded


async def test_the_login_page_lists_the_configured_providers(
    client: httpx.AsyncClient, oidc_peer: OIDCPeer
) -> None:
    response = await client.get(f"{API}/auth/oauth/providers")
    assert response.status_code == 200
    items = {p["name"]: p for p in response.json()["items"]}
    assert items["school"] == {"name": "school", "kind": "oidc", "display_name": "School account"}
    assert items["open"]["kind"] == "oidc"
    assert "client_secret" not in response.text and CLIENT_SECRET not in response.text


async def test_code_flow_with_pkce_creates_a_verified_student_and_signs_the_same_person_in_again(
    client: httpx.AsyncClient, db: Database, browser: ProviderBrowser, oidc_peer: OIDCPeer
) -> None:
    started = await authorize(client, "school")
    query = parse_qs(urlsplit(started["authorization_url"]).query)
    assert started["authorization_url"].startswith(oidc_peer.issuer + "/auth?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"] == [started["state"]] and len(query["nonce"][0]) >= 16
    assert query["client_id"] == ["studyhall-school"] and "code_verifier" not in query
    # Only a hash of the state is stored; the verifier never left the server.
    async with db.session(write=False) as session:
        row = (await session.scalars(select(OAuthLoginState))).one()
    assert (
        row.state_hash != started["state"] and row.code_verifier not in started["authorization_url"]
    )

    back = await browser.sign_in(started["authorization_url"], "ada")
    assert back["state"] == started["state"] and "code" in back
    response = await callback(client, "school", back)
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["token_type"] == "bearer" and pair["refresh_token"]
    assert pair["user"]["email"] == f"ada@{SCHOOL_DOMAIN}"
    assert pair["user"]["role"] == "student" and pair["user"]["is_verified"] is True
    me = await client.get(f"{API}/users/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == pair["user"]["id"]
    # The new account has no password: nobody can log in with one.
    refused = await client.post(
        f"{API}/auth/login",
        json={"email": f"ada@{SCHOOL_DOMAIN}", "password": "!external-sign-in-only"},
    )
    assert refused.status_code == 401

    # The same state cannot be used twice.
    replay = await callback(client, "school", back)
    assert replay.status_code == 400 and replay.json()["code"] == "invalid_state"

    # Returning: found by (issuer, subject), no second account.
    again = await sign_in(client, browser, "school", "ada")
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == pair["user"]["id"]
    assert await count(db, OAuthAccount) == 1
    async with db.session(write=False) as session:
        account = (await session.scalars(select(OAuthAccount))).one()
    assert (account.issuer, account.subject, account.provider) == (
        oidc_peer.issuer,
        "ada",
        "school",
    )
    actions = [r.action for r in await audit_rows(db)]
    assert actions.count("auth.oauth_login") == 2
    assert "auth.register" in actions and "auth.oauth_linked" in actions
    assert "auth.oauth_login_failed" in actions  # the replayed state


async def test_a_wrong_pkce_verifier_and_a_replayed_code_are_refused_and_create_nothing(
    client: httpx.AsyncClient, db: Database, browser: ProviderBrowser, oidc_peer: OIDCPeer
) -> None:
    users_before = await count(db, User)
    # Wrong verifier: the server-side verifier no longer matches the challenge the provider saw.
    started = await authorize(client, "open")
    async with db.session() as session:
        await session.execute(update(OAuthLoginState).values(code_verifier="x" * 64))
    back = await browser.sign_in(started["authorization_url"], "grace@example.org")
    response = await callback(client, "open", back)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "oauth_code_rejected"
    # The state was spent by that try.
    assert (await callback(client, "open", back)).json()["code"] == "invalid_state"

    # A replayed code: the code of a finished sign-in presented again with a fresh state whose
    # verifier is the right one for it.
    first = await authorize(client, "open")
    async with db.session(write=False) as session:
        verifier = (
            await session.scalars(
                select(OAuthLoginState.code_verifier).order_by(OAuthLoginState.created_at.desc())
            )
        ).first()
    back = await browser.sign_in(first["authorization_url"], "grace@example.org")
    ok = await callback(client, "open", back)
    assert ok.status_code == 200, ok.text
    second = await authorize(client, "open")
    async with db.session() as session:
        await session.execute(
            update(OAuthLoginState)
            .where(OAuthLoginState.used_at.is_(None))
            .values(code_verifier=verifier)
        )
    replayed = await callback(client, "open", {"code": back["code"], "state": second["state"]})
    assert replayed.status_code == 400 and replayed.json()["code"] == "oauth_code_rejected"
    assert await count(db, User) == users_before + 1
    assert await count(db, OAuthAccount) == 1

    # Unknown state, another provider's state, another redirect_uri: 400 invalid_state.
    unknown = await callback(client, "open", {"code": "x", "state": "not-a-state"})
    assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_state"
    third = await authorize(client, "open")
    cross = await callback(client, "school", {"code": "x", "state": third["state"]})
    assert cross.status_code == 400 and cross.json()["code"] == "invalid_state"
    fourth = await authorize(client, "open")
    moved = await client.post(
        f"{API}/auth/oauth/open/callback",
        json={"code": "x", "state": fourth["state"], "redirect_uri": "http://evil.test/cb"},
    )
    assert moved.status_code == 400 and moved.json()["code"] == "invalid_state"


async def test_an_expired_state_is_refused(
    client: httpx.AsyncClient, browser: ProviderBrowser, oidc_peer: OIDCPeer
) -> None:
    started = await authorize(client, "open")
    back = await browser.sign_in(started["authorization_url"], "late@example.org")
    clock.advance(timedelta(minutes=11))
    response = await callback(client, "open", back)
    assert response.status_code == 400 and response.json()["code"] == "invalid_state"


async def test_id_token_sign_in_with_a_token_the_provider_issued_works_once(
    client: httpx.AsyncClient, db: Database, browser: ProviderBrowser, oidc_peer: OIDCPeer
) -> None:
    token = await issued_id_token(oidc_peer, browser, "lin@example.org")
    response = await client.post(f"{API}/auth/oauth/open/id-token", json={"id_token": token})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "lin@example.org"
    replay = await client.post(f"{API}/auth/oauth/open/id-token", json={"id_token": token})
    assert replay.status_code == 401 and replay.json()["code"] == "id_token_replayed"
    assert replay.headers["www-authenticate"] == "Bearer"
    # A token issued to another client (another audience) is refused.
    other = await issued_id_token(
        oidc_peer, browser, "lin@example.org", client_id="studyhall-school"
    )
    wrong_aud = await client.post(f"{API}/auth/oauth/open/id-token", json={"id_token": other})
    assert wrong_aud.status_code == 401 and wrong_aud.json()["code"] == "invalid_id_token"
    # A nonce the client asked for must be the token's. (A nonce of its own, too: a token issued
    # in the same second with the same claims as the first would be the same token, a replay.)
    fresh = await issued_id_token(oidc_peer, browser, "lin@example.org", nonce="m" * 16)
    bad_nonce = await client.post(
        f"{API}/auth/oauth/open/id-token", json={"id_token": fresh, "nonce": "another-nonce"}
    )
    assert bad_nonce.status_code == 401 and bad_nonce.json()["code"] == "invalid_id_token"
    good_nonce = await client.post(
        f"{API}/auth/oauth/open/id-token", json={"id_token": fresh, "nonce": "m" * 16}
    )
    assert good_nonce.status_code == 200, good_nonce.text
    assert await count(db, User) == 1


async def test_tampered_forged_and_expired_id_tokens_are_refused(
    client: httpx.AsyncClient, db: Database, browser: ProviderBrowser, oidc_peer: OIDCPeer
) -> None:
    token = await issued_id_token(oidc_peer, browser, "mallory@example.org")
    header, payload, signature = _segments(token)
    claims = _claims(token)

    async def send(value: str) -> httpx.Response:
        return await client.post(f"{API}/auth/oauth/open/id-token", json={"id_token": value})

    tampered = _b64({**claims, "email": "victim@example.org"})
    forged_key = RSAKey.generate_key(2048, parameters={"kid": oidc_peer.key["kid"]})
    forged = jwt.encode({"alg": "RS256", "kid": oidc_peer.key["kid"]}, claims, forged_key)
    unknown_kid = jwt.encode(
        {"alg": "RS256", "kid": "nobody-has-this"}, claims, RSAKey.generate_key(2048)
    )
    symmetric = jwt.encode(
        {"alg": "HS256"}, claims, OctKey.import_key("a-shared-secret-anyone-could-use")
    )
    unsigned = f"{_b64({'alg': 'none'})}.{payload}."
    for value in (
        f"{header}.{tampered}.{signature}",
        forged,
        unknown_kid,
        symmetric,
        unsigned,
        "not.a.token",
        "garbage",
    ):
        response = await send(value)
        assert response.status_code == 401, (value[:40], response.text)
        assert response.json()["code"] == "invalid_id_token"
    # Expired: the same genuine token two hours later.
    clock.advance(timedelta(hours=2))
    expired = await send(token)
    assert expired.status_code == 401 and expired.json()["code"] == "invalid_id_token"
    assert await count(db, User) == 0
    failures = await audit_rows(db, "auth.oauth_login_failed")
    assert len(failures) == 8 and {r.details["code"] for r in failures} == {"invalid_id_token"}


async def test_an_unverified_email_and_a_domain_outside_the_allow_list_are_refused(
    client: httpx.AsyncClient, db: Database, browser: ProviderBrowser, oidc_peer: OIDCPeer
) -> None:
    unverified = await sign_in(client, browser, "school", "unverified-bob")
    assert unverified.status_code == 401 and unverified.json()["code"] == "email_not_verified"
    outside = await sign_in(client, browser, "school", "eve@elsewhere.example.org")
    assert outside.status_code == 403 and outside.json()["code"] == "email_domain_not_allowed"
    token = await issued_id_token(oidc_peer, browser, "unverified-carol")
    by_token = await client.post(f"{API}/auth/oauth/open/id-token", json={"id_token": token})
    assert by_token.status_code == 401 and by_token.json()["code"] == "email_not_verified"
    assert await count(db, User) == 0 and await count(db, OAuthAccount) == 0
    # The open registration of the same provider lets the outside domain in.
    open_door = await sign_in(client, browser, "open", "eve@elsewhere.example.org")
    assert open_door.status_code == 200, open_door.text


async def test_an_existing_email_needs_the_accounts_proof_never_a_silent_takeover(
    client: httpx.AsyncClient,
    db: Database,
    browser: ProviderBrowser,
    oidc_peer: OIDCPeer,
    make_user: MakeUser,
) -> None:
    owner = await make_user("teacher", email=f"kim@{SCHOOL_DOMAIN}")
    response = await sign_in(client, browser, "school", "kim")
    assert response.status_code == 409 and response.json()["code"] == "link_required"
    assert await count(db, OAuthAccount) == 0
    # A wrong password is no proof.
    started = await authorize(client, "school")
    back = await browser.sign_in(started["authorization_url"], "kim")
    wrong = await callback(client, "school", back, password="Wrong-password-123")
    assert wrong.status_code == 409 and await count(db, OAuthAccount) == 0
    # The account's password, sent once, links the identity.
    started = await authorize(client, "school")
    back = await browser.sign_in(started["authorization_url"], "kim")
    linked = await callback(client, "school", back, password=TEST_PASSWORD)
    assert linked.status_code == 200, linked.text
    assert (
        linked.json()["user"]["id"] == str(owner.id) and linked.json()["user"]["role"] == "teacher"
    )
    # From now on the identity alone signs in to that account.
    again = await sign_in(client, browser, "school", "kim")
    assert again.status_code == 200 and again.json()["user"]["id"] == str(owner.id)
    links = await audit_rows(db, "auth.oauth_linked")
    assert [r.details["proof"] for r in links] == ["password"]


async def test_a_signed_in_user_links_lists_and_unlinks_identities_but_keeps_a_way_in(
    client: httpx.AsyncClient,
    db: Database,
    browser: ProviderBrowser,
    oidc_peer: OIDCPeer,
    make_user: MakeUser,
    auth: Any,
    admin: User,
) -> None:
    user = await make_user("student", email="sam@home.example.org")
    headers = auth(user)
    started = await authorize(client, "open", headers)
    # Another email at the provider: linking while signed in needs no matching address.
    back = await browser.sign_in(started["authorization_url"], "sam.work@example.org")
    linked = await callback(client, "open", back)
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["id"] == str(user.id)

    listed = await client.get(f"{API}/users/me/identities", headers=headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 1 and items[0]["provider"] == "open"
    assert items[0]["email"] == "sam.work@example.org" and "subject" not in items[0]
    seen_by_admin = await client.get(f"{API}/admin/users/{user.id}/identities", headers=auth(admin))
    assert seen_by_admin.status_code == 200 and seen_by_admin.json()["items"] == items
    assert (
        await client.get(f"{API}/admin/users/{user.id}/identities", headers=headers)
    ).status_code == 403

    # That identity now signs in to the same account.
    again = await sign_in(client, browser, "open", "sam.work@example.org")
    assert again.json()["user"]["id"] == str(user.id)
    # Another user cannot take it over by linking it too.
    other = await make_user("student")
    started = await authorize(client, "open", auth(other))
    back = await browser.sign_in(started["authorization_url"], "sam.work@example.org")
    taken = await callback(client, "open", back)
    assert taken.status_code == 409 and taken.json()["code"] == "identity_in_use"
    # Nobody else can unlink it (404), the owner can: the password is still a way in.
    stranger = await client.delete(
        f"{API}/users/me/identities/{items[0]['id']}", headers=auth(other)
    )
    assert stranger.status_code == 404
    gone = await client.delete(f"{API}/users/me/identities/{items[0]['id']}", headers=headers)
    assert gone.status_code == 204
    assert (await client.get(f"{API}/users/me/identities", headers=headers)).json()["total"] == 0
    assert len(await audit_rows(db, "auth.oauth_unlinked")) == 1

    # An account made by a provider has no password: its only identity stays.
    created = await sign_in(client, browser, "open", "solo@example.org")
    solo = bearer(created.json()["access_token"])
    only = (await client.get(f"{API}/users/me/identities", headers=solo)).json()["items"][0]
    refused = await client.delete(f"{API}/users/me/identities/{only['id']}", headers=solo)
    assert refused.status_code == 409 and refused.json()["code"] == "last_sign_in_method"
    # With a second identity linked, one of them may go.
    started = await authorize(client, "school", solo)
    back = await browser.sign_in(started["authorization_url"], "solo")
    assert (await callback(client, "school", back)).status_code == 200
    assert (
        await client.delete(f"{API}/users/me/identities/{only['id']}", headers=solo)
    ).status_code == 204


async def test_a_provider_that_is_down_is_a_503_and_nothing_is_created(
    client: httpx.AsyncClient, db: Database, settings: Any, oidc_peer: OIDCPeer
) -> None:
    from studyhall.config import OAuthProviderSettings

    settings.auth.providers["down"] = OAuthProviderSettings(
        kind="oidc", client_id="x", client_secret="y", issuer="http://127.0.0.1:9", timeout_s=2
    )
    started = await client.get(
        f"{API}/auth/oauth/down/authorize", params={"redirect_uri": REDIRECT_URI}
    )
    assert started.status_code == 503 and started.json()["code"] == "oauth_provider_unavailable"
    by_token = await client.post(f"{API}/auth/oauth/down/id-token", json={"id_token": "a.b.c"})
    assert by_token.status_code == 503
    unknown = await client.get(
        f"{API}/auth/oauth/nope/authorize", params={"redirect_uri": REDIRECT_URI}
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_provider"
    not_allowed = await client.get(
        f"{API}/auth/oauth/school/authorize", params={"redirect_uri": "http://evil.test/cb"}
    )
    assert not_allowed.status_code == 400 and not_allowed.json()["code"] == "invalid_redirect_uri"
    assert await count(db, User) == 0 and await count(db, OAuthLoginState) == 0


async def test_rotated_provider_keys_are_fetched_again_on_an_unknown_key_id(
    client: httpx.AsyncClient, browser: ProviderBrowser, oidc_peer: OIDCPeer
) -> None:
    first = await sign_in(client, browser, "open", "rot@example.org")
    assert first.status_code == 200, first.text
    oidc_peer.restart_with_new_key("key-rotated")
    try:
        second = await sign_in(client, browser, "open", "rot@example.org")
        assert second.status_code == 200, second.text
        assert second.json()["user"]["id"] == first.json()["user"]["id"]
    finally:
        oidc_peer.restart_with_new_key("key-1")


async def test_the_dialects_keyword_form_of_id_token_sign_in_is_the_same_sign_in(
    app: Any, db: Database, settings: Settings, browser: ProviderBrowser, oidc_peer: OIDCPeer
) -> None:
    """`sign_in_with_id_token(db, settings=, limiter=, provider=, id_token=)`, what the dialects
    call with tokens from bodies of their own: the route's sign-in, replays refused too."""
    token = await issued_id_token(oidc_peer, browser, "kim@example.org")
    limiter = app.state.limiter
    pair = await external_sign_in.sign_in_with_id_token(
        db, settings=settings, limiter=limiter, provider="open", id_token=token
    )
    assert pair.user.email == "kim@example.org"
    with pytest.raises(IdTokenReplayed):
        await external_sign_in.sign_in_with_id_token(
            db, settings=settings, limiter=limiter, provider="open", id_token=token
        )
