"""A Hypothesis state machine over top-up, reserve, finalize, release, time passing and expiry.

The service runs on its own event loop and engine (Hypothesis drives rules synchronously); a
model predicts every outcome (success, 402, 429, first-resolution-wins) and after every step the
wallet must equal the model and the ledger invariants must hold.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from studyhall.billing import service
from studyhall.billing.errors import DailyLimitReached, ExceedsReservation, InsufficientTokens
from studyhall.billing.schemas import WalletOut
from studyhall.config import BillingSettings
from studyhall.core.clock import clock
from studyhall.core.db import Database

T = TypeVar("T")
LIMIT = 600
CFG = BillingSettings(
    signup_bonus=0, tiers={"free": LIMIT}, default_tier="free", reservation_ttl_s=60
)


@dataclass
class ModelWallet:
    balance: int = 0
    reserved: int = 0
    used: int = 0
    window_start: datetime | None = None


@dataclass
class ModelReservation:
    user: int
    amount: int
    expires_at: datetime
    status: str = "reserved"
    actual: int | None = None


class WalletMachine(RuleBasedStateMachine):
    reservations = Bundle("reservations")

    def __init__(self, runner: asyncio.Runner, db: Database) -> None:
        super().__init__()
        self.runner = runner
        self.db = db
        self.users = [uuid.uuid4(), uuid.uuid4()]
        self.wallets = [ModelWallet(), ModelWallet()]
        self.res: dict[uuid.UUID, ModelReservation] = {}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    @initialize(first=st.integers(0, 2000), second=st.integers(0, 2000))
    def start_late_in_the_day(self, first: int, second: int) -> None:
        # Ten minutes before midnight on a fresh day, so time passing crosses the daily reset.
        clock.freeze(
            datetime.combine(clock.now().date() + timedelta(days=1), time(23, 50), tzinfo=UTC)
        )
        for user, amount in enumerate((first, second)):
            if amount:
                self.topup(user, amount)

    # Model helpers

    def _roll(self, w: ModelWallet) -> None:
        start, _ = service.day_window(clock.now(), CFG)
        if w.window_start != start:
            w.used = 0
            w.window_start = start

    def _expire_overdue(self, user: int) -> None:
        now = clock.now()
        for r in self.res.values():
            if r.user == user and r.status == "reserved" and r.expires_at <= now:
                r.status = "expired"
                self.wallets[user].reserved -= r.amount

    # Rules

    @rule(user=st.integers(0, 1), amount=st.integers(1, 500))
    def topup(self, user: int, amount: int) -> None:
        async def go() -> None:
            async with self.db.session() as s:
                await service.topup(
                    s,
                    user_id=self.users[user],
                    amount=amount,
                    reason="sm",
                    actor_id=None,
                    settings=CFG,
                )

        self.run(go())
        self.wallets[user].balance += amount

    @rule(target=reservations, user=st.integers(0, 1), amount=st.integers(1, 300))
    def reserve(self, user: int, amount: int) -> Any:
        w = self.wallets[user]
        # The service expires the user's overdue holds before checking, in the same transaction:
        # a refused reservation rolls that back too.
        before = (w.reserved, {rid: r.status for rid, r in self.res.items()})
        self._expire_overdue(user)
        self._roll(w)
        if w.used + w.reserved + amount > LIMIT:
            expected = "429"
        elif amount > w.balance - w.reserved:
            expected = "402"
        else:
            expected = "ok"

        async def go() -> uuid.UUID | str:
            try:
                async with self.db.session() as s:
                    r = await service.reserve(
                        s, user_id=self.users[user], amount=amount, purpose="sm", settings=CFG
                    )
                    return r.id
            except DailyLimitReached:
                return "429"
            except InsufficientTokens:
                return "402"

        outcome = self.run(go())
        if expected != "ok":
            assert outcome == expected, (outcome, expected)
            w.reserved = before[0]
            for rid, status in before[1].items():
                self.res[rid].status = status
            return multiple()
        assert isinstance(outcome, uuid.UUID), outcome
        self.res[outcome] = ModelReservation(
            user=user,
            amount=amount,
            expires_at=clock.now() + timedelta(seconds=CFG.reservation_ttl_s),
        )
        w.reserved += amount
        return outcome

    @rule(rid=reservations, actual=st.integers(0, 350))
    def finalize(self, rid: uuid.UUID, actual: int) -> None:
        async def go() -> tuple[str, int | None]:
            async with self.db.session() as s:
                try:
                    r = await service.finalize(s, reservation_id=rid, actual=actual, settings=CFG)
                except ExceedsReservation:
                    return "refused", None
                return r.status, r.actual

        status, charged = self.run(go())
        m = self.res[rid]
        if m.status == "reserved" and actual > m.amount:
            # An over-capture is refused and changes nothing.
            assert status == "refused"
            return
        if m.status == "reserved":
            w = self.wallets[m.user]
            self._roll(w)
            m.status, m.actual = "finalized", min(actual, m.amount)
            w.balance -= m.actual
            w.reserved -= m.amount
            w.used += m.actual
        assert (status, charged) == (m.status, m.actual)

    @rule(rid=reservations)
    def release(self, rid: uuid.UUID) -> None:
        async def go() -> str:
            async with self.db.session() as s:
                return (await service.release(s, reservation_id=rid, settings=CFG)).status

        status = self.run(go())
        m = self.res[rid]
        if m.status == "reserved":
            m.status, m.actual = "released", 0
            self.wallets[m.user].reserved -= m.amount
        assert status == m.status

    @rule(seconds=st.integers(1, 400))
    def time_passes(self, seconds: int) -> None:
        clock.advance(timedelta(seconds=seconds))

    @rule()
    def sweep(self) -> None:
        async def go() -> int:
            async with self.db.session() as s:
                return await service.expire_due(s, settings=CFG)

        self.run(go())
        for user in (0, 1):
            self._expire_overdue(user)

    # After every step

    @invariant()
    def wallets_match_model_and_ledger(self) -> None:
        async def go() -> list[tuple[WalletOut | None, list[str]]]:
            out = []
            async with self.db.session(write=False) as s:
                for user_id in self.users:
                    view = await service.find_wallet(s, user_id=user_id, settings=CFG)
                    out.append(
                        (view, await service.check_invariants(s, user_id=user_id, settings=CFG))
                    )
            return out

        for (view, problems), w in zip(self.run(go()), self.wallets, strict=True):
            assert problems == []
            if view is None:
                assert (w.balance, w.reserved) == (0, 0)
                continue
            start, _ = service.day_window(clock.now(), CFG)
            used = w.used if w.window_start == start else 0
            assert (view.balance, view.reserved, view.used_today) == (w.balance, w.reserved, used)
            assert view.available == view.balance - view.reserved >= 0


def test_wallet_state_machine(app: object, database_url: str) -> None:
    """Runs on its own loop and engine; the app fixture empties the database afterwards."""
    with asyncio.Runner() as runner:
        db = runner.run(_make_db(database_url))
        try:
            run_state_machine_as_test(
                lambda: WalletMachine(runner, db),  # type: ignore[arg-type]  # a factory is accepted
                settings=settings(
                    max_examples=12,
                    stateful_step_count=20,
                    deadline=None,
                    derandomize=True,
                    # Shrinking replays hundreds of database runs; a failure prints its steps anyway.
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            runner.run(db.dispose())
            clock.reset()


async def _make_db(url: str) -> Database:
    return Database(url, pool_size=2)
