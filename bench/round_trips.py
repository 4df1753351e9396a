"""Statements PostgreSQL receives per request on the hot read paths: a count, not a time.

Throughput on a shared 2-core machine moves with whatever else runs; the number of round trips
a request makes does not. (PostgreSQL does not log an empty statement, so the `;` of
SQLAlchemy's pre-ping, sent between its BEGIN and ROLLBACK, is one round trip more than the
count.) This starts the real server on a fresh PostgreSQL database whose
sessions log every statement (`ALTER DATABASE … SET log_statement = 'all'`), sends each request
N times after a warm-up, and counts the server log lines of that database: BEGIN, COMMIT, the
pool's ping (`;`) and the SELECTs alike. Then it does the same for the wallet's reserve+finalize
pair (as the tutor does around a model call: reserve in one unit of work, finalize in another),
run in this process through the billing service on the same database.

    .venv/bin/python bench/round_trips.py [--requests 50] [--log /var/log/postgresql/x.log]

The code measured is the `studyhall` package first on PYTHONPATH (the server inherits it).

Needs the PostgreSQL server's log file to be readable (Debian: /var/log/postgresql/*.log).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import re
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from _harness import BIN, PG_BASE, database, server, table

PASSWORD = "bench-password-123"
_TX = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})
_STATEMENT = re.compile(r"LOG:\s+(statement|execute [^:]*):\s*(.*)")


def _log_file(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    candidates = sorted(
        glob.glob("/var/log/postgresql/*.log"), key=lambda p: Path(p).stat().st_mtime
    )
    if not candidates:
        raise SystemExit("no PostgreSQL log file found: pass --log")
    return Path(candidates[-1])


async def _alter(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_BASE, timeout=5)
    try:
        await conn.execute(sql.format(db=url.rsplit("/", 1)[1]))
    finally:
        await conn.close()


def _statements(log: Path, offset: int, db: str) -> list[str]:
    with log.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", "replace").splitlines()
    return [m.group(2) for line in lines if f"@{db} " in line and (m := _STATEMENT.search(line))]


async def _billing_pairs(url: str, pairs: int, log: Path, *, alone: bool = False) -> int:
    """reserve(10) then finalize(7), `pairs` times, for a user with nothing else held; the
    log's size once the warm-up (top-up, first connection, 3 pairs) is done."""
    from studyhall.billing import reservations, service
    from studyhall.config import BillingSettings, async_database_url
    from studyhall.core.db import Database

    cfg = BillingSettings(signup_bonus=0, tiers={"bench": 10**12}, default_tier="bench")
    db = Database(async_database_url(url), pool_size=1)
    user_id = uuid.uuid4()

    async def pair() -> None:
        if alone:  # each step a unit of work of its own: one statement in autocommit
            held_alone = await reservations.reserve_alone(
                db, user_id=user_id, amount=10, purpose="bench", settings=cfg
            )
            await reservations.finalize_alone(
                db, reservation_id=held_alone.id, actual=7, settings=cfg
            )
            return
        async with db.session() as session:
            held = await service.reserve(
                session, user_id=user_id, amount=10, purpose="bench", settings=cfg
            )
        async with db.session() as session:
            await service.finalize(session, reservation_id=held.id, actual=7, settings=cfg)

    try:
        async with db.session() as session:
            await service.topup(
                session, user_id=user_id, amount=10**9, reason="bench", actor_id=None, settings=cfg
            )
        for _ in range(3):
            await pair()
        await asyncio.sleep(0.3)
        offset = log.stat().st_size
        for _ in range(pairs):
            await pair()
        return offset
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--log")
    args = parser.parse_args()
    log = _log_file(args.log)
    rows = [["request", "statements per request", "of which BEGIN/COMMIT/ROLLBACK"]]
    with database("postgres") as url:
        db = url.rsplit("/", 1)[1]
        asyncio.run(_alter(url, "ALTER DATABASE \"{db}\" SET log_statement = 'all'"))
        with server(url, start_timeout_s=300) as srv:
            env = dict(srv.env)
            subprocess.run(
                [
                    str(BIN / "studyhall"),
                    "create-admin",
                    "--email",
                    "bench@example.org",
                    "--password",
                    PASSWORD,
                ],
                env=env,
                check=True,
                capture_output=True,
            )
            with httpx.Client(base_url=srv.base_url, timeout=30) as http:
                token = http.post(
                    "/api/v1/auth/login", json={"email": "bench@example.org", "password": PASSWORD}
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                for path in ("/api/v1/users/me", "/api/v1/wallet", "/api/v1/courses"):
                    for _ in range(3):  # warm-up: pool filled, wallet created, caches built
                        http.get(path, headers=headers).raise_for_status()
                    time.sleep(0.3)
                    offset = log.stat().st_size
                    for _ in range(args.requests):
                        http.get(path, headers=headers).raise_for_status()
                    time.sleep(1.0)  # the server's log lines reach the file
                    seen = _statements(log, offset, db)
                    tx = sum(1 for st in seen if st.strip().rstrip(";").upper() in _TX)
                    n = args.requests
                    rows.append([f"GET {path}", f"{len(seen) / n:.2f}", f"{tx / n:.2f}"])
        for alone, label in ((False, "(service, 2 units of work)"), (True, "(reserve_alone etc.)")):
            offset = asyncio.run(_billing_pairs(url, args.requests, log, alone=alone))
            time.sleep(1.0)
            seen = _statements(log, offset, db)
            tx = sum(1 for st in seen if st.strip().rstrip(";").upper() in _TX)
            n = args.requests
            rows.append([f"reserve + finalize {label}", f"{len(seen) / n:.2f}", f"{tx / n:.2f}"])
    print(f"PostgreSQL log: {log}; {args.requests} requests each, one uvicorn process")
    print(table(rows))


if __name__ == "__main__":
    main()
