"""BacMR dialect (document 001): the administrators' wallet, user, stats and job routes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from studyhall.core.db import Database
from studyhall.identity.models import Role, User
from studyhall.jobs.service import enqueue
from studyhall.knowledge.service import INGEST
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.conftest import MakeUser

BASE = "/compat/bacmr"


def _failure(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and r.json()["detail"]


async def _admin_key(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    r = await client.post(
        "/api/v1/admin/api-keys",
        json={"name": "BacMR back office", "scopes": ["admin", "read"], "acts_as_role": "admin"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return {"X-Admin-Key": r.json()["key"]}


async def test_wallet_topup_reserve_finalize_and_ledger(
    client: httpx.AsyncClient, admin: User, student: User, auth: Any
) -> None:
    key = await _admin_key(client, auth(admin))
    r = await client.post(
        f"{BASE}/wallet/topup",
        json={"user_id": str(student.id), "amount": 1500, "reason": "Bourse"},
        headers=key,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["new_balance"] >= 1500 and uuid.UUID(body["transaction_id"])
    assert body["user_id"] == str(student.id) and body["amount"] == 1500
    r = await client.post(
        f"{BASE}/wallet/internal/reserve",
        json={"user_id": str(student.id), "amount": 300, "purpose": "chat"},
        headers=auth(admin),
    )
    assert r.status_code == 200, r.text
    held = r.json()["data"]
    assert r.json()["success"] is True and held["status"] == "reserved" and held["amount"] == 300
    r = await client.get(f"{BASE}/wallet/reservations", headers=auth(student))
    assert held["id"] in [x["id"] for x in r.json()["reservations"]]
    r = await client.post(
        f"{BASE}/wallet/internal/finalize",
        json={"reservation_id": held["id"], "actual": 120},
        headers=key,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "finalized" and r.json()["data"]["actual"] == 120
    _failure(
        await client.post(
            f"{BASE}/wallet/internal/finalize",
            json={"reservation_id": str(uuid.uuid4()), "actual": 1},
            headers=key,
        ),
        404,
    )
    r = await client.post(
        f"{BASE}/wallet/transactions/expense",
        json={"category": "llm_api", "amount": 2599, "currency": "usd", "description": "API"},
        headers=key,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["amount"] == 2599 and r.json()["data"]["category"] == "llm_api"
    r = await client.get(
        f"{BASE}/wallet/transactions",
        params={"direction": "credit", "type": "topup", "user_id": str(student.id), "limit": 50},
        headers=key,
    )
    assert r.status_code == 200, r.text
    ledger = r.json()
    # The newest first: this top-up (a new wallet's starting grant may stand behind it).
    assert ledger["transactions"][0]["id"] == body["transaction_id"]
    assert {t["type"] for t in ledger["transactions"]} == {"topup"}
    assert ledger["total"] == len(ledger["transactions"]) and ledger["credits"] >= 1500
    # Zero is no top-up; the canonical checks answer in the document's error shape.
    r = await client.post(
        f"{BASE}/wallet/topup", json={"user_id": str(student.id), "amount": 0}, headers=key
    )
    assert r.status_code == 422 and r.json()["success"] is False


async def test_wallet_admin_routes_refuse_everyone_else(
    client: httpx.AsyncClient, student: User, teacher: User, auth: Any
) -> None:
    body = {"user_id": str(student.id), "amount": 1000000}
    for headers in (auth(student), auth(teacher)):
        _failure(await client.post(f"{BASE}/wallet/topup", json=body, headers=headers), 403)
        _failure(await client.get(f"{BASE}/wallet/transactions", headers=headers), 403)
    _failure(await client.post(f"{BASE}/wallet/topup", json=body), 401)
    _failure(
        await client.post(f"{BASE}/wallet/topup", json=body, headers={"X-Admin-Key": "sk-wrong"}),
        401,
    )


async def test_admin_users(
    client: httpx.AsyncClient, admin: User, make_user: MakeUser, auth: Any
) -> None:
    key = await _admin_key(client, auth(admin))
    r = await client.get(f"{BASE}/admin/test-role", headers=key)
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["role"] == "admin"
    email = fresh_email("prof")
    r = await client.post(
        f"{BASE}/admin/users",
        json={
            "email": email,
            "password": STRONG_PASSWORD,
            "full_name": "Mohamed Lemine",
            "role": "teacher",
        },
        headers=key,
    )
    assert r.status_code == 200, r.text
    created = r.json()["data"]
    assert created["email"] == email and created["role"] == "teacher"
    user_id = created["id"]
    r = await client.post(f"{BASE}/auth/signin", json={"email": email, "password": STRONG_PASSWORD})
    assert r.status_code == 200 and r.json()["data"]["user"]["role"] == "teacher"
    r = await client.get(f"{BASE}/admin/users", params={"limit": 100, "offset": 0}, headers=key)
    assert r.status_code == 200 and r.json()["limit"] == 100
    assert isinstance(r.json()["total"], int)
    r = await client.patch(
        f"{BASE}/admin/users/{user_id}/role", json={"role": "admin"}, headers=key
    )
    assert r.status_code == 200 and r.json()["data"]["role"] == "admin"
    r = await client.patch(
        f"{BASE}/admin/users/{user_id}/hint-level", params={"hint_level": 5}, headers=auth(admin)
    )
    assert r.status_code == 200 and r.json()["data"]["hint_level"] == 5
    r = await client.patch(
        f"{BASE}/admin/users/{user_id}/hint-level", params={"hint_level": 9}, headers=key
    )
    assert r.status_code == 422 and r.json()["success"] is False
    new_password = "Tamarind-Glacier-Orbit-77"
    r = await client.post(
        f"{BASE}/admin/users/{user_id}/reset-password",
        json={"new_password": new_password},
        headers=key,
    )
    assert r.status_code == 200 and r.json() == {"success": True, "data": {"user_id": user_id}}
    r = await client.post(f"{BASE}/auth/signin", json={"email": email, "password": new_password})
    assert r.status_code == 200
    r = await client.delete(f"{BASE}/admin/users/{user_id}", headers=key)
    assert r.status_code == 200 and r.json()["success"] is True
    _failure(await client.delete(f"{BASE}/admin/users/{user_id}", headers=key), 404)
    # Nobody else: a student cannot make itself an admin through this dialect.
    student = await make_user(Role.student)
    _failure(
        await client.patch(
            f"{BASE}/admin/users/{student.id}/role", json={"role": "admin"}, headers=auth(student)
        ),
        403,
    )
    _failure(await client.get(f"{BASE}/admin/test-role", headers=auth(student)), 403)
    _failure(await client.get(f"{BASE}/admin/users"), 401)


async def test_admin_stats_and_ingestion_jobs(
    client: httpx.AsyncClient, db: Database, admin: User, student: User, auth: Any
) -> None:
    key = await _admin_key(client, auth(admin))
    r = await client.get(f"{BASE}/admin/stats", headers=key)
    assert r.status_code == 200, r.text
    assert {"documents", "chunks", "users_by_role", "jobs_by_status"} <= set(r.json())
    async with db.session() as session:
        job = await enqueue(session, kind=INGEST, payload={"document_id": str(uuid.uuid4())})
        job_id = str(job.id)
        mail = await enqueue(session, kind="identity.send_email", payload={"template": "x"})
        mail_id = str(mail.id)
    # Every kind is listed (the platform's queue), `kind` narrows it to one.
    r = await client.get(f"{BASE}/admin/jobs", params={"status": "queued"}, headers=key)
    assert r.status_code == 200, r.text
    assert {job_id, mail_id} <= {j["id"] for j in r.json()["jobs"]}
    r = await client.get(
        f"{BASE}/admin/jobs", params={"status": "queued", "kind": INGEST}, headers=key
    )
    assert job_id in [j["id"] for j in r.json()["jobs"]]
    assert all(j["kind"] == INGEST for j in r.json()["jobs"])
    r = await client.get(f"{BASE}/admin/jobs/{job_id}", headers=key)
    assert r.status_code == 200 and r.json()["status"] == "queued"
    # Only a failed job goes back in the queue.
    _failure(await client.post(f"{BASE}/admin/jobs/{job_id}/requeue", headers=key), 409)
    _failure(await client.get(f"{BASE}/admin/jobs/{uuid.uuid4()}", headers=key), 404)
    _failure(await client.get(f"{BASE}/admin/jobs", headers=auth(student)), 403)
    _failure(await client.get(f"{BASE}/admin/stats", headers=auth(student)), 403)
