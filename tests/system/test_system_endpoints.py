"""System endpoints, error bodies and response headers."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable

import httpx
import pytest

from studyhall.config import Settings
from studyhall.identity.models import Role, User
from studyhall.identity.tokens import issue_access_token
from studyhall.main import create_app


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["database"] is True


async def test_ready_is_503_when_database_is_unreachable(settings: Settings) -> None:
    broken = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    )
    app = create_app(broken, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/health/ready")
    await app.state.db.dispose()
    assert response.status_code == 503
    assert response.json()["database"] is False


async def test_ready_reports_unreachable_redis(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}), run_worker=False
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/health/ready")
    await app.state.db.dispose()
    assert response.status_code == 503
    assert response.json()["redis"] is False


async def test_system_info_names_models_and_no_secret(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/api/v1/system/info")
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"version", "llm_provider", "llm_model", "embedding_model", "status"}
    assert body["llm_provider"] == "offline"
    assert settings.jwt_secret not in response.text


async def test_unknown_route_has_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "code": "not_found"}


async def test_request_id_and_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    generated = await client.get("/health", headers={"X-Request-ID": "bad id\nwith newline"})
    assert generated.headers["x-request-id"] != "bad id\nwith newline"
    assert len(generated.headers["x-request-id"]) == 32


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/admin/jobs/00000000-0000-0000-0000-000000000000")
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'route="/api/v1/admin/jobs/{job_id}"' in text
    assert "studyhall_http_request_duration_seconds_bucket" in text
    assert "studyhall_jobs{" in text


async def test_metrics_token_protects_metrics(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": "m-token-123"}), run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        denied = await c.get("/metrics")
        allowed = await c.get("/metrics", headers={"Authorization": "Bearer m-token-123"})
    await app.state.db.dispose()
    assert denied.status_code == 403
    assert allowed.status_code == 200


async def test_finding_10_production_without_metrics_token_keeps_metrics_off(
    settings: Settings,
) -> None:
    """Before: 200 with the whole exposition on the public port; after: 403 until a token is set."""
    production = settings.model_copy(update={"environment": "production"})
    for config, expected in (
        (production, 403),
        (production.model_copy(update={"metrics_token": "m-token-123"}), 200),
    ):
        app = create_app(config, run_worker=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.get("/metrics", headers={"Authorization": "Bearer m-token-123"})
        await app.state.db.dispose()
        assert response.status_code == expected, response.text
        assert ("studyhall_http_requests_total" in response.text) is (expected == 200)


async def test_cors_from_settings(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"cors_origins": ["https://school.example"]}), run_worker=False
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        ok = await c.options(
            "/health",
            headers={"Origin": "https://school.example", "Access-Control-Request-Method": "GET"},
        )
        other = await c.get("/health", headers={"Origin": "https://evil.example"})
    await app.state.db.dispose()
    assert ok.headers["access-control-allow-origin"] == "https://school.example"
    assert "access-control-allow-origin" not in other.headers


async def test_openapi_lists_security_schemes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert {"OAuth2PasswordBearer", "ApiKey", "AdminKey"} <= set(schemes)


async def test_database_outage_is_a_clear_503(settings: Settings) -> None:
    down = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    )
    app = create_app(down, run_worker=False)
    user = User(id=uuid.uuid4(), role=Role.student, auth_version=1)
    headers = {"Authorization": f"Bearer {issue_access_token(down, user)}"}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/api/v1/users/me", headers=headers)
    await app.state.db.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["retry-after"] == "5"


async def test_a_saturated_database_is_a_clear_503_and_then_serves_again(
    settings: Settings, student: User, auth: Callable[[User], dict[str, str]]
) -> None:
    busy = settings.model_copy(update={"db_pool_size": 1, "db_timeout_s": 0.3})
    app = create_app(busy, run_worker=False)
    pool = app.state.db.engine.sync_engine.pool
    held = [await app.state.db.engine.connect() for _ in range(pool.size() + pool._max_overflow)]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        try:
            # Every pooled connection is taken: the request waits DB_TIMEOUT_S, then says so.
            saturated = await c.get("/api/v1/users/me", headers=auth(student))
        finally:
            for connection in held:
                await connection.close()
        served = await c.get("/api/v1/users/me", headers=auth(student))
    await app.state.db.dispose()
    assert saturated.status_code == 503, saturated.text
    assert saturated.json() == {
        "detail": "The database is busy; try again shortly",
        "code": "database_busy",
    }
    assert saturated.headers["retry-after"] == "2"
    assert served.status_code == 200


async def test_sqlite_write_lock_held_too_long_is_a_clear_503(
    settings: Settings, student: User, auth: Callable[[User], dict[str, str]]
) -> None:
    if not settings.is_sqlite:
        pytest.skip("SQLite's single write lock; PostgreSQL writers wait on row locks instead")
    busy = settings.model_copy(update={"db_timeout_s": 0.3})
    app = create_app(busy, run_worker=False)
    path = str(settings.database_url).split("///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    prompt = {"title": "Revision", "prompt_text": "Quiz me on cells"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        other.execute("BEGIN IMMEDIATE")  # another process is writing, and for too long
        try:
            locked = await c.post("/api/v1/users/me/prompts", json=prompt, headers=auth(student))
        finally:
            other.execute("ROLLBACK")
            other.close()
        saved = await c.post("/api/v1/users/me/prompts", json=prompt, headers=auth(student))
        listed = await c.get("/api/v1/users/me/prompts", headers=auth(student))
    await app.state.db.dispose()
    assert locked.status_code == 503 and locked.json()["code"] == "database_busy", locked.text
    assert saved.status_code == 201
    # The refused request left nothing behind.
    assert listed.json()["total"] == 1
