"""An admin requires single sign-on for an email domain: its people can no longer use a
password (log in, sign up), and cannot unlink their last identity."""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.identity.oauth.models import OAuthAccount
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.identity.conftest import audit_rows
from tests.identity.oauth.conftest import API


async def test_admin_requires_sso_for_a_domain_and_passwords_stop_working_there(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, auth: Any, admin: User
) -> None:
    member = await make_user("teacher", email="pat@uni.example.edu")
    outsider = await make_user("student", email="lee@elsewhere.example.org")
    a = auth(admin)
    before = await client.post(
        f"{API}/auth/login", json={"email": member.email, "password": TEST_PASSWORD}
    )
    assert before.status_code == 200

    created = await client.post(
        f"{API}/admin/sso-domains", json={"domain": "UNI.example.edu"}, headers=a
    )
    assert created.status_code == 201, created.text
    row = created.json()
    assert row["domain"] == "uni.example.edu" and row["provider"] is None
    again = await client.post(
        f"{API}/admin/sso-domains", json={"domain": "uni.example.edu"}, headers=a
    )
    assert again.status_code == 409 and again.json()["code"] == "sso_domain_exists"
    unknown_provider = await client.post(
        f"{API}/admin/sso-domains", json={"domain": "x.example.edu", "provider": "nope"}, headers=a
    )
    assert unknown_provider.status_code == 404
    bad = await client.post(f"{API}/admin/sso-domains", json={"domain": "not a domain"}, headers=a)
    assert bad.status_code == 422
    listed = await client.get(f"{API}/admin/sso-domains", headers=a)
    assert [d["domain"] for d in listed.json()["items"]] == ["uni.example.edu"]
    assert (await client.get(f"{API}/admin/sso-domains", headers=auth(member))).status_code == 403

    for path, body in (
        ("/auth/login", {"email": member.email, "password": TEST_PASSWORD}),
        ("/auth/login", {"email": member.username, "password": TEST_PASSWORD}),
    ):
        refused = await client.post(f"{API}{path}", json=body)
        assert refused.status_code == 403 and refused.json()["code"] == "sso_required", body
    token_form = await client.post(
        f"{API}/auth/token", data={"username": member.email, "password": TEST_PASSWORD}
    )
    assert token_form.status_code == 403
    # A wrong password still answers like any wrong password (nothing revealed).
    wrong = await client.post(
        f"{API}/auth/login", json={"email": member.email, "password": "Wrong-password-12"}
    )
    assert wrong.status_code == 401
    signup = await client.post(
        f"{API}/auth/register",
        json={
            "email": "new@uni.example.edu",
            "password": "Another-Long-Passphrase-9",
            "full_name": "New Person",
        },
    )
    assert signup.status_code == 403 and signup.json()["code"] == "sso_required"
    other = await client.post(
        f"{API}/auth/login", json={"email": outsider.email, "password": TEST_PASSWORD}
    )
    assert other.status_code == 200

    # With SSO required, the password is no way in: the only identity cannot be unlinked.
    async with db.session() as session:
        identity = OAuthAccount(
            provider="school",
            issuer="https://login.uni.example.edu",
            subject="pat",
            user_id=member.id,
            email=member.email,
            created_at=utcnow(),
        )
        session.add(identity)
    refused_unlink = await client.delete(
        f"{API}/users/me/identities/{identity.id}", headers=auth(member)
    )
    assert refused_unlink.status_code == 409
    assert refused_unlink.json()["code"] == "last_sign_in_method"

    removed = await client.delete(f"{API}/admin/sso-domains/{row['id']}", headers=a)
    assert removed.status_code == 204
    assert (
        await client.delete(f"{API}/admin/sso-domains/{row['id']}", headers=a)
    ).status_code == 404
    after = await client.post(
        f"{API}/auth/login", json={"email": member.email, "password": TEST_PASSWORD}
    )
    assert after.status_code == 200
    actions = [r.action for r in await audit_rows(db)]
    assert "admin.sso_domain_added" in actions and "admin.sso_domain_removed" in actions
