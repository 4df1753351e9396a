"""AUTH__REQUIRE_VERIFIED_EMAIL: an unverified account signs in and verifies, nothing else."""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.config import AuthSettings, Settings
from studyhall.jobs.worker import Worker
from tests.conftest import MakeUser
from tests.identity.conftest import API, Auth
from tests.peers.smtp import SMTPPeer


def test_the_policy_defaults_to_on_in_production_only(settings: Settings) -> None:
    for environment, expected in (("production", True), ("development", False), ("test", False)):
        assert (
            settings.model_copy(update={"environment": environment}).verified_email_required
            is expected
        )
    off = settings.model_copy(
        update={"environment": "production", "auth": AuthSettings(require_verified_email=False)}
    )
    assert off.verified_email_required is False


async def test_unverified_accounts_may_only_verify(
    app: Any,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth: Auth,
    worker: Worker,
    smtp: SMTPPeer,
) -> None:
    app.state.settings.auth.require_verified_email = True
    user = await make_user("student", is_verified=False)
    me = auth(user)
    assert (await client.get(f"{API}/users/me", headers=me)).status_code == 200
    refused = await client.get(f"{API}/courses", headers=me)
    assert refused.status_code == 403 and refused.json()["code"] == "email_not_verified"
    chat = await client.post(f"{API}/chat", json={"content": "Hello"}, headers=me)
    assert chat.status_code == 403

    resent = await client.post(f"{API}/auth/verify-email/resend", headers=me)
    assert resent.status_code in (200, 202, 204), resent.text
    await worker.run_until_idle()
    token = smtp.last_to(user.email).token()
    verified = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    after = await client.get(f"{API}/courses", headers=me)
    assert after.status_code == 200, after.text

    # Verified accounts were never held back.
    other = auth(await make_user("student"))
    assert (await client.get(f"{API}/courses", headers=other)).status_code == 200
