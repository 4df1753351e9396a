"""The `studyhall` command, run as a user would run it (subprocesses on a fresh data dir)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

STUDYHALL = str(Path(sys.executable).parent / "studyhall")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDYHALL_")}
    env.update(
        STUDYHALL_DATA_DIR=str(data_dir),
        STUDYHALL_LOG_LEVEL="WARNING",
        STUDYHALL_JOBS__IN_PROCESS_WORKER="false",
        **extra,
    )
    return env


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STUDYHALL, *args], env=env, capture_output=True, text=True, timeout=120)


def _users(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "studyhall.db") as conn:
        return conn.execute("SELECT email, role FROM users ORDER BY email").fetchall()


def test_migrate_creates_the_schema_and_keeps_a_generated_secret(tmp_path: Path) -> None:
    env = _env(tmp_path)
    result = _run("migrate", env=env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "studyhall.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "jobs", "audit_logs", "alembic_version"} <= tables
    secret = (tmp_path / "secret_key").read_text()
    assert len(secret) >= 32
    assert _run("migrate", env=env).returncode == 0
    assert (tmp_path / "secret_key").read_text() == secret


def test_demo_is_idempotent(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = _run("demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "admin@demo.studyhall.example" in first.stdout
    users = _users(tmp_path)
    assert _run("demo", env=env).returncode == 0
    assert _users(tmp_path) == users
    roles = {role for _, role in users}
    assert roles == {"admin", "teacher", "student"}


def test_create_admin_creates_then_promotes(tmp_path: Path) -> None:
    env = _env(tmp_path)
    created = _run(
        "create-admin", "--email", "Boss@Example.org", "--password", "a-long-password-1", env=env
    )
    assert created.returncode == 0, created.stderr
    assert "created" in created.stdout
    again = _run(
        "create-admin", "--email", "boss@example.org", "--password", "another-password-2", env=env
    )
    assert "updated" in again.stdout
    assert _users(tmp_path) == [("boss@example.org", "admin")]
    short = _run("create-admin", "--email", "x@example.org", "--password", "short", env=env)
    assert short.returncode != 0


def test_production_refuses_a_known_default_secret(tmp_path: Path) -> None:
    env = _env(tmp_path, STUDYHALL_ENVIRONMENT="production", STUDYHALL_SECRET_KEY="changeme")
    result = _run("migrate", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    # A key generated on each machine would differ between replicas (tokens then fail across
    # them): production must be given one, and says so instead of starting.
    env = _env(tmp_path, STUDYHALL_ENVIRONMENT="production")
    result = _run("migrate", env=env)
    assert result.returncode != 0
    assert "STUDYHALL_SECRET_KEY must be set in production" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_migrates_and_answers(tmp_path: Path, workers: int) -> None:
    port = _free_port()
    env = _env(tmp_path)
    process = subprocess.Popen(
        [STUDYHALL, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # generous: CI machines are shared and busy
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health/ready", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/health").json() == {"status": "ok"}
            for _ in range(5):
                http.get("/health")
            metrics = http.get("/metrics").text
        line = 'studyhall_http_requests_total{method="GET",route="/health",status="200"}'
        counted = [float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(line)]
        # Every process's requests are summed, whichever process answers the scrape.
        assert counted and counted[0] >= 6
    finally:
        process.terminate()
        process.wait(20)


def test_ingest_adds_documents_to_a_course(tmp_path: Path, shared_data: Path) -> None:
    env = _env(tmp_path)
    assert _run("demo", env=env).returncode == 0
    pdf = shared_data / "pdfs" / "fr-exercises.pdf"
    result = _run("ingest", str(pdf), "--course", "eco101", env=env)
    assert result.returncode == 0, result.stderr
    assert "fr-exercises.pdf: ready, 3 pages" in result.stdout
    with sqlite3.connect(tmp_path / "studyhall.db") as conn:
        (chunks,) = conn.execute("SELECT count(*) FROM knowledge_chunks").fetchone()
    assert chunks > 0
    unknown = _run("ingest", str(pdf), "--course", "NOPE", env=env)
    assert unknown.returncode != 0
    assert "no course with code" in unknown.stderr


def test_demo_accounts_can_keep_their_own_email() -> None:
    # The demo accounts use a documentation domain (RFC 2606), which the profile update accepts:
    # a demo user saving their profile unchanged is not refused for their own address.
    from studyhall.demo import DEMO_USERS
    from studyhall.identity.schemas import UserUpdate

    for email, *_ in DEMO_USERS:
        assert UserUpdate.model_validate({"email": email}).email == email
