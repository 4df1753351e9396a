"""The unit of work on PostgreSQL: reads without a transaction, and pooled connections that
are pinged only when they sat idle (and replaced when that ping finds them dead)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from studyhall.core import db as db_module
from studyhall.core.db import Database, make_null_pool_engine


def _postgres_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL connection handling")


async def test_reads_run_in_autocommit_and_writes_in_one_transaction(database_url: str) -> None:
    _postgres_only(database_url)
    database = Database(database_url, pool_size=1)
    try:
        # Inside a transaction now() is the transaction's start; in autocommit each statement
        # has its own, so two reads a moment apart see two different instants.
        async with database.session(write=False) as session:
            first = (await session.execute(text("SELECT now()"))).scalar_one()
            await asyncio.sleep(0.01)
            second = (await session.execute(text("SELECT now()"))).scalar_one()
        assert second > first
        async with database.session(write=True) as session:
            first = (await session.execute(text("SELECT now()"))).scalar_one()
            await asyncio.sleep(0.01)
            second = (await session.execute(text("SELECT now()"))).scalar_one()
        assert second == first
    finally:
        await database.dispose()


async def test_an_idle_connection_killed_by_the_server_is_replaced_without_an_error(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _postgres_only(database_url)
    database = Database(database_url, pool_size=1)
    try:
        async with database.session(write=False) as session:
            victim = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # The pooled connection is cut while idle (a restart or a proxy's idle timeout).
        killer = make_null_pool_engine(database_url)
        try:
            async with killer.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
                await other.commit()
        finally:
            await killer.dispose()
        monkeypatch.setattr(db_module, "_PING_AFTER_IDLE_S", 0.0)
        async with database.session(write=False) as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert pid != victim
    finally:
        await database.dispose()


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _postgres_only(database_url)
    database = Database(database_url, pool_size=1)
    pings: list[object] = []
    dialect = database.engine.dialect
    original = dialect.do_ping

    def counting_ping(conn: Any) -> bool:
        pings.append(conn)
        return original(conn)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    try:
        for _ in range(3):
            async with database.session(write=False) as session:
                await session.execute(text("SELECT 1"))
        assert pings == []
        monkeypatch.setattr(db_module, "_PING_AFTER_IDLE_S", 0.0)
        async with database.session(write=False) as session:
            await session.execute(text("SELECT 1"))
        assert len(pings) == 1
    finally:
        await database.dispose()
