"""Finding 5 (issue 11): a Redis outage never turns a rate-limited route into a 500.

A redis-server of the test's own, on a free port, is stopped mid-test and started again. The
api is served over real TCP with one keep-alive connection: before the fix every limited
request answered 500 while Redis was down (and the next request on the connection was lost);
now the limits fail open to the process's memory, and come back to Redis when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn

from studyhall.config import RateLimitSettings, Settings
from studyhall.core.metrics import RATE_LIMIT_FALLBACKS
from studyhall.core.ratelimit import RateLimiter
from studyhall.main import create_app

API = "/api/v1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A redis-server process on a free port that the test may stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError("redis-server exited") from None
                import time

                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def stored_keys(self) -> list[bytes]:
        return list(redis.Redis.from_url(self.url).keys("*"))


@contextlib.asynccontextmanager
async def live_server(app: Any) -> AsyncIterator[str]:
    """The app over real TCP in this event loop; idle keep-alive connections stay open for
    minutes (stopping and starting Redis on a busy machine takes seconds)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            lifespan="off",
            log_level="critical",
            log_config=None,
            access_log=False,
            timeout_keep_alive=300,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing (CI installs it)")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def served(settings: Settings, own_redis: OwnRedis) -> AsyncIterator[tuple[Any, str]]:
    config = settings.model_copy(
        update={
            "redis_url": own_redis.url,
            "rate_limits": RateLimitSettings(
                login_per_ip="3/minute", login_failures_per_account="100/minute"
            ),
        }
    )
    app = create_app(config, run_worker=False)
    # Redis is tried again on every request (not after 5 s), so the test needs no sleeping.
    app.state.limiter = RateLimiter(own_redis.url, retry_redis_s=0)
    ports: list[int] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            ports.append(scope["client"][1])
        await app(scope, receive, send)

    app.state.client_ports = ports
    async with live_server(recording) as url:
        yield app, url
    await app.state.db.dispose()


async def test_finding_05_redis_outage_fails_open_without_500_or_a_dropped_connection(
    served: tuple[Any, str], own_redis: OwnRedis
) -> None:
    app, url = served

    async def login(http: httpx.AsyncClient) -> int:
        r = await http.post(
            f"{API}/auth/login", json={"email": "nobody@example.org", "password": "Wrong-Pass-1"}
        )
        return r.status_code

    one_connection = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, limits=one_connection, timeout=60) as http:
        assert await login(http) == 401
        assert any(b"login-ip" in key for key in own_redis.stored_keys())  # counted in Redis

        own_redis.stop()
        fallbacks = RATE_LIMIT_FALLBACKS._value.get()
        during = [await login(http) for _ in range(4)]
        # The process's own limit of 3 a minute holds while Redis is away; never a 500.
        assert during == [401, 401, 401, 429], during
        assert RATE_LIMIT_FALLBACKS._value.get() > fallbacks
        health = await http.get("/health/ready")
        assert health.status_code == 503 and health.json()["redis"] is False

        await asyncio.to_thread(own_redis.start)
        assert own_redis.stored_keys() == []
        after = await login(http)
        assert after == 401  # a fresh Redis: the shared count starts again
        assert any(b"login-ip" in key for key in own_redis.stored_keys())  # back on Redis
        assert (await http.get("/health/ready")).status_code == 200
    # Every request went over the one keep-alive connection: none was dropped.
    assert len(set(app.state.client_ports)) == 1, app.state.client_ports
