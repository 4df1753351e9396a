"""BacMR dialect (document 001), the part served so far: health, auth, profile, wallet."""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.identity.models import Role, User
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.conftest import TEST_PASSWORD, MakeUser

BASE = "/compat/bacmr"


async def test_health(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{BASE}/health")
    assert r.status_code == 200 and r.json() == {"status": "BacMR Online"}


async def test_signup_then_signin_in_the_envelope(client: httpx.AsyncClient) -> None:
    email = fresh_email("eleve")
    r = await client.post(
        f"{BASE}/auth/signup",
        json={"email": email, "password": STRONG_PASSWORD, "full_name": "Aminetou Sidi"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    assert r.json()["data"]["email"] == email and isinstance(r.json()["data"]["user_id"], str)
    r = await client.post(f"{BASE}/auth/signin", json={"email": email, "password": STRONG_PASSWORD})
    assert r.status_code == 200
    data = r.json()["data"]
    assert r.json()["success"] is True
    assert isinstance(data["access_token"], str) and isinstance(data["refresh_token"], str)
    assert data["user"]["email"] == email and data["user"]["role"] == "student"
    me = await client.get(f"{BASE}/me", headers={"Authorization": f"Bearer {data['access_token']}"})
    assert me.json() == {
        "id": data["user"]["id"],
        "email": email,
        "full_name": "Aminetou Sidi",
        "role": "student",
    }


async def test_auth_errors(client: httpx.AsyncClient, student: User) -> None:
    r = await client.post(
        f"{BASE}/auth/signup",
        json={"email": student.email, "password": STRONG_PASSWORD, "full_name": "Again"},
    )
    assert r.status_code == 409 and r.json()["success"] is False and r.json()["detail"]
    r = await client.post(f"{BASE}/auth/signup", json={"email": "x"})
    assert r.status_code == 422 and r.json()["success"] is False
    r = await client.post(f"{BASE}/auth/signin", json={"email": student.email, "password": "no"})
    assert r.status_code == 401 and r.json()["success"] is False
    assert r.headers["www-authenticate"] == "Bearer"


async def test_logout_and_reset_password(client: httpx.AsyncClient, student: User) -> None:
    r = await client.post(f"{BASE}/auth/logout")
    assert r.status_code == 200 and r.json() == {"success": True, "data": None}
    r = await client.post(f"{BASE}/auth/reset-password", json={"email": student.email})
    assert r.status_code == 200 and r.json()["success"] is True
    r = await client.post(f"{BASE}/auth/reset-password", json={"email": fresh_email("nobody")})
    assert r.status_code == 200  # the same answer: nothing is revealed


async def test_me_update(client: httpx.AsyncClient, student: User, auth: Any) -> None:
    r = await client.patch(f"{BASE}/me", json={"full_name": "Nouveau Nom"}, headers=auth(student))
    assert r.status_code == 200 and r.json()["full_name"] == "Nouveau Nom"
    r = await client.patch(f"{BASE}/me", json={"role": "admin"}, headers=auth(student))
    assert r.status_code == 422
    r = await client.get(f"{BASE}/me")
    assert r.status_code == 401 and r.json() == {"success": False, "detail": "Not authenticated"}


async def test_wallet_balance_and_reservations_are_the_callers(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    student = await make_user(Role.student)
    other = await make_user(Role.student)
    admin = await make_user(Role.admin)
    r = await client.post(
        f"/api/v1/admin/wallets/{student.id}/reservations", json={"amount": 5}, headers=auth(admin)
    )
    assert r.status_code == 201, r.text
    r = await client.get(f"{BASE}/wallet/balance", headers=auth(student))
    assert r.status_code == 200
    body = r.json()
    assert body["pending_reservations"] == 5 and body["available"] == body["balance"] - 5
    assert isinstance(body["tier"], str)
    r = await client.get(f"{BASE}/wallet/reservations?status=reserved", headers=auth(student))
    assert r.status_code == 200 and r.json()["total"] == 1
    assert r.json()["reservations"][0]["amount"] == 5
    r = await client.get(f"{BASE}/wallet/reservations", headers=auth(other))
    assert r.json() == {"reservations": [], "total": 0, "limit": 50, "offset": 0}


async def test_one_identity_with_the_other_dialects(
    client: httpx.AsyncClient, student: User
) -> None:
    r = await client.post(
        f"{BASE}/auth/signin", json={"email": student.email, "password": TEST_PASSWORD}
    )
    token = r.json()["data"]["access_token"]
    profile = await client.get(
        "/compat/subject-tutor/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert profile.status_code == 200 and profile.json()["email"] == student.email
