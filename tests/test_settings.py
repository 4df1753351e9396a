"""Settings an operator gives are the ones the app uses, and unsafe ones stop it from starting."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from studyhall.config import DEFAULT_MAX_REQUEST_BODY_BYTES, Settings
from studyhall.main import create_app


def test_production_without_a_secret_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STUDYHALL_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match="STUDYHALL_SECRET_KEY must be set in production"):
        Settings(_env_file=None, environment="production", data_dir=tmp_path)
    assert not (tmp_path / "secret_key").exists()
    # Elsewhere one is generated once and kept, so restarts keep tokens valid.
    first = Settings(_env_file=None, environment="development", data_dir=tmp_path)
    again = Settings(_env_file=None, environment="development", data_dir=tmp_path)
    assert first.jwt_secret == again.jwt_secret == (tmp_path / "secret_key").read_text().strip()


async def test_max_request_body_bytes_from_the_environment_limits_request_bodies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDYHALL_MAX_REQUEST_BODY_BYTES", "4096")
    settings = Settings(_env_file=None, data_dir=tmp_path, secret_key="k" * 48)
    assert settings.max_request_body_bytes == 4096
    assert Settings.model_fields["max_request_body_bytes"].default == DEFAULT_MAX_REQUEST_BODY_BYTES
    app = create_app(settings, run_worker=False)
    login = "/api/v1/auth/login"
    headers = {"Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            over = await client.post(login, content=b"{" + b" " * 5000 + b"}", headers=headers)
            under = await client.post(login, content=b"{" + b" " * 3000 + b"}", headers=headers)
    finally:
        await app.state.db.dispose()
    assert over.status_code == 413 and over.json()["code"] == "payload_too_large"
    assert "4096" in over.json()["detail"]
    # Under the limit the route reads the body (and refuses it for missing fields, not size).
    assert under.status_code == 422
