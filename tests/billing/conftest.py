"""Billing fixtures: a real local Stripe API server, settings pointing at it, money helpers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from studyhall.billing import service
from studyhall.billing.schemas import WalletOut
from studyhall.config import BillingSettings, Settings
from studyhall.core.db import Database
from studyhall.identity.models import User
from tests.peers.stripe_api import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, StripePeer

API = "/api/v1"
Headers = Callable[[User], dict[str, str]]
_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The stripe library hands httpx raw bytes as `data=`, which httpx deprecates: not ours."""
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(
                pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
            )


@pytest.fixture
def stripe_peer() -> Iterator[StripePeer]:
    """The fake Stripe API on a random local port."""
    peer = StripePeer()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def billing_settings(stripe_peer: StripePeer) -> BillingSettings:
    """Billing settings for tests: no signup bonus (exact sums), Stripe at the local peer."""
    return BillingSettings(
        signup_bonus=0,
        tiers={"free": 20_000, "basic": 100_000, "premium": 1_000_000},
        default_tier="free",
        reservation_ttl_s=600,
        stripe_secret_key=SECRET_KEY,
        stripe_publishable_key=PUBLISHABLE_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_peer.url,
    )


@pytest.fixture
def settings(settings: Settings, billing_settings: BillingSettings) -> Settings:
    """The harness settings with the billing settings above."""
    return settings.model_copy(update={"billing": billing_settings})


async def topup(
    client: httpx.AsyncClient, headers: dict[str, str], user_id: uuid.UUID, amount: int
) -> dict[str, Any]:
    """Admin top-up through the API; returns the response body."""
    r = await client.post(
        f"{API}/admin/wallets/{user_id}/topup",
        json={"amount": amount, "reason": "test credit"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def credit(db: Database, settings: BillingSettings, user_id: uuid.UUID, amount: int) -> None:
    """Service-level top-up in its own unit of work."""
    async with db.session() as session:
        await service.topup(
            session,
            user_id=user_id,
            amount=amount,
            reason="test credit",
            actor_id=None,
            settings=settings,
        )


async def invariants(db: Database, settings: BillingSettings, user_id: uuid.UUID) -> list[str]:
    """The user's broken invariants (empty when consistent)."""
    async with db.session(write=False) as session:
        return await service.check_invariants(session, user_id=user_id, settings=settings)


async def wallet(db: Database, settings: BillingSettings, user_id: uuid.UUID) -> WalletOut:
    """The user's wallet view."""
    async with db.session() as session:
        return await service.get_wallet(session, user_id=user_id, settings=settings)
