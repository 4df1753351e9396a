"""A course's total token budget: who sees and sets it, and that concurrent spending never
overdraws it, together with the course's daily cap and each wallet."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.audit.models import AuditLog
from studyhall.billing import service
from studyhall.billing.errors import CourseBudgetExhausted, DailyLimitReached, InsufficientTokens
from studyhall.config import Settings
from studyhall.core.db import Database
from tests.billing.conftest import API, Headers, credit, invariants
from tests.courses.helpers import create_course


async def test_admins_set_the_budget_teachers_and_assistants_read_it_students_do_not(
    client: httpx.AsyncClient, db: Database, make_user: Any, auth: Headers
) -> None:
    owner, assistant, stranger = [await make_user("teacher") for _ in range(3)]
    student, admin = await make_user("student"), await make_user("admin")
    course = await create_course(client, auth(owner))
    r = await client.post(
        f"{API}/courses/{course['id']}/assistants",
        json={"email": assistant.email},
        headers=auth(owner),
    )
    assert r.status_code == 201, r.text
    url = f"{API}/courses/{course['id']}/token-budget"

    r = await client.get(url, headers=auth(owner))
    assert r.status_code == 200
    assert r.json() == {
        "course_id": course["id"],
        "token_budget": None,
        "tokens_spent": 0,
        "tokens_held": 0,
        "tokens_remaining": None,
    }
    # The platform grants the budget: the course's own teachers see it but cannot set it.
    assert (
        await client.put(url, json={"token_budget": 10**9}, headers=auth(owner))
    ).status_code == 403
    r = await client.put(url, json={"token_budget": 5000}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["tokens_remaining"] == 5000
    assert (await client.get(url, headers=auth(assistant))).json()["token_budget"] == 5000
    assert (
        await client.put(url, json={"token_budget": 9}, headers=auth(assistant))
    ).status_code == 403
    assert (await client.get(url, headers=auth(student))).status_code == 403
    assert (await client.get(url, headers=auth(stranger))).status_code in (403, 404)
    assert (
        await client.put(url, json={"token_budget": 1}, headers=auth(stranger))
    ).status_code in (
        403,
        404,
    )
    r = await client.put(url, json={"token_budget": -1}, headers=auth(admin))
    assert r.status_code == 422
    r = await client.put(url, json={"token_budget": 7000}, headers=auth(admin))
    assert r.json()["token_budget"] == 7000

    # The budget and the daily cap share one row: removing one keeps the other.
    r = await client.put(
        f"{API}/courses/{course['id']}/token-cap", json={"daily_cap": 300}, headers=auth(admin)
    )
    assert r.status_code == 200
    r = await client.put(url, json={"token_budget": None}, headers=auth(admin))
    assert r.json()["token_budget"] is None
    cap = await client.get(f"{API}/courses/{course['id']}/token-cap", headers=auth(admin))
    assert cap.json()["daily_cap"] == 300
    await client.put(url, json={"token_budget": 50}, headers=auth(admin))
    await client.put(
        f"{API}/courses/{course['id']}/token-cap", json={"daily_cap": None}, headers=auth(admin)
    )
    assert (await client.get(url, headers=auth(owner))).json()["token_budget"] == 50

    async with db.session(write=False) as session:
        changes = list(
            await session.scalars(
                select(AuditLog.details).where(AuditLog.action == "billing.course_budget_set")
            )
        )
    assert [c["token_budget"] for c in changes] == [5000, 7000, None, 50]


async def _reserve(
    db: Database, settings: Settings, user_id: uuid.UUID, course_id: uuid.UUID, amount: int
) -> str:
    try:
        async with db.session() as session:
            await service.reserve(
                session,
                user_id=user_id,
                amount=amount,
                purpose="concurrent",
                course_id=course_id,
                settings=settings.billing,
            )
        return "ok"
    except CourseBudgetExhausted:
        return "budget"
    except DailyLimitReached as exc:
        return exc.code
    except InsufficientTokens:
        return "wallet"


async def test_concurrent_reservations_never_overdraw_the_budget_cap_or_wallets(
    db: Database, settings: Settings
) -> None:
    course_id = uuid.uuid4()
    users = [uuid.uuid4() for _ in range(5)]
    for user in users:
        await credit(db, settings.billing, user, 300)  # three holds of 100 each
    async with db.session() as session:
        await service.set_course_budget(session, course_id=course_id, token_budget=1000)
    # 50 answers of 100 from five students at once: wallets allow 15, the budget 10.
    results = await asyncio.gather(
        *(_reserve(db, settings, users[i % 5], course_id, 100) for i in range(50))
    )
    assert results.count("ok") == 10
    assert set(results) <= {"ok", "budget", "wallet"} and "budget" in results
    async with db.session(write=False) as session:
        view = await service.get_course_budget(session, course_id=course_id)
    assert (view.tokens_held, view.tokens_remaining) == (1000, 0)
    for user in users:
        assert await invariants(db, settings.billing, user) == []


async def test_spent_tokens_count_and_the_daily_cap_is_checked_under_the_same_lock(
    db: Database, settings: Settings
) -> None:
    course_id = uuid.uuid4()
    users = [uuid.uuid4() for _ in range(4)]
    for user in users:
        await credit(db, settings.billing, user, 10_000)
    async with db.session() as session:
        await service.set_course_budget(session, course_id=course_id, token_budget=1000)
        reservation = await service.reserve(
            session, user_id=users[0], amount=400, purpose="answer", course_id=course_id
        )
        await service.finalize(session, reservation_id=reservation.id, actual=250)
        await service.set_course_cap(session, course_id=course_id, daily_cap=650)
    # 250 spent: the budget leaves 750, the daily cap 400 → four holds of 100, whoever wins.
    results = await asyncio.gather(
        *(_reserve(db, settings, users[i % 4], course_id, 100) for i in range(24))
    )
    assert results.count("ok") == 4
    assert set(results) == {"ok", "course_cap_reached"}
    async with db.session() as session:
        await service.set_course_cap(session, course_id=course_id, daily_cap=None)
    results = await asyncio.gather(
        *(_reserve(db, settings, users[i % 4], course_id, 100) for i in range(24))
    )
    assert results.count("ok") == 3 and set(results) == {"ok", "budget"}
    async with db.session(write=False) as session:
        view = await service.get_course_budget(session, course_id=course_id)
    assert (view.tokens_spent, view.tokens_held, view.tokens_remaining) == (250, 700, 50)


async def test_bulk_topup_course_list_and_csv_with_a_report_once(
    client: httpx.AsyncClient, db: Database, settings: Settings, make_user: Any, auth: Headers
) -> None:
    teacher, admin = await make_user("teacher"), await make_user("admin")
    a, b, c = await make_user("student"), await make_user("student"), await make_user("student")
    course = await create_course(client, auth(teacher))
    for s in (a, b):
        assert (
            await client.post(f"{API}/courses/{course['id']}/enroll", headers=auth(s))
        ).status_code == 201
    body = {
        "amount": 500,
        "reason": "term start",
        "course_id": course["id"],
        "user_ids": [str(c.id), str(a.id)],
        "emails": [c.email.upper(), "nobody@example.org", "not-an-email"],
        "csv": f"email,amount\n{b.email};1\nmissing@example.org,7\n{c.email},x\n",
    }
    h = {**auth(admin), "Idempotency-Key": "bulk-1"}
    r = await client.post(f"{API}/admin/bulk-topups", json=body, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    statuses = [(row["row"], row["status"]) for row in out["rows"]]
    assert statuses == [
        (1, "credited"),  # a (course)
        (2, "credited"),  # b (course)
        (3, "credited"),  # c (user id)
        (4, "duplicate"),  # a again
        (5, "duplicate"),  # c by email
        (6, "not_found"),
        (7, "invalid"),
        (8, "invalid"),  # "b;1" is one cell with commas as the delimiter: not an address
        (9, "not_found"),
        (10, "invalid"),  # amount "x"
    ]
    assert (out["credited"], out["failed"], out["tokens"]) == (3, 5, 1500)
    for user in (a, b, c):
        r = await client.get(f"{API}/admin/wallets/{user.id}", headers=auth(admin))
        assert r.json()["balance"] == 500
        tx = await client.get(
            f"{API}/admin/transactions", params={"user_id": str(user.id)}, headers=auth(admin)
        )
        [entry] = tx.json()["items"]
        assert entry["type"] == "topup" and entry["reason"] == "term start"
        assert await invariants(db, settings.billing, user.id) == []

    # The same key and body replay the report; nothing is credited twice.
    again = await client.post(f"{API}/admin/bulk-topups", json=body, headers=h)
    assert again.json() == out and again.headers.get("idempotent-replayed") == "true"
    r = await client.post(f"{API}/admin/bulk-topups", json={**body, "amount": 600}, headers=h)
    assert r.status_code == 409
    assert (await client.get(f"{API}/admin/wallets/{a.id}", headers=auth(admin))).json()[
        "balance"
    ] == 500
    async with db.session(write=False) as session:
        bulk = list(
            await session.scalars(select(AuditLog).where(AuditLog.action == "billing.bulk_topup"))
        )
        single = list(
            await session.scalars(select(AuditLog).where(AuditLog.action == "billing.topup"))
        )
    assert len(bulk) == 1 and bulk[0].details["credited"] == 3 and len(single) == 3


async def test_bulk_topup_csv_amounts_and_refusals(
    client: httpx.AsyncClient, make_user: Any, auth: Headers
) -> None:
    admin, teacher, student = (
        await make_user("admin"),
        await make_user("teacher"),
        await make_user("student"),
    )
    r = await client.post(
        f"{API}/admin/bulk-topups",
        json={"reason": "prize", "csv": f"{student.email};250\n{teacher.email};\n"},
        headers=auth(admin),
    )
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [(x["status"], x["amount"]) for x in rows] == [("credited", 250), ("invalid", None)]
    r = await client.post(
        f"{API}/admin/bulk-topups", json={"reason": "nobody", "amount": 5}, headers=auth(admin)
    )
    assert r.status_code == 422 and r.json()["code"] == "no_targets"
    r = await client.post(
        f"{API}/admin/bulk-topups",
        json={"reason": "x", "amount": 5, "course_id": str(uuid.uuid4())},
        headers=auth(admin),
    )
    assert r.status_code == 404 and r.json()["code"] == "course_not_found"
    r = await client.post(
        f"{API}/admin/bulk-topups",
        json={"reason": "x", "amount": 5, "user_ids": [str(student.id)]},
        headers=auth(teacher),
    )
    assert r.status_code == 403
