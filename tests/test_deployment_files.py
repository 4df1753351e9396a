"""The deployment files say what the code does: `.env.example` lists every setting and no other
(with its default),
and `compose.yaml` (with `deploy/nginx.conf` and the Dockerfile) runs the documented topology —
PostgreSQL, Redis, two api replicas, a worker and a reverse proxy — with settings StudyHall
accepts in production and CLI commands and options that exist.

No container runtime is needed: the machine that runs the tests has none, so the files are
checked against the code instead of being started.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from studyhall.cli import app as cli
from studyhall.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "STUDYHALL_"


def setting_names() -> set[str]:
    """Every environment variable Settings reads (nested groups joined with `__`)."""
    names = set()
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names |= {f"{PREFIX}{name.upper()}__{sub.upper()}" for sub in kind.model_fields}
        else:
            names.add(f"{PREFIX}{name.upper()}")
    return names


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` with the variables given."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in given:
            return given[name]
        if op == ":?":
            raise KeyError(f"{name} must be set: {rest}")
        return rest if op == ":-" else ""

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, value)


def test_env_example_lists_every_setting_and_only_real_ones() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(rf"^#?\s*({PREFIX}[A-Z0-9_]+)=", text, re.MULTILINE))
    assert sorted(setting_names() - listed) == [], "settings missing from .env.example"
    assert sorted(listed - setting_names()) == [], ".env.example names unknown settings"


def test_env_example_used_as_env_file_gives_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    fixed = {"data_dir": tmp_path, "secret_key": "k" * 48}
    from_example = Settings(_env_file=ROOT / ".env.example", **fixed)
    assert from_example.model_dump() == Settings(_env_file=None, **fixed).model_dump()


def test_compose_runs_postgres_redis_two_replicas_a_worker_and_a_proxy() -> None:
    services = compose()["services"]
    assert {"db", "redis", "migrate", "api1", "api2", "worker", "proxy"} <= services.keys()
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["proxy"]["image"].startswith("nginx:")
    for api in ("api1", "api2"):
        assert services[api]["command"][:2] == ["studyhall", "serve"]
        # Replicas start after the one-off migration, never racing each other to migrate.
        assert services[api]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["worker"]["command"][:2] == ["studyhall", "worker"]
    assert services["migrate"]["command"] == ["studyhall", "migrate"]

    # The proxy balances over both replicas, streams SSE unbuffered and keeps /metrics inside.
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream studyhall \{(.*?)\}", nginx, re.DOTALL)
    assert upstream is not None
    port = services["api1"]["command"][services["api1"]["command"].index("--port") + 1]
    assert set(re.findall(r"server (\S+);", upstream.group(1))) == {
        f"api1:{port}",
        f"api2:{port}",
    }
    assert "proxy_buffering off" in nginx
    assert re.search(r"location /metrics \{\s*[^}]*return 403", nginx)
    mounted = services["proxy"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).resolve() == (ROOT / "deploy" / "nginx.conf").resolve()


@pytest.mark.parametrize("service", ["migrate", "api1", "api2", "worker"])
def test_compose_commands_are_real_cli_commands_and_options(service: str) -> None:
    command = compose()["services"][service]["command"]
    assert command[0] == "studyhall"
    subcommand, args = command[1], command[2:]
    usage = CliRunner().invoke(cli, [subcommand, "--help"], terminal_width=200)
    assert usage.exit_code == 0, usage.output
    for option in (a for a in args if a.startswith("--")):
        assert option in usage.output, f"{service}: `studyhall {subcommand}` has no {option}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    default = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert default is not None and yaml.safe_load(default.group(1))[:2] == ["studyhall", "serve"]


def test_compose_settings_are_real_and_accepted_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = compose()
    environment: dict[str, str] = document["x-studyhall"]["environment"]
    assert sorted(set(environment) - setting_names()) == [], "compose sets unknown settings"
    assert environment["STUDYHALL_ENVIRONMENT"] == "production"
    # Separate worker services run the jobs; the replicas must not run their own.
    assert environment["STUDYHALL_JOBS__IN_PROCESS_WORKER"] == "false"

    # Without a secret compose refuses to start rather than use a weak one.
    with pytest.raises(KeyError, match="STUDYHALL_SECRET_KEY"):
        interpolate(environment["STUDYHALL_SECRET_KEY"], {})
    given = {"STUDYHALL_SECRET_KEY": "k" * 48}
    # As the containers see them: every variable set, the optional ones to "".
    for name, value in environment.items():
        monkeypatch.setenv(name, interpolate(str(value), given))
    monkeypatch.setenv("STUDYHALL_DATA_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    assert settings.environment == "production" and settings.jwt_secret == "k" * 48
    assert str(settings.database_url).startswith("postgresql+asyncpg://")
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.jobs.in_process_worker is False and settings.llm.provider == "offline"
    # Unset optional values keep their defaults: no CORS origin, no metrics token (so in
    # production /metrics stays off until one is set), no LLM base URL.
    assert settings.cors_origins == [] and settings.metrics_token is None
    assert settings.metrics_served is False
    assert settings.llm.base_url is None
    # A weak secret is refused in the same configuration.
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(_env_file=None, environment="production", secret_key="changeme", data_dir=tmp_path)
    # The image's data directory is the volume compose mounts.
    volume_target = document["x-studyhall"]["volumes"][0].split(":")[1]
    assert f"STUDYHALL_DATA_DIR={volume_target}" in (ROOT / "Dockerfile").read_text()


async def test_finding_04_compose_proxy_settings_ignore_a_forged_x_forwarded_for(
    settings: Settings,
) -> None:
    """The replicas behind compose's nginx, with compose's TRUSTED_PROXIES and the header nginx
    sets, wrapped as `studyhall serve` wraps them (uvicorn's proxy headers). A client that
    writes a new X-Forwarded-For on every request is still one address to the per-IP limit.
    Before (TRUSTED_PROXIES "*", left-most entry taken): 6 wrong logins, 6 × 401 and six
    different audit addresses; after: 3 × 401 then 429, all counted to the client's address."""
    import ipaddress

    import httpx
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from studyhall.config import RateLimitSettings
    from studyhall.main import create_app

    document = compose()
    trusted = document["x-studyhall"]["environment"]["STUDYHALL_TRUSTED_PROXIES"]
    assert "*" not in trusted.split(",")
    proxy_ip = document["services"]["proxy"]["networks"]["default"]["ipv4_address"]
    subnet = document["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_ip) in ipaddress.ip_network(subnet)
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx

    settings = settings.model_copy(
        update={
            "trusted_proxies": trusted,
            "rate_limits": RateLimitSettings(login_per_ip="3/minute"),
        }
    )
    app = create_app(settings, run_worker=False)
    served = ProxyHeadersMiddleware(app, trusted_hosts=settings.trusted_proxies)
    client_ip = "198.51.100.7"
    transport = httpx.ASGITransport(app=served, client=(proxy_ip, 40000))
    statuses = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for i in range(6):
            # What nginx's $proxy_add_x_forwarded_for sends: the client's header, then the
            # address nginx saw.
            forged = f"203.0.113.{i + 1}"
            response = await http.post(
                "/api/v1/auth/login",
                json={"email": f"nobody{i}@example.org", "password": "Wrong-Password-1"},
                headers={"X-Forwarded-For": f"{forged}, {client_ip}"},
            )
            statuses.append(response.status_code)
    await app.state.db.dispose()
    assert statuses == [401, 401, 401, 429, 429, 429]
    # A production configuration that trusts every peer is refused at start.
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(
            _env_file=None,
            environment="production",
            secret_key="k" * 48,
            trusted_proxies="*",
            data_dir=settings.data_dir,
        )
