"""Compatibility dialect fixtures: payments against the local Stripe peer, fresh values."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from studyhall.config import Settings
from tests.peers.stripe_api import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, StripePeer

STRONG_PASSWORD = "Marigold-Quartz-Canyon-58"


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


def fresh_email(prefix: str = "user") -> str:
    """A new address for each use (tests share one database run)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"
