"""Test harness: one migrated database per run (and per xdist worker), emptied after each test.

Set STUDYHALL_TEST_DATABASE_URL=postgresql://user@host:port/db to run on PostgreSQL: a fresh
database is created next to the given one and dropped at the end. Otherwise SQLite in a temp dir.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from studyhall.config import Settings, async_database_url
from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.core.security import hash_password
from studyhall.identity.models import Role, User
from studyhall.identity.tokens import issue_access_token
from studyhall.main import create_app
from studyhall.migrate import upgrade
from studyhall.models_registry import load_all_models

TEST_PASSWORD = "Correct-Horse-Battery-42"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


async def admin_execute(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database or "postgres",
        timeout=10,
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database for this test process."""
    base = os.environ.get("STUDYHALL_TEST_DATABASE_URL")
    if not base:
        path = tmp_path_factory.mktemp("db") / "studyhall-test.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    name = f"studyhall_test_{_worker_id()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(admin_execute(base, f'CREATE DATABASE "{name}"'))
    url = async_database_url(
        make_url(base).set(database=name).render_as_string(hide_password=False)
    )
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2 hash of TEST_PASSWORD, reused so fixtures stay fast."""
    return hash_password(TEST_PASSWORD)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings: an isolated data dir, the run's database, no in-process worker."""
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-not-for-production-0123456789",
        log_json=True,
        log_level="WARNING",
        public_url="http://testserver",
        jobs={"in_process_worker": False},  # type: ignore[arg-type]
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    """The application, without lifespan (tests start workers themselves)."""
    application = create_app(settings, run_worker=False)
    try:
        yield application
    finally:
        await _empty_database(application.state.db)
        await application.state.db.dispose()
        clock.reset()


async def _empty_database(db: Database) -> None:
    tables = [t for t in load_all_models().metadata.sorted_tables]
    # DELETE, not TRUNCATE: on tables this small, TRUNCATE's file swap and locks cost ~100x more.
    async with db.session() as session:
        for table in reversed(tables):
            await session.execute(table.delete())


@pytest.fixture
def db(app: Any) -> Database:
    """The app's database."""
    database: Database = app.state.db
    return database


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


MakeUser = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user(db: Database, password_hash: str) -> MakeUser:
    """Create a user directly in the database (password TEST_PASSWORD)."""

    async def _make(role: Role | str = Role.student, **fields: Any) -> User:
        suffix = uuid.uuid4().hex[:10]
        values: dict[str, Any] = {
            "email": f"{role}-{suffix}@example.org",
            "username": f"{role}_{suffix}",
            "full_name": f"Test {str(role).title()} {suffix}",
            "password_hash": password_hash,
            "role": Role(role),
            "is_verified": True,
        }
        values.update(fields)
        async with db.session() as session:
            user = User(**values)
            session.add(user)
        return user

    return _make


@pytest.fixture
def auth(settings: Settings) -> Callable[[User], dict[str, str]]:
    """Authorization headers for a user."""

    def _headers(user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_access_token(settings, user)}"}

    return _headers


@pytest.fixture
async def student(make_user: MakeUser) -> User:
    return await make_user(Role.student)


@pytest.fixture
async def teacher(make_user: MakeUser) -> User:
    return await make_user(Role.teacher)


@pytest.fixture
async def admin(make_user: MakeUser) -> User:
    return await make_user(Role.admin)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clear skip where a checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis (STUDYHALL_TEST_REDIS_URL, default localhost); CI requires it."""
    url = os.environ.get("STUDYHALL_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("STUDYHALL_TEST_REQUIRE_SERVICES"):
            raise RuntimeError(f"Redis is required in CI and unreachable at {url}") from exc
        pytest.skip(f"Redis unreachable at {url}")
    return url


# Fixtures through which a test reaches the run's database (or its Redis): a test using none of
# them behaves the same on every database.
_DATABASE_FIXTURES = frozenset({"database_url", "schemathesis_database", "redis_url", "services"})


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs the suite on SQLite and then on PostgreSQL; each run leaves out what the
    other one covers, so that nothing runs twice only to repeat the same work:

    - the SQLite run, told that a PostgreSQL run follows (STUDYHALL_TEST_POSTGRES_FOLLOWS=1),
      leaves out the tests marked `once`: many cases of HTTP translation whose answers do not
      depend on the database engine (the dialects' documented errors), slow enough to matter;
    - the PostgreSQL run leaves out the tests that never touch a database (extraction,
      chunking, tokens, the CLI on its own SQLite), which the SQLite run already ran.
      Conservative: a module that mentions the database anywhere (a fixture taken dynamically,
      an environment check) keeps all of its tests.

    A run on its own (no variable set) runs everything."""
    mentions: dict[str, bool] = {}

    def touches_database(item: pytest.Item) -> bool:
        if _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            return True
        path = str(item.path)
        if path not in mentions:
            source = item.path.read_text(encoding="utf-8") if item.path.suffix == ".py" else ""
            mentions[path] = "database_url" in source or "STUDYHALL_TEST_" in source
        return mentions[path]

    if os.environ.get("STUDYHALL_TEST_POSTGRES_FOLLOWS") == "1" and not os.environ.get(
        "STUDYHALL_TEST_DATABASE_URL"
    ):
        once = pytest.mark.skip(reason="engine-independent: runs once, in the PostgreSQL run")
        for item in items:
            # A `once` test the PostgreSQL run would leave out (no database) stays here.
            if item.get_closest_marker("once") and touches_database(item):
                item.add_marker(once)
    if os.environ.get("STUDYHALL_TEST_SKIP_DATABASE_FREE") == "1":
        skip = pytest.mark.skip(reason="does not touch the database: ran in the SQLite run")
        for item in items:
            if not touches_database(item):
                item.add_marker(skip)
