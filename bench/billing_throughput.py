"""Reserve+finalize pairs per second, 1 / 8 / 64 concurrent clients, one user vs many users.

Each client loops: reserve(10) in one unit of work, then finalize(actual=7) in another, as the
tutor does around a model call. "one user" puts every client on the same wallet (every pair
serializes on one row lock: the worst contention); "many users" gives each client its own wallet.
At the end the invariants are checked on every wallet (balance = Σ ledger, reserved = Σ open
holds = 0, nothing negative) and the charged total must equal 7 × the pairs counted.

    .venv/bin/python bench/billing_throughput.py [--seconds 3] [--clients 1,8,64] [--sqlite]

A fresh PostgreSQL database (next to STUDYHALL_BENCH_POSTGRES_URL) is created and dropped
afterwards. Ratios are against the 1-client run of the same scenario.

On PostgreSQL the same scenarios also run, in the same run and on the same tables, through a
bare asyncpg pool that sends each step as one hand-written statement without an explicit
transaction (reserve: update the wallet if the tokens are available, insert the hold and its
ledger entry; finalize: lock the wallet through the hold, resolve the hold, update the wallet,
insert the usage and release entries): the hardware's figure for the same work, one round trip
per step. `vs asyncpg` is StudyHall's rate over it; the invariants are checked on its wallets too.

"alone" runs the same pairs through `reservations.reserve_alone` / `finalize_alone`: each step a
unit of work of its own, on PostgreSQL its one statement sent in autocommit (no BEGIN/COMMIT),
as a caller that writes nothing else with the step can. The last lines print issue 12's aim
(many users, 64 clients: ≥ 0.7 × asyncpg) for both ways.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _harness import PG_BASE, database, postgres_available, table
from sqlalchemy import text

from studyhall.billing import reservations, service
from studyhall.config import BillingSettings, async_database_url
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.ids import new_id
from studyhall.migrate import upgrade

RESERVE, ACTUAL = 10, 7
CFG = BillingSettings(
    signup_bonus=0, tiers={"bench": 10**12}, default_tier="bench", reservation_ttl_s=3600
)


@dataclass
class Result:
    scenario: str
    clients: int
    pairs: int
    seconds: float
    failures: int

    @property
    def rate(self) -> float:
        return self.pairs / self.seconds


async def _fund(db: Database, user_ids: list[uuid.UUID]) -> None:
    async with db.session() as session:
        for user_id in user_ids:
            await service.topup(
                session, user_id=user_id, amount=10**11, reason="bench", actor_id=None, settings=CFG
            )


async def _client(db: Database, user_id: uuid.UUID, stop_at: float, counts: list[int]) -> None:
    while time.perf_counter() < stop_at:
        try:
            async with db.session() as session:
                reservation = await service.reserve(
                    session, user_id=user_id, amount=RESERVE, purpose="bench", settings=CFG
                )
            async with db.session() as session:
                await service.finalize(
                    session, reservation_id=reservation.id, actual=ACTUAL, settings=CFG
                )
            counts[0] += 1
        except Exception as exc:  # counted and reported: a benchmark must not hide failures
            counts[1] += 1
            if counts[1] <= 3:
                print(f"  failure: {type(exc).__name__}: {exc}", file=sys.stderr)


async def _alone_client(
    db: Database, user_id: uuid.UUID, stop_at: float, counts: list[int]
) -> None:
    """Each step a unit of work of its own (`reserve_alone`/`finalize_alone`): on PostgreSQL
    one statement without BEGIN/COMMIT, as a caller that writes nothing else with it sends."""
    while time.perf_counter() < stop_at:
        try:
            reservation = await reservations.reserve_alone(
                db, user_id=user_id, amount=RESERVE, purpose="bench", settings=CFG
            )
            await reservations.finalize_alone(
                db, reservation_id=reservation.id, actual=ACTUAL, settings=CFG
            )
            counts[0] += 1
        except Exception as exc:  # counted and reported: a benchmark must not hide failures
            counts[1] += 1
            if counts[1] <= 3:
                print(f"  failure: {type(exc).__name__}: {exc}", file=sys.stderr)


# The baseline's two statements (asyncpg's $n parameters; casts where PostgreSQL cannot infer).
_BARE_RESERVE = """
WITH held AS (
    UPDATE wallets SET reserved = reserved + $2, updated_at = $3
    WHERE user_id = $1 AND balance - reserved >= $2
    RETURNING balance, reserved
), hold AS (
    INSERT INTO reservations
        (id, user_id, course_id, amount, actual, purpose, status, created_at, expires_at)
    SELECT $4::uuid, $1, NULL, $2, NULL, 'bench', 'reserved', $3, $3 + interval '1 hour'
    FROM held
)
INSERT INTO ledger_entries
    (id, user_id, type, direction, amount, balance_delta, reserved_delta, balance_after,
     reserved_after, reservation_id, reason, created_at)
