"""Reserve+finalize pairs per second, 1 / 8 / 64 concurrent clients, one user vs many users.

Each client loops: reserve(10) in one unit of work, then finalize(actual=7) in another, as the
tutor does around a model call. "one user" puts every client on the same wallet (every pair
serializes on one row lock: the worst contention); "many users" gives each client its own wallet.
At the end the invariants are checked on every wallet (balance = Σ ledger, reserved = Σ open
holds = 0, nothing negative) and the charged total must equal 7 × the pairs counted.

    .venv/bin/python bench/billing_throughput.py [--seconds 3] [--clients 1,8,64] [--sqlite]

A fresh PostgreSQL database (next to STUDYHALL_BENCH_POSTGRES_URL) is created and dropped
afterwards. Ratios are against the 1-client run of the same scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _harness import PG_BASE, database, postgres_available, table

from studyhall.billing import service
from studyhall.config import BillingSettings, async_database_url
from studyhall.core.db import Database
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


async def _run(db: Database, scenario: str, clients: int, seconds: float) -> Result:
    users = [uuid.uuid4()] if scenario == "one user" else [uuid.uuid4() for _ in range(clients)]
    await _fund(db, users)
    counts = [0, 0]
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(
        *(_client(db, users[i % len(users)], stop_at, counts) for i in range(clients))
    )
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


async def _main(url: str, seconds: float, client_counts: list[int]) -> list[Result]:
    db = Database(url, pool_size=max(client_counts) + 4)
    try:
        # Warm the pool and the code paths.
        await _run(db, "many users", min(8, max(client_counts)), 0.5)
        results = []
        for scenario in ("one user", "many users"):
            for clients in client_counts:
                results.append(await _run(db, scenario, clients, seconds))
                r = results[-1]
                print(
                    f"  {scenario:10} {clients:3} clients: {r.rate:8.1f} pairs/s", file=sys.stderr
                )
        return results
    finally:
        await db.dispose()


def _report(backend: str, seconds: float, results: list[Result]) -> None:
    rows = [["scenario", "clients", "pairs", "pairs/s", "vs 1 client", "failures"]]
    for scenario in ("one user", "many users"):
        mine = [r for r in results if r.scenario == scenario]
        baseline = mine[0].rate
        rows += [
            [
                r.scenario,
                str(r.clients),
                str(r.pairs),
                f"{r.rate:.1f}",
                f"{r.rate / baseline:.2f}x",
                str(r.failures),
            ]
            for r in mine
        ]
    print(
        f"\nbilling throughput on {backend}: reserve+finalize pairs per second ({seconds:g} s each)"
    )
    print(table(rows))
    print("invariants: OK on every wallet (balance = Σ ledger, nothing held, charged = 7 × pairs)")


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
            results = asyncio.run(_main(url, args.seconds, client_counts))
        _report("PostgreSQL" if kind == "postgres" else "SQLite", args.seconds, results)


if __name__ == "__main__":
    main()
