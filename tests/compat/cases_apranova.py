"""Document 004's example requests (ApraNova), one case per endpoint."""

from __future__ import annotations

import httpx

from studyhall.identity.models import Role
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.compat.example_checks import Trial, case
from tests.conftest import TEST_PASSWORD

B = "/compat/apranova/api"
# The document's standard error body, which its OAuth routes answer while sign-in by a provider
# is not configured (the harness configures none).
ENGINE_ABSENT = {"error": "", "message": "", "details": ""}


async def _registered(t: Trial) -> dict[str, str]:
    r = await t.client.post(
        f"{B}/auth/registration/",
        json={
            "name": "John Doe",
            "email": fresh_email("john"),
            "password1": STRONG_PASSWORD,
            "password2": STRONG_PASSWORD,
            "role": "student",
            "track": "DP",
        },
    )
    assert r.status_code == 201, r.text
    return {"access": r.json()["access"], "refresh": r.json()["refresh"]}


@case(f"POST {B}/auth/registration/")
async def _register(t: Trial) -> httpx.Response:
    return await t.send(
        json=t.body(email=fresh_email("john"), password1=STRONG_PASSWORD, password2=STRONG_PASSWORD)
    )


@case(f"POST {B}/users/login/")
async def _login(t: Trial) -> httpx.Response:
    user, _ = await t.user()
    return await t.send(json=t.body(email=user.email, password=TEST_PASSWORD))


@case(f"POST {B}/auth/token/refresh/")
async def _refresh(t: Trial) -> httpx.Response:
    tokens = await _registered(t)
    return await t.send(json={"refresh": tokens["refresh"]})


@case(f"POST {B}/users/logout/")
async def _logout(t: Trial) -> httpx.Response:
    tokens = await _registered(t)
    return await t.send(
        json={"refresh": tokens["refresh"]}, headers={"Authorization": f"Bearer {tokens['access']}"}
    )


@case(f"POST {B}/users/check-email/")
async def _check_email(t: Trial) -> httpx.Response:
    user, _ = await t.user()
    r = await t.send(json={"email": user.email})
    assert r.json() == {"exists": True}
    return r


@case(f"GET {B}/users/profile/", nullable=("track",))
async def _profile(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(headers=headers)


@case(f"POST {B}/users/update-role/")
async def _update_role(t: Trial) -> httpx.Response:
    # Admin-only, and naming the user (StudyHall's deviation, in the dialect's description).
    _, admin = await t.user(Role.admin)
    student, _ = await t.user()
    return await t.send(json=t.body(email=student.email), headers=admin)


@case(f"POST {B}/users/workspace/create/", status=503)
async def _workspace(t: Trial) -> httpx.Response:
    # The harness runs no workspace engine: the document's own 503 body.
    _, headers = await t.user()
    return await t.send(headers=headers)


@case(f"POST {B}/payments/create-payment/")
async def _payment(t: Trial) -> httpx.Response:
    # The document's 999.00 is no StudyHall package; the default "small" one costs 5.00 USD.
    _, headers = await t.user()
    return await t.send(json=t.body(amount=5.00), headers=headers)


@case(f"POST {B}/auth/google/", status=503, expect=ENGINE_ABSENT)
async def _google(t: Trial) -> httpx.Response:
    return await t.send()


@case(f"POST {B}/auth/github/", status=503, expect=ENGINE_ABSENT)
async def _github(t: Trial) -> httpx.Response:
    return await t.send()
