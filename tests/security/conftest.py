"""Security fixtures: a world of objects, payments wired to a local Stripe, and a client that
keeps every response so no secret can leave the API unnoticed.

Every response body a test in this package receives is scanned when the test ends for the
secrets the server holds: password hashes, refresh-token, email-token and API-key hashes, mailed
tokens, API-key secrets (allowed only in the response that created the key), the JWT signing
key and the payment provider's secrets.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.identity.mail_tokens import _mail_token
from studyhall.identity.models import ApiKey, EmailToken, RefreshToken, User
from studyhall.workspaces.models import Workspace
from tests.peers.stripe_api import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, StripePeer
from tests.security.world import Headers, World, build_world

API = "/api/v1"


@dataclass
class Seen:
    """One response: what was asked, and the body that came back."""

    method: str
    path: str
    status: int
    body: str


@dataclass
class Recorder:
    """Every response of the test's clients."""

    responses: list[Seen] = field(default_factory=list)

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(
            Seen(
                response.request.method,
                response.request.url.path,
                response.status_code,
                response.text,
            )
        )

    def client(self, app: Any, **kwargs: Any) -> httpx.AsyncClient:
        """An in-process client on another app whose responses are recorded too."""
        transport = httpx.ASGITransport(
            app=app, client=("203.0.113.10", 50000), **kwargs.pop("transport_kwargs", {})
        )
        return httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            event_hooks={"response": [self]},
            **kwargs,
        )


@pytest.fixture
def stripe_peer() -> Iterator[StripePeer]:
    """The local Stripe API."""
    peer = StripePeer()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def settings(settings: Settings, stripe_peer: StripePeer) -> Settings:
    """The harness settings with payments configured against the local Stripe."""
    billing = settings.billing.model_copy(
        update={
            "stripe_secret_key": SECRET_KEY,
            "stripe_publishable_key": PUBLISHABLE_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": stripe_peer.url,
        }
    )
    return settings.model_copy(update={"billing": billing})


@pytest.fixture
def recorder() -> Recorder:
    """The responses this test received."""
    return Recorder()


@pytest.fixture
async def client(app: Any, recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    """The harness client, recording every response."""
    async with recorder.client(app) as c:
        yield c


async def _server_secrets(db: Database, settings: Settings) -> dict[str, str]:
    """Values that must never appear in a response, with what each one is."""
    secrets: dict[str, str] = {"$argon2": "a password hash"}
    named = {
        "JWT signing key": settings.secret_key,
        "Stripe secret key": settings.billing.stripe_secret_key,
        "Stripe webhook secret": settings.billing.stripe_webhook_secret,
        "SMTP password": settings.smtp.password,
        "LLM API key": settings.llm.api_key,
        "LLM fallback API key": settings.llm.fallback_api_key,
        "embeddings API key": settings.embeddings.api_key,
        "metrics token": settings.metrics_token,
        "Vimeo token": settings.video.vimeo_token,
    }
    secrets.update({value: name for name, value in named.items() if value})
    async with db.session(write=False) as session:
        for column, name in (
            (User.password_hash, "a password hash"),
            (RefreshToken.token_hash, "a refresh token hash"),
            (EmailToken.token_hash, "an email token hash"),
            (ApiKey.key_hash, "an API key hash"),
            (Workspace.token, "a workspace's token"),
        ):
            for value in (await session.scalars(select(column))).all():
                if value:
                    secrets[value] = name
        for token_id in (await session.scalars(select(EmailToken.id))).all():
            secrets[_mail_token(settings, token_id)] = "a mailed email token"
    return secrets


def leaks(responses: list[Seen], secrets: dict[str, str]) -> list[str]:
    """Where a secret appears in a response (an API key only in its creating response)."""
    found: list[str] = []
    key_secrets: dict[str, int] = {}
    for index, seen in enumerate(responses):
        if seen.method == "POST" and seen.path == f"{API}/admin/api-keys" and seen.status == 201:
            key_secrets[json.loads(seen.body)["key"]] = index
    for index, seen in enumerate(responses):
        for value, name in secrets.items():
            if value in seen.body:
                found.append(f"{name} in {seen.method} {seen.path} ({seen.status})")
        for value, created_at in key_secrets.items():
            if index != created_at and value in seen.body:
                found.append(f"an API key secret in {seen.method} {seen.path} ({seen.status})")
    return found


@pytest.fixture(autouse=True)
async def no_secret_in_any_response(
    recorder: Recorder, db: Database, settings: Settings
) -> AsyncIterator[None]:
    """API3 (excessive data exposure), for every test here: scan all it received."""
    yield
    secrets = await _server_secrets(db, settings)
    found = leaks(recorder.responses, secrets)
    assert not found, "secrets leaked:\n" + "\n".join(found)


@pytest.fixture
async def world(client: httpx.AsyncClient, make_user: Any, auth: Headers, db: Database) -> World:
    """Users of every role and one object of every resource (see tests/security/world.py)."""
    return await build_world(client, make_user, auth, db)