SELECT $5::uuid, $1, 'reservation_hold', 'hold', $2, 0, $2, balance, reserved, $4::uuid,
    'bench', $3
FROM held
RETURNING reservation_id
"""
_BARE_FINALIZE = """
WITH locked AS (
    SELECT user_id FROM wallets
    WHERE user_id = (SELECT user_id FROM reservations WHERE id = $1) FOR UPDATE
), settled AS (
    UPDATE reservations r SET status = 'finalized', actual = $2, resolved_at = $3
    FROM locked
    WHERE r.id = $1 AND r.user_id = locked.user_id AND r.status = 'reserved' AND r.amount >= $2
    RETURNING r.user_id, r.amount
), charged AS (
    UPDATE wallets w SET balance = w.balance - $2, reserved = w.reserved - s.amount,
        used_today = w.used_today + $2, updated_at = $3
    FROM settled s WHERE w.user_id = s.user_id
    RETURNING w.balance, w.reserved, s.user_id, s.amount
)
INSERT INTO ledger_entries
    (id, user_id, type, direction, amount, balance_delta, reserved_delta, balance_after,
     reserved_after, reservation_id, reason, created_at)
SELECT $4::uuid, user_id, 'usage', 'debit', $2::bigint, -$2::bigint, -$2::bigint, balance,
    reserved + amount - $2, $1, 'bench', $3
FROM charged
UNION ALL
SELECT $5::uuid, user_id, 'release', 'hold', amount - $2, 0, $2 - amount, balance, reserved, $1,
    'Unused part of the reservation', $3
FROM charged WHERE amount > $2
RETURNING reservation_id
"""


async def _bare_client(pool: Any, user_id: uuid.UUID, stop_at: float, counts: list[int]) -> None:
    while time.perf_counter() < stop_at:
        try:
            reservation_id = new_id()
            async with pool.acquire() as conn:
                held = await conn.fetchval(
                    _BARE_RESERVE, user_id, RESERVE, utcnow(), reservation_id, new_id()
                )
            if held is None:
                raise RuntimeError("baseline reserve refused")
            async with pool.acquire() as conn:
                done = await conn.fetchval(
                    _BARE_FINALIZE, reservation_id, ACTUAL, utcnow(), new_id(), new_id()
                )
            if done is None:
                raise RuntimeError("baseline finalize found no open hold")
            counts[0] += 1
        except Exception as exc:  # counted and reported, as StudyHall's failures are
            counts[1] += 1
            if counts[1] <= 3:
                print(f"  baseline failure: {type(exc).__name__}: {exc}", file=sys.stderr)


async def _run(
    db: Database,
    scenario: str,
    clients: int,
    seconds: float,
    *,
    bare_pool: Any = None,
    alone: bool = False,
) -> Result:
    users = [uuid.uuid4()] if scenario == "one user" else [uuid.uuid4() for _ in range(clients)]
    await _fund(db, users)
    counts = [0, 0]
    start = time.perf_counter()
    stop_at = start + seconds
    if bare_pool is None:
        client = _alone_client if alone else _client
        clients_ = (client(db, users[i % len(users)], stop_at, counts) for i in range(clients))
    else:
        clients_ = (
            _bare_client(bare_pool, users[i % len(users)], stop_at, counts) for i in range(clients)
        )
    await asyncio.gather(*clients_)
    elapsed = time.perf_counter() - start
    problems: list[str] = []
    charged = 0
    async with db.session(write=False) as session:
        for user_id in users:
            problems += await service.check_invariants(session, user_id=user_id, settings=CFG)
            view = await service.find_wallet(session, user_id=user_id, settings=CFG)
            assert view is not None
            if view.reserved != 0:
                problems.append(f"{user_id}: {view.reserved} tokens still held")
            charged += 10**11 - view.balance
    if charged != ACTUAL * counts[0]:
        problems.append(f"charged {charged} != {ACTUAL} x {counts[0]} pairs")
    if problems:
        raise SystemExit(f"INVARIANTS BROKEN ({scenario}, {clients} clients): {problems[:5]}")
    return Result(scenario, clients, counts[0], elapsed, counts[1])


async def _warm(db: Database, clients: int) -> None:
    """Open `clients` pooled connections before a timed run (the baseline's turn closed them)."""

    async def one() -> None:
        async with db.session(write=False) as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(clients)))


