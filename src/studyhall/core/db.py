"""Engine, sessions and the one-unit-of-work-per-request dependency."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

_SQLITE_BEGIN = "studyhall_sqlite_begin"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, timeout_s: float = 30.0
) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, a busy timeout and explicit BEGINs.

    `timeout_s` bounds how long a unit of work waits for a pooled connection (and on SQLite for
    the write lock) before it fails, which the API answers with 503 `database_busy`.

    Every connection the pool may open stays open once opened (`max_overflow=0` over a pool of
    the same total size as before: 3 × `pool_size`). With overflow connections, a busy process
    closed each one it returned past `pool_size` and opened a new one for the next request: a
    connect (asyncpg: TCP, an SSL attempt, authentication; aiosqlite: a thread and four PRAGMAs)
    per request under load, which was ~1.5 ms of the api's CPU per authenticated read at 64
    connections (bench/api_throughput.py, CPU ms/req 4.8 → 3.1).
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": timeout_s},
            pool_size=pool_size + 20,
            max_overflow=0,
            pool_timeout=timeout_s,
        )
        _configure_sqlite(engine, busy_timeout_s=timeout_s)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size * 3,
        max_overflow=0,
        pool_timeout=timeout_s,
        pool_recycle=1800,
    )
    _ping_only_stale_connections(engine)
    return engine


def make_null_pool_engine(url: str) -> AsyncEngine:
    """An engine without pooling, for short-lived CLI commands and migrations."""
    engine = create_async_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        _configure_sqlite(engine)
    return engine


# A connection used within this many seconds is handed out without a ping.
_PING_AFTER_IDLE_S = 5.0


def _ping_only_stale_connections(engine: AsyncEngine) -> None:
    """Ping a pooled connection on checkout only when it sat idle, instead of before every use.

    SQLAlchemy's `pool_pre_ping` costs a round trip on every checkout (on asyncpg a BEGIN, `;`,
    ROLLBACK: three), about a fifth of a small authenticated read. A connection that was in use
    a moment ago is alive; one idle for a while may have been cut (a restart, a proxy's idle
    timeout), so it is pinged and replaced if dead. A connection that dies in between fails its
    statement: SQLAlchemy then invalidates the whole pool, so one request answers 503 and the
    next ones get fresh connections.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["studyhall_idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("studyhall_idle_since")
        if idle_since is None or time.monotonic() - idle_since < _PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(f"stale pooled connection: {error}") from error


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_s: float = 30.0) -> None:
    """Take transaction control from the driver so writers can BEGIN IMMEDIATE.

    SQLite upgrades a read lock to a write lock lazily and fails at once (no busy wait) when two
    transactions both try; starting write transactions with IMMEDIATE serializes writers instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        if mode != "NONE":
            conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The engine and session factory of one process."""

    def __init__(
        self, url: str, *, pool_size: int = 10, echo: bool = False, timeout_s: float = 30.0
    ) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, echo=echo, timeout_s=timeout_s)
        self.is_sqlite = url.startswith("sqlite")
        # On SQLite, writers take the write lock with their first statement (BEGIN IMMEDIATE);
        # reads run without BEGIN (one trip to the driver thread fewer, and each statement sees
        # committed data). Either way a connection is taken only when a statement runs, so a
        # request refused before it reads anything (401, 422) never touches the database.
        self.sessionmaker = async_sessionmaker(
            self._with_begin("IMMEDIATE"), expire_on_commit=False
        )
        self._read_sessionmaker = async_sessionmaker(
            self._with_begin("NONE"), expire_on_commit=False
        )
        self._alone_sql: dict[int, tuple[Any, Any]] = {}

    def _with_begin(self, mode: str) -> AsyncEngine:
        if not self.is_sqlite:
            # PostgreSQL reads run in autocommit, as SQLite's do: no BEGIN and COMMIT round
            # trips around a single SELECT. Under READ COMMITTED every statement takes its own
            # snapshot anyway, so a read request sees exactly what it saw inside a transaction.
            if mode == "NONE":
                return self.engine.execution_options(isolation_level="AUTOCOMMIT")
            return self.engine
        return self.engine.execution_options(**{_SQLITE_BEGIN: mode})

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on any error."""
        factory = self.sessionmaker if write else self._read_sessionmaker
        async with factory() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def first_row_alone(
        self, statement: Any, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """PostgreSQL: run one statement that is atomic by itself on a pooled connection's
        driver (asyncpg), compiled once, without BEGIN/COMMIT and without an ORM session; its
        first row by column name, or None.

        For the hottest one-statement steps: through a session the same statement costs about
        0.85 ms of client CPU against about 0.3 ms here (issue 12, bench/RESULTS.md). The
        parameters go through their types' bind processing as SQLAlchemy would; the columns
        come back as the driver decodes them, so only for results of plain types (uuids,
        numbers, text, timestamps)."""
        sql, names, processors = self._compiled_alone(statement)
        args = [
            value if (process := processors.get(name)) is None else process(value)
            for name in names
            for value in (params[name],)
        ]
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            record = await raw.driver_connection.fetchrow(sql, *args)  # type: ignore[union-attr]
        return None if record is None else dict(record.items())

    def _compiled_alone(
        self, statement: Any
    ) -> tuple[str, tuple[str, ...], dict[str, Callable[[Any], Any]]]:
        cached = self._alone_sql.get(id(statement))
        if cached is not None and cached[0] is statement:
            return cached[1]
        compiled = statement.compile(dialect=self.engine.dialect)
        if compiled.positiontup is None or compiled.literal_execute_params:
            raise ValueError("a statement for first_row_alone needs plain positional parameters")
        names = tuple(compiled.positiontup)
        processors = {n: p for n, p in compiled._bind_processors.items() if n in names}
        result = (compiled.string, names, processors)
        # Keyed by identity, the statement kept alive with it (statements are built once).
        self._alone_sql[id(statement)] = (statement, result)
        return result

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work; reads (GET) do not take SQLite's write lock."""
    db: Database = request.app.state.db
    async with db.session(write=request.method not in _READ_METHODS) as session:
        yield session


# scope="function": commit before the response is sent, so a failed commit is an error reply.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
