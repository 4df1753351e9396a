"""The wallet, admin money operations, limits and course caps through the HTTP API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.audit.models import AuditLog
from studyhall.billing import service
from studyhall.billing.errors import DailyLimitReached
from studyhall.config import BillingSettings, Settings
from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.identity.models import User
from tests.billing.conftest import API, Headers, invariants, topup, wallet


async def _audit(db: Database, action: str) -> list[AuditLog]:
    async with db.session(write=False) as session:
        return list(await session.scalars(select(AuditLog).where(AuditLog.action == action)))


async def test_new_wallet_is_created_on_first_visit(
    client: httpx.AsyncClient, student: User, auth: Headers
) -> None:
    r = await client.get(f"{API}/wallet", headers=auth(student))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == str(student.id)
    assert body["balance"] == 0 and body["reserved"] == 0 and body["available"] == 0
    assert body["tier"] == "free" and body["daily_limit"] == 20_000 and body["used_today"] == 0
    resets_at = datetime.fromisoformat(body["resets_at"].replace("Z", "+00:00"))
    assert body["resets_at"].endswith("Z")
    assert timedelta(0) < resets_at - datetime.now(UTC) <= timedelta(days=1)
    # Visiting again reads the same wallet.
    r = await client.get(f"{API}/wallet", headers=auth(student))
    assert r.json()["balance"] == 0


async def test_signup_bonus_is_the_first_ledger_entry(db: Database) -> None:
    cfg = BillingSettings(signup_bonus=500)
    user_id = uuid.uuid4()
    async with db.session() as session:
        view = await service.get_wallet(session, user_id=user_id, settings=cfg)
    assert view.balance == 500 and view.available == 500
    async with db.session(write=False) as session:
        page = await service.list_transactions(session, user_id=user_id)
    [entry] = page.entries
    assert entry.type == "topup" and entry.amount == 500 and entry.reason == "Signup bonus"
    assert entry.actor_id is None
    # No bonus configured: the wallet starts empty with no entry at all.
    other = uuid.uuid4()
    async with db.session() as session:
        assert (
            await service.get_wallet(
                session, user_id=other, settings=BillingSettings(signup_bonus=0)
            )
        ).balance == 0
    async with db.session(write=False) as session:
        assert (await service.list_transactions(session, user_id=other)).totals.count == 0
    assert await invariants(db, cfg, user_id) == []


async def test_admin_topup_credits_and_is_audited(
    client: httpx.AsyncClient, db: Database, student: User, admin: User, auth: Headers
) -> None:
    r = await client.post(
        f"{API}/admin/wallets/{student.id}/topup",
        json={"amount": 1500, "reason": "course prize", "reference": "ticket-7"},
        headers=auth(admin),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"transaction_id", "new_balance"} and body["new_balance"] == 1500

    r = await client.get(f"{API}/wallet/transactions", headers=auth(student))
    assert r.status_code == 200
    page = r.json()
    [entry] = page["items"]
    assert entry["id"] == body["transaction_id"]
    assert entry["type"] == "topup" and entry["direction"] == "credit" and entry["amount"] == 1500
    assert entry["reason"] == "course prize" and entry["reference"] == "ticket-7"
    assert entry["actor_id"] == str(admin.id) and entry["balance_after"] == 1500
    assert page["totals"] == {"count": 1, "credits": 1500, "debits": 0, "net": 1500}

    [log] = await _audit(db, "billing.topup")
    assert log.actor_id == admin.id and log.target_id == str(student.id)
    assert log.details["amount"] == 1500 and log.ip == "203.0.113.10"


async def test_negative_topup_is_an_audited_adjustment_within_available(
    client: httpx.AsyncClient, db: Database, student: User, admin: User, auth: Headers
) -> None:
    await topup(client, auth(admin), student.id, 1000)
    r = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 600}, headers=auth(admin)
    )
    assert r.status_code == 201
    too_much = await client.post(
        f"{API}/admin/wallets/{student.id}/topup",
        json={"amount": -500, "reason": "correction"},
        headers=auth(admin),
    )
    assert too_much.status_code == 422 and too_much.json()["code"] == "adjustment_exceeds_available"
    ok = await client.post(
        f"{API}/admin/wallets/{student.id}/topup",
        json={"amount": -400, "reason": "correction"},
        headers=auth(admin),
    )
    assert ok.status_code == 201 and ok.json()["new_balance"] == 600
    w = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    assert (w["balance"], w["reserved"], w["available"]) == (600, 600, 0)
    assert len(await _audit(db, "billing.adjustment")) == 1
    zero = await client.post(
        f"{API}/admin/wallets/{student.id}/topup",
        json={"amount": 0, "reason": "x"},
        headers=auth(admin),
    )
    assert zero.status_code == 422


async def test_manual_reserve_finalize_release(
    client: httpx.AsyncClient,
    db: Database,
    settings: object,
    student: User,
    admin: User,
    auth: Headers,
) -> None:
    await topup(client, auth(admin), student.id, 1000)
    h = auth(admin)
    r = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations",
        json={"amount": 300, "purpose": "tutor answer"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["status"] == "reserved" and res["amount"] == 300 and res["actual"] is None
    w = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    assert (w["balance"], w["reserved"], w["available"]) == (1000, 300, 700)

    r = await client.post(
        f"{API}/admin/reservations/{res['id']}/finalize", json={"actual": 120}, headers=h
    )
    assert r.status_code == 200
    assert r.json()["status"] == "finalized" and r.json()["actual"] == 120
    w = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    assert (w["balance"], w["reserved"], w["available"], w["used_today"]) == (880, 0, 880, 120)

    # A second finalize returns the first result and charges nothing more.
    again = await client.post(
        f"{API}/admin/reservations/{res['id']}/finalize", json={"actual": 300}, headers=h
    )
    assert again.status_code == 200 and again.json()["actual"] == 120
    released = await client.post(f"{API}/admin/reservations/{res['id']}/release", headers=h)
    assert released.json()["status"] == "finalized"

    r2 = (
        await client.post(
            f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 50}, headers=h
        )
    ).json()
    rel = await client.post(f"{API}/admin/reservations/{r2['id']}/release", headers=h)
    assert (
        rel.status_code == 200 and rel.json()["status"] == "released" and rel.json()["actual"] == 0
    )
    fin = await client.post(
        f"{API}/admin/reservations/{r2['id']}/finalize", json={"actual": 50}, headers=h
    )
    assert fin.json()["status"] == "released"

    # actual above the hold is refused (an over-capture) and the hold stays open.
    r3 = (
        await client.post(
            f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 80}, headers=h
        )
    ).json()
    over = await client.post(
        f"{API}/admin/reservations/{r3['id']}/finalize", json={"actual": 81}, headers=h
    )
    assert over.status_code == 422 and over.json()["code"] == "exceeds_reservation"
    assert (await client.get(f"{API}/wallet", headers=auth(student))).json()["reserved"] == 80
    full = await client.post(
        f"{API}/admin/reservations/{r3['id']}/finalize", json={"actual": 80}, headers=h
    )
    assert full.json()["status"] == "finalized" and full.json()["actual"] == 80

    w = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    assert (w["balance"], w["reserved"], w["used_today"]) == (800, 0, 200)
    types = [
        e["type"]
        for e in (
            await client.get(f"{API}/wallet/transactions?limit=100", headers=auth(student))
        ).json()["items"]
    ]
    assert sorted(types) == sorted(
        [
            "topup",
            "reservation_hold",
            "usage",
            "release",
            "reservation_hold",
            "release",
            "reservation_hold",
            "usage",
        ]
    )
    mine = (
        await client.get(f"{API}/wallet/reservations?status=finalized", headers=auth(student))
    ).json()
    assert mine["total"] == 2 and {i["status"] for i in mine["items"]} == {"finalized"}
    assert await invariants(db, settings.billing, student.id) == []  # type: ignore[attr-defined]
    assert len(await _audit(db, "billing.reservation_finalized")) == 2


async def test_not_enough_tokens_is_402(
    client: httpx.AsyncClient, student: User, admin: User, auth: Headers
) -> None:
    await topup(client, auth(admin), student.id, 100)
    r = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 101}, headers=auth(admin)
    )
    assert r.status_code == 402
    assert r.json()["code"] == "insufficient_tokens" and "100 available" in r.json()["detail"]


async def test_daily_limit_is_429_with_retry_after_until_reset(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    student: User,
    admin: User,
    auth: Headers,
) -> None:
    h = auth(admin)
    await topup(client, h, student.id, 10_000)
    r = await client.patch(
        f"{API}/admin/wallets/{student.id}", json={"daily_limit": 500}, headers=h
    )
    assert r.status_code == 200 and r.json()["daily_limit"] == 500 and r.json()["tier"] == "free"
    res = (
        await client.post(
            f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 300}, headers=h
        )
    ).json()
    # 300 held + 300 more > 500
    blocked = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 300}, headers=h
    )
    assert blocked.status_code == 429 and blocked.json()["code"] == "daily_limit_reached"
    w = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    resets_at = datetime.fromisoformat(w["resets_at"].replace("Z", "+00:00"))
    retry_after = int(blocked.headers["Retry-After"])
    assert abs(retry_after - (resets_at - datetime.now(UTC)).total_seconds()) < 5
    await client.post(
        f"{API}/admin/reservations/{res['id']}/finalize", json={"actual": 300}, headers=h
    )
    assert (await client.get(f"{API}/wallet", headers=auth(student))).json()["used_today"] == 300
    ok = await client.post(
        f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 200}, headers=h
    )
    assert ok.status_code == 201
    assert (
        await client.post(
            f"{API}/admin/wallets/{student.id}/reservations", json={"amount": 1}, headers=h
        )
    ).status_code == 429
    # The next day the count starts over (checked through the service: access tokens do not
    # survive moving the clock a day).
    clock.advance(timedelta(days=1))
    view = await wallet(db, settings.billing, student.id)
    assert view.used_today == 0 and view.reserved == 200
    async with db.session() as session:
        await service.reserve(
            session, user_id=student.id, amount=300, purpose="t", settings=settings.billing
        )


async def test_tier_change_and_back_to_tier_limit(
    client: httpx.AsyncClient, db: Database, student: User, admin: User, auth: Headers
) -> None:
    h = auth(admin)
    r = await client.patch(f"{API}/admin/wallets/{student.id}", json={"tier": "premium"}, headers=h)
    assert (
        r.status_code == 200
        and r.json()["tier"] == "premium"
        and r.json()["daily_limit"] == 1_000_000
    )
    r = await client.patch(f"{API}/admin/wallets/{student.id}", json={"daily_limit": 5}, headers=h)
    assert r.json()["daily_limit"] == 5 and r.json()["tier"] == "premium"
    r = await client.patch(
        f"{API}/admin/wallets/{student.id}", json={"daily_limit": None}, headers=h
    )
    assert r.json()["daily_limit"] == 1_000_000
    bad = await client.patch(
        f"{API}/admin/wallets/{student.id}", json={"tier": "platinum"}, headers=h
    )
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_tier"
    extra = await client.patch(
        f"{API}/admin/wallets/{student.id}", json={"balance": 10**9}, headers=h
    )
    assert extra.status_code == 422
    logs = await _audit(db, "billing.limits_changed")
    assert len(logs) == 3 and logs[0].details["after"]["tier"] == "premium"
    assert (await client.get(f"{API}/wallet", headers=auth(student))).json()["tier"] == "premium"


async def test_reset_hour_in_configured_time_zone() -> None:
    cfg = BillingSettings(reset_hour=4, timezone="Europe/Paris")
    # 02:30 UTC on 15 January = 03:30 in Paris: before the 04:00 reset.
    start, resets_at = service.day_window(datetime(2026, 1, 15, 2, 30, tzinfo=UTC), cfg)
    assert start == datetime(2026, 1, 14, 3, 0, tzinfo=UTC)
    assert resets_at == datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
    # Summer time: 04:00 in Paris is 02:00 UTC.
    start, resets_at = service.day_window(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), cfg)
    assert (start, resets_at) == (
        datetime(2026, 7, 1, 2, 0, tzinfo=UTC),
        datetime(2026, 7, 2, 2, 0, tzinfo=UTC),
    )
    # The night the clocks go forward (29 March 2026) the day is 23 hours long.
    start, resets_at = service.day_window(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), cfg)
    assert resets_at - start == timedelta(hours=23)


async def test_used_today_resets_at_the_configured_hour(db: Database) -> None:
    cfg = BillingSettings(
        signup_bonus=0, reset_hour=4, timezone="Europe/Paris", tiers={"free": 1000}
    )
    user_id = uuid.uuid4()
    clock.freeze(datetime(2026, 1, 15, 2, 0, tzinfo=UTC))  # 03:00 Paris
    async with db.session() as s:
        await service.topup(
            s, user_id=user_id, amount=5000, reason="t", actor_id=None, settings=cfg
        )
        res = await service.reserve(s, user_id=user_id, amount=900, purpose="t", settings=cfg)
        await service.finalize(s, reservation_id=res.id, actual=900, settings=cfg)
    async with db.session() as s:
        view = await service.get_wallet(s, user_id=user_id, settings=cfg)
        assert view.used_today == 900 and view.resets_at == datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
    clock.freeze(datetime(2026, 1, 15, 2, 59, tzinfo=UTC))
    async with db.session() as s:
        try:
            await service.reserve(s, user_id=user_id, amount=200, purpose="t", settings=cfg)
            raise AssertionError("expected the daily limit")
        except DailyLimitReached as exc:
            assert exc.retry_after == 60
    clock.freeze(datetime(2026, 1, 15, 3, 0, tzinfo=UTC))  # 04:00 Paris: a new day
    async with db.session() as s:
        assert (await service.get_wallet(s, user_id=user_id, settings=cfg)).used_today == 0
        await service.reserve(s, user_id=user_id, amount=200, purpose="t", settings=cfg)
    assert await invariants(db, cfg, user_id) == []


async def test_course_cap_limits_all_students_together(
    client: httpx.AsyncClient, db: Database, make_user: object, admin: User, auth: Headers
) -> None:
    h = auth(admin)
    course_id = uuid.uuid4()
    r = await client.put(
        f"{API}/courses/{course_id}/token-cap", json={"daily_cap": 1000}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["daily_cap"] == 1000 and r.json()["used_today"] == 0
    a = await make_user("student")  # type: ignore[operator]
    b = await make_user("student")  # type: ignore[operator]
    for user in (a, b):
        await topup(client, h, user.id, 5000)
    ra = await client.post(
        f"{API}/admin/wallets/{a.id}/reservations",
        json={"amount": 600, "course_id": str(course_id)},
        headers=h,
    )
    assert ra.status_code == 201
    rb = await client.post(
        f"{API}/admin/wallets/{b.id}/reservations",
        json={"amount": 600, "course_id": str(course_id)},
        headers=h,
    )
    assert rb.status_code == 429 and rb.json()["code"] == "course_cap_reached"
    assert "Retry-After" in rb.headers
    # Outside the course, b is not capped.
    assert (
        await client.post(
            f"{API}/admin/wallets/{b.id}/reservations", json={"amount": 600}, headers=h
        )
    ).status_code == 201
    # a uses only 100: the rest of the cap frees up.
    await client.post(
        f"{API}/admin/reservations/{ra.json()['id']}/finalize", json={"actual": 100}, headers=h
    )
    rb = await client.post(
        f"{API}/admin/wallets/{b.id}/reservations",
        json={"amount": 600, "course_id": str(course_id)},
        headers=h,
    )
    assert rb.status_code == 201
    cap = (await client.get(f"{API}/courses/{course_id}/token-cap", headers=h)).json()
    assert (cap["used_today"], cap["reserved"]) == (100, 600)
    # Removing the cap lifts the limit.
    r = await client.put(
        f"{API}/courses/{course_id}/token-cap", json={"daily_cap": None}, headers=h
    )
    assert r.json()["daily_cap"] is None
    assert (
        await client.post(
            f"{API}/admin/wallets/{a.id}/reservations",
            json={"amount": 900, "course_id": str(course_id)},
            headers=h,
        )
    ).status_code == 201
    assert len(await _audit(db, "billing.course_cap_set")) == 2


async def test_expenses_and_transaction_report(
    client: httpx.AsyncClient, db: Database, make_user: object, admin: User, auth: Headers
) -> None:
    h = auth(admin)
    r = await client.post(
        f"{API}/admin/expenses",
        json={
            "category": "llm_api",
            "amount": 1234,
            "currency": "USD",
            "description": "November tokens",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["currency"] == "usd" and r.json()["recorded_by"] == str(admin.id)
    assert (await client.get(f"{API}/admin/expenses", headers=h)).json()["total"] == 1
    assert len(await _audit(db, "billing.expense")) == 1

    a = await make_user("student")  # type: ignore[operator]
    b = await make_user("student")  # type: ignore[operator]
    await topup(client, h, a.id, 1000)
    await topup(client, h, b.id, 500)
    res = (
        await client.post(
            f"{API}/admin/wallets/{a.id}/reservations", json={"amount": 400}, headers=h
        )
    ).json()
    await client.post(
        f"{API}/admin/reservations/{res['id']}/finalize", json={"actual": 250}, headers=h
    )

    everything = (await client.get(f"{API}/admin/transactions?limit=2", headers=h)).json()
    assert everything["total"] == 5 and len(everything["items"]) == 2
    assert everything["totals"] == {"count": 5, "credits": 1500, "debits": 250, "net": 1250}
    debits = (await client.get(f"{API}/admin/transactions?direction=debit", headers=h)).json()
    assert [i["type"] for i in debits["items"]] == ["usage"] and debits["totals"]["debits"] == 250
    credits_a = (
        await client.get(f"{API}/admin/transactions?direction=credit&user_id={a.id}", headers=h)
    ).json()
    assert credits_a["totals"] == {"count": 1, "credits": 1000, "debits": 0, "net": 1000}
    holds = (await client.get(f"{API}/admin/transactions?type=reservation_hold", headers=h)).json()
    assert holds["total"] == 1 and holds["items"][0]["direction"] == "hold"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert (
        await client.get(f"{API}/admin/transactions", params={"since": future}, headers=h)
    ).json()["total"] == 0
    assert (
        await client.get(f"{API}/admin/transactions", params={"until": future}, headers=h)
    ).json()["total"] == 5
    assert (
        await client.get(f"{API}/admin/transactions?direction=sideways", headers=h)
    ).status_code == 422

    async with db.session(write=False) as s:
        stats = await service.usage_stats(s, since=datetime.now(UTC) - timedelta(days=1))
        money = await service.revenue(s)
    assert stats.tokens_used == 250 and stats.active_users == 1 and stats.tokens_topped_up == 1500
    [usd] = money.currencies
    assert (usd.currency, usd.gross, usd.expenses, usd.margin) == ("usd", 0, 1234, -1234)


async def test_first_visit_shows_the_signup_bonus(
    app: Any, client: httpx.AsyncClient, settings: Settings, make_user: Any, auth: Headers
) -> None:
    app.state.settings = settings.model_copy(
        update={"billing": settings.billing.model_copy(update={"signup_bonus": 250})}
    )
    first = await make_user("student")
    r = await client.get(f"{API}/wallet/transactions", headers=auth(first))
    assert r.status_code == 200
    [entry] = r.json()["items"]
    assert (entry["type"], entry["amount"], entry["reason"]) == ("topup", 250, "Signup bonus")
    assert (await client.get(f"{API}/wallet", headers=auth(first))).json()["balance"] == 250
    second = await make_user("teacher")
    assert (await client.get(f"{API}/wallet", headers=auth(second))).json()["available"] == 250
    assert (await client.get(f"{API}/wallet/transactions", headers=auth(second))).json()[
        "total"
    ] == 1