async def _main(
    url: str, seconds: float, client_counts: list[int], *, plain_url: str | None
) -> tuple[list[Result], list[Result], list[Result]]:
    db = Database(url, pool_size=max(client_counts) + 4)
    try:
        # Warm the pool and the code paths.
        await _run(db, "many users", min(8, max(client_counts)), 0.5)
        results: list[Result] = []
        alone: list[Result] = []
        baseline: list[Result] = []
        for scenario in ("one user", "many users"):
            for clients in client_counts:
                # StudyHall, then the baseline, so both see the same machine; only one side's
                # connections are open at a time (PostgreSQL's connection limit is shared).
                await _warm(db, clients)
                results.append(await _run(db, scenario, clients, seconds))
                r = results[-1]
                print(
                    f"  {scenario:10} {clients:3} clients: {r.rate:8.1f} pairs/s", file=sys.stderr
                )
                alone.append(await _run(db, scenario, clients, seconds, alone=True))
                print(f"  {'':10} {'':3} alone: {alone[-1].rate:8.1f} pairs/s", file=sys.stderr)
                if plain_url is None:
                    continue
                import asyncpg

                await db.engine.dispose()
                pool = await asyncpg.create_pool(plain_url, min_size=clients, max_size=clients)
                try:
                    baseline.append(await _run(db, scenario, clients, seconds, bare_pool=pool))
                finally:
                    await pool.close()
                b = baseline[-1]
                print(f"  {'':10} {'':3} asyncpg: {b.rate:8.1f} pairs/s", file=sys.stderr)
        return results, alone, baseline
    finally:
        await db.dispose()


AIM = 0.7


def _report(
    backend: str, seconds: float, results: list[Result], alone: list[Result], bare: list[Result]
) -> None:
    header = ["scenario", "clients", "pairs/s", "vs 1 client", "failures"]
    header += ["alone pairs/s", "alone failures"]
    if bare:
        header += ["asyncpg pairs/s", "asyncpg failures", "vs asyncpg", "alone vs asyncpg"]
    rows = [header]
    verdicts = []
    for scenario in ("one user", "many users"):
        mine = [r for r in results if r.scenario == scenario]
        own = [r for r in alone if r.scenario == scenario]
        theirs = [r for r in bare if r.scenario == scenario]
        first = mine[0].rate
        for i, r in enumerate(mine):
            a = own[i]
            row = [
                r.scenario,
                str(r.clients),
                f"{r.rate:.1f}",
                f"{r.rate / first:.2f}x",
                str(r.failures),
                f"{a.rate:.1f}",
                str(a.failures),
            ]
            if theirs:
                b = theirs[i]
                row += [
                    f"{b.rate:.1f}",
                    str(b.failures),
                    f"{r.rate / b.rate:.2f}",
                    f"{a.rate / b.rate:.2f}",
                ]
                if scenario == "many users" and r.clients == 64:
                    for name, ratio in (
                        ("in a unit of work", r.rate / b.rate),
                        ("alone", a.rate / b.rate),
                    ):
                        met = "met" if ratio >= AIM else "NOT met"
                        verdicts.append(
                            f"aim (many users, 64 clients, ≥ {AIM} × asyncpg), {name}: {ratio:.2f} {met}"
                        )
            rows.append(row)
    print(
        f"\nbilling throughput on {backend}: reserve+finalize pairs per second ({seconds:g} s each)"
    )
    print(table(rows))
    print("invariants: OK on every wallet (balance = Σ ledger, nothing held, charged = 7 × pairs)")
    for verdict in verdicts:
        print(verdict)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", default="1,8,64")
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite, for comparison")
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    kinds = ["postgres"] if postgres_available() else []
    if not kinds:
        print(
            f"PostgreSQL not reachable at {PG_BASE}; set STUDYHALL_BENCH_POSTGRES_URL",
            file=sys.stderr,
        )
    if args.sqlite:
        kinds.append("sqlite")
    for kind in kinds:
        with database(kind) as plain_url:
            url = async_database_url(plain_url)
            upgrade(url)
            results, alone, bare = asyncio.run(
                _main(
                    url,
                    args.seconds,
                    client_counts,
                    plain_url=plain_url if kind == "postgres" else None,
                )
            )
        backend = "PostgreSQL" if kind == "postgres" else "SQLite"
        _report(backend, args.seconds, results, alone, bare)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
