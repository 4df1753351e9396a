"""Paid courses: a seat bought through the real local Stripe peer, enrolled by the signed webhook."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from studyhall.audit.models import AuditLog
from studyhall.billing.models import Payment
from studyhall.core.db import Database
from studyhall.courses.models import Enrollment
from tests.billing.conftest import API, Headers
from tests.courses.helpers import create_course
from tests.peers.stripe_api import PUBLISHABLE_KEY, StripePeer, sign


async def _deliver(client: httpx.AsyncClient, event: dict[str, Any]) -> httpx.Response:
    payload = json.dumps(event).encode()
    return await client.post(
        f"{API}/payments/webhook",
        content=payload,
        headers={"Stripe-Signature": sign(payload), "Content-Type": "application/json"},
    )


async def _checkout(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(f"{API}/courses/{course_id}/checkout", json=body, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def _enrollments(db: Database, course_id: str) -> int:
    async with db.session(write=False) as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Enrollment)
                .where(Enrollment.course_id == uuid.UUID(course_id))
            )
            or 0
        )


async def _enrolled_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    r = await client.get(f"{API}/courses/enrolled", headers=headers)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


async def test_free_course_is_one_call_and_a_priced_one_needs_a_checkout(
    client: httpx.AsyncClient, make_user: Any, auth: Headers
) -> None:
    teacher, student = await make_user("teacher"), await make_user("student")
    free = await create_course(client, auth(teacher))
    paid = await create_course(client, auth(teacher), price=49.9)
    r = await client.post(f"{API}/courses/{free['id']}/enroll", headers=auth(student))
    assert r.status_code == 201
    r = await client.post(f"{API}/courses/{paid['id']}/enroll", headers=auth(student))
    assert r.status_code == 402 and r.json()["code"] == "payment_required"
    assert "/checkout" in r.json()["detail"]
    r = await client.post(f"{API}/courses/{free['id']}/checkout", headers=auth(student))
    assert r.status_code == 422 and r.json()["code"] == "course_is_free"
    # Teachers do not buy seats; a private paid course is closed to checkouts as to enrolling.
    r = await client.post(f"{API}/courses/{paid['id']}/checkout", headers=auth(teacher))
    assert r.status_code == 403
    private = await create_course(client, auth(teacher), price=10, visibility="private")
    r = await client.post(f"{API}/courses/{private['id']}/checkout", headers=auth(student))
    assert r.status_code == 403 and r.json()["code"] == "enrollment_closed"
    invite = await create_course(client, auth(teacher), price=10, visibility="invite")
    r = await client.post(f"{API}/courses/{invite['id']}/checkout", headers=auth(student))
    assert r.status_code == 403 and r.json()["code"] == "join_code_required"
    code = (await client.get(f"{API}/courses/{invite['id']}", headers=auth(teacher))).json()[
        "join_code"
    ]
    await _checkout(client, auth(student), invite["id"], join_code=code)
    draft = await create_course(client, auth(teacher), price=10, is_published=False)
    r = await client.post(f"{API}/courses/{draft['id']}/checkout", headers=auth(student))
    assert r.status_code == 404


async def test_signed_webhook_enrolls_exactly_once_and_a_refund_ends_the_seat(
    client: httpx.AsyncClient,
    db: Database,
    stripe_peer: StripePeer,
    make_user: Any,
    auth: Headers,
) -> None:
    teacher, student = await make_user("teacher"), await make_user("student")
    course = await create_course(client, auth(teacher), price="49.90")
    out = await _checkout(client, auth(student), course["id"])
    assert out["publishable_key"] == PUBLISHABLE_KEY
    assert (out["amount"], out["currency"], out["course_id"]) == (4990, "usd", course["id"])
    intent = stripe_peer.intents[out["payment_id"]]
    assert intent["amount"] == 4990
    assert intent["metadata"] == {"user_id": str(student.id), "course_id": course["id"]}
    # Nothing before the provider says it is paid.
    assert course["id"] not in await _enrolled_ids(client, auth(student))

    event = stripe_peer.succeeded_event(out["payment_id"])
    r = await _deliver(client, event)
    assert r.status_code == 200 and r.json() == {"received": True, "outcome": "enrolled"}
    assert course["id"] in await _enrolled_ids(client, auth(student))
    assert (await _deliver(client, event)).json()["outcome"] == "duplicate"
    again = await _deliver(client, stripe_peer.succeeded_event(out["payment_id"]))
    assert again.json()["outcome"] == "duplicate"
    assert await _enrollments(db, course["id"]) == 1
    r = await client.post(f"{API}/courses/{course['id']}/checkout", headers=auth(student))
    assert r.status_code == 409 and r.json()["code"] == "already_enrolled"

    # A partial refund is a discount: the seat stays. A full refund ends it, once.
    r = await _deliver(client, stripe_peer.refunded_event(out["payment_id"], 990))
    assert r.json()["outcome"] == "refunded"
    assert course["id"] in await _enrolled_ids(client, auth(student))
    full = stripe_peer.refunded_event(out["payment_id"], 4990)
    assert (await _deliver(client, full)).json()["outcome"] == "refunded"
    assert course["id"] not in await _enrolled_ids(client, auth(student))
    assert (await _deliver(client, full)).json()["outcome"] == "duplicate"
    async with db.session(write=False) as session:
        payment = await session.scalar(
            select(Payment).where(Payment.provider_payment_id == out["payment_id"])
        )
        actions = list(
            await session.scalars(
                select(AuditLog.action).where(AuditLog.action.like("billing.course_%"))
            )
        )
    assert payment is not None and payment.status == "refunded"
    assert payment.amount_refunded == 4990 and payment.tokens == 0
    # One purchase; the partial and the full refund each leave a trace.
    assert sorted(actions) == [
        "billing.course_purchase",
        "billing.course_refund",
        "billing.course_refund",
    ]


async def test_concurrent_deliveries_enroll_once(
    app: object,
    db: Database,
    stripe_peer: StripePeer,
    client: httpx.AsyncClient,
    make_user: Any,
    auth: Headers,
) -> None:
    teacher, student = await make_user("teacher"), await make_user("student")
    course = await create_course(client, auth(teacher), price=20)
    out = await _checkout(client, auth(student), course["id"])
    event = stripe_peer.succeeded_event(out["payment_id"])
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    async def deliver() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await _deliver(c, event)

    results = await asyncio.gather(*(deliver() for _ in range(8)))
    assert [r.status_code for r in results] == [200] * 8
    assert sorted(r.json()["outcome"] for r in results) == ["duplicate"] * 7 + ["enrolled"]
    assert await _enrollments(db, course["id"]) == 1


async def test_refund_before_success_gives_no_seat_and_a_second_payment_keeps_it(
    client: httpx.AsyncClient,
    db: Database,
    stripe_peer: StripePeer,
    make_user: Any,
    auth: Headers,
) -> None:
    teacher, student = await make_user("teacher"), await make_user("student")
    course = await create_course(client, auth(teacher), price=5)
    first = await _checkout(client, auth(student), course["id"])
    # Events out of order: the full refund arrives before the success.
    await _deliver(client, stripe_peer.refunded_event(first["payment_id"], 500))
    r = await _deliver(client, stripe_peer.succeeded_event(first["payment_id"]))
    assert r.json()["outcome"] == "refunded"
    assert await _enrollments(db, course["id"]) == 0
    # Two payments for one seat both paid (the first abandoned and canceled at the provider, then
    # paid after all from another device): refunding one leaves the seat the other paid for.
    second = await _checkout(client, auth(student), course["id"])
    assert second["payment_id"] != first["payment_id"]
    stripe_peer.intents[second["payment_id"]]["status"] = "canceled"
    third = await _checkout(client, auth(student), course["id"])
    assert third["payment_id"] != second["payment_id"]
    assert (await _deliver(client, stripe_peer.succeeded_event(second["payment_id"]))).json()[
        "outcome"
    ] == "enrolled"
    assert (await _deliver(client, stripe_peer.succeeded_event(third["payment_id"]))).json()[
        "outcome"
    ] == "duplicate"
    await _deliver(client, stripe_peer.refunded_event(second["payment_id"], 500))
    assert await _enrollments(db, course["id"]) == 1
    await _deliver(client, stripe_peer.refunded_event(third["payment_id"], 500))
    assert await _enrollments(db, course["id"]) == 0


async def test_webhook_for_a_deleted_course_is_acknowledged_and_shown_to_admins(
    client: httpx.AsyncClient,
    db: Database,
    stripe_peer: StripePeer,
    make_user: Any,
    auth: Headers,
) -> None:
    teacher, student = await make_user("teacher"), await make_user("student")
    course = await create_course(client, auth(teacher), price=15)
    out = await _checkout(client, auth(student), course["id"])
    r = await client.delete(f"{API}/courses/{course['id']}", headers=auth(teacher))
    assert r.status_code == 204
    r = await _deliver(client, stripe_peer.succeeded_event(out["payment_id"]))
    assert r.status_code == 200 and r.json()["outcome"] == "refused"
    async with db.session(write=False) as session:
        refused = await session.scalar(
            select(AuditLog).where(AuditLog.action == "billing.webhook_refused")
        )
        payment = await session.scalar(
            select(Payment).where(Payment.provider_payment_id == out["payment_id"])
        )
    assert refused is not None and refused.details["reason"] == "course_not_found"
    assert payment is not None and payment.status == "pending"


async def test_checkout_idempotency_key_makes_one_intent(
    client: httpx.AsyncClient, stripe_peer: StripePeer, make_user: Any, auth: Headers
) -> None:
    teacher, student = await make_user("teacher"), await make_user("student")
    course = await create_course(client, auth(teacher), price=12)
    other = await create_course(client, auth(teacher), price=13)
    h = {**auth(student), "Idempotency-Key": "seat-1"}
    a = await _checkout(client, h, course["id"])
    b = await _checkout(client, h, course["id"])
    assert a == b and len(stripe_peer.intents) == 1
    r = await client.post(f"{API}/courses/{other['id']}/checkout", headers=h)
    assert r.status_code == 409


async def test_a_second_checkout_continues_the_unpaid_payment_instead_of_charging_twice(
    client: httpx.AsyncClient, stripe_peer: StripePeer, make_user: Any, auth: Headers
) -> None:
    teacher, student, other = (
        await make_user("teacher"),
        await make_user("student"),
        await make_user("student"),
    )
    course = await create_course(client, auth(teacher), price=20)
    # A double click or a second tab, each with its own Idempotency-Key (or none).
    first = await _checkout(client, {**auth(student), "Idempotency-Key": "tab-1"}, course["id"])
    again = await _checkout(client, {**auth(student), "Idempotency-Key": "tab-2"}, course["id"])
    third = await _checkout(client, auth(student), course["id"])
    assert first == again == third
    assert len(stripe_peer.intents) == 1
    # Another student's checkout is their own payment.
    theirs = await _checkout(client, auth(other), course["id"])
    assert theirs["payment_id"] != first["payment_id"] and len(stripe_peer.intents) == 2
    # Once the provider cancels the unpaid payment, the next checkout starts a new one.
    stripe_peer.intents[first["payment_id"]]["status"] = "canceled"
    fresh = await _checkout(client, auth(student), course["id"])
    assert fresh["payment_id"] not in (first["payment_id"], theirs["payment_id"])
    # A new price is a new payment: the old unpaid one is for the old price.
    r = await client.patch(
        f"{API}/courses/{course['id']}", json={"price": 25}, headers=auth(teacher)
    )
    assert r.status_code == 200, r.text
    repriced = await _checkout(client, auth(student), course["id"])
    assert repriced["payment_id"] != fresh["payment_id"] and repriced["amount"] == 2500


async def test_admin_stats_revenue_per_course_and_per_month(
    client: httpx.AsyncClient,
    stripe_peer: StripePeer,
    make_user: Any,
    auth: Headers,
) -> None:
    teacher, admin = await make_user("teacher"), await make_user("admin")
    alice, bob = await make_user("student"), await make_user("student")
    course = await create_course(client, auth(teacher), price="30.00")
    cheap = await create_course(client, auth(teacher), price="7.50")
    for student, target in ((alice, course), (bob, course), (alice, cheap)):
        out = await _checkout(client, auth(student), target["id"])
        await _deliver(client, stripe_peer.succeeded_event(out["payment_id"]))
        last = out
    await _deliver(client, stripe_peer.refunded_event(last["payment_id"], 750))
    r = await client.post(
        f"{API}/payments/checkout", json={"package_id": "small"}, headers=auth(bob)
    )
    await _deliver(client, stripe_peer.succeeded_event(r.json()["payment_id"]))

    stats = (await client.get(f"{API}/admin/stats", headers=auth(admin))).json()
    by_course = {c["course_id"]: c for c in stats["revenue_by_course"]}
    assert by_course[course["id"]] == {
        "course_id": course["id"],
        "course_code": course["code"],
        "currency": "usd",
        "gross": 6000,
        "refunded": 0,
        "net": 6000,
        "payments": 2,
    }
    assert (by_course[cheap["id"]]["gross"], by_course[cheap["id"]]["net"]) == (750, 0)
    [month] = stats["revenue_by_month"]
    assert month["month"] == stripe_peer_month()
    assert (month["gross"], month["courses_gross"], month["packages_gross"]) == (7250, 6750, 500)
    assert (month["refunded"], month["net"], month["payments"]) == (750, 6500, 4)
    [usd] = stats["revenue"]
    assert (usd["gross"], usd["net"]) == (7250, 6500)
    r = await client.get(f"{API}/admin/stats", headers=auth(teacher))
    assert r.status_code == 403


def stripe_peer_month() -> str:
    """This UTC month, as the stats name it."""
    from studyhall.core.clock import utcnow

    return utcnow().strftime("%Y-%m")
