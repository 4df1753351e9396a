"""Identity fixtures: a real local SMTP server, a job worker, login helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from studyhall.audit.models import AuditLog
from studyhall.config import Settings, SMTPSettings
from studyhall.core.db import Database
from studyhall.identity.models import User
from studyhall.jobs.worker import Worker
from tests.conftest import TEST_PASSWORD
from tests.peers.smtp import SMTPPeer

API = "/api/v1"
NEW_PASSWORD = "Violet-Tangerine-Lamp-77"


@pytest.fixture
async def smtp() -> AsyncIterator[SMTPPeer]:
    """A real SMTP server on 127.0.0.1 collecting mails."""
    peer = SMTPPeer()
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


@pytest.fixture
def settings(settings: Settings, smtp: SMTPPeer) -> Settings:
    """The harness settings, sending mail to the local SMTP server."""
    return settings.model_copy(
        update={"smtp": SMTPSettings(host="127.0.0.1", port=smtp.port, starttls=False, timeout_s=5)}
    )


@pytest.fixture
def worker(app: Any, db: Database, settings: Settings) -> Worker:
    """A job worker on the test database (run it with run_until_idle)."""
    return Worker(db, settings, app.state.storage, name="identity-test", concurrency=1)


Auth = Callable[[User], dict[str, str]]
Login = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def login(client: httpx.AsyncClient) -> Login:
    """Log in through the API and return the token pair (asserting 200)."""

    async def _login(email: str, password: str = TEST_PASSWORD) -> dict[str, Any]:
        response = await client.post(
            f"{API}/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return _login


def bearer(token: str) -> dict[str, str]:
    """Authorization header for an access token."""
    return {"Authorization": f"Bearer {token}"}


async def audit_rows(db: Database, action: str | None = None) -> list[AuditLog]:
    """Audit rows, oldest first (optionally of one action)."""
    async with db.session(write=False) as session:
        query = select(AuditLog).order_by(AuditLog.created_at, AuditLog.id)
        if action is not None:
            query = query.where(AuditLog.action == action)
        return list(await session.scalars(query))
