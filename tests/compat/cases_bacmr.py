"""Document 001's example requests (BacMR), one case per endpoint.

001 gives few bodies: where it gives none, the request is the one its purpose line describes
(`Top up a student's wallet` -> the user and an amount) and the answer is checked against the
response schema the dialect declares.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.compat.example_checks import Trial, case
from tests.conftest import TEST_PASSWORD
from tests.knowledge.pdfgen import text_pdf
from tests.peers.http_site import HTTPSite, serve_site

B = "/compat/bacmr"
PDF = text_pdf(["Algebre. Une equation du premier degre a une inconnue se resout en isolant x."])


def _worker(t: Trial) -> Worker:
    state = t.app.state
    return Worker(state.db, state.settings, state.storage, name="test")


async def _admin_key(t: Trial) -> dict[str, str]:
    """The service key BacMR's back office sends (`X-Admin-Key`)."""
    _, admin = await t.user(Role.admin)
    r = await t.client.post(
        "/api/v1/admin/api-keys",
        json={"name": "BacMR back office", "scopes": ["admin", "read"], "acts_as_role": "admin"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return {"X-Admin-Key": r.json()["key"]}


def _portal(site: HTTPSite) -> None:
    site.page(
        "/index.html", '<html><body><a href="/maths/7as-algebre.pdf">Algebre 7AS</a></body></html>'
    )
    site.pdf("/maths/7as-algebre.pdf", PDF)


@contextmanager
def _served_portal(t: Trial) -> Iterator[HTTPSite]:
    t.app.state.settings.knowledge.crawl_allow_private = True
    with serve_site(_portal) as site:
        yield site


async def _source(t: Trial, site: HTTPSite, key: dict[str, str], *, synced: bool = False) -> str:
    name = f"koutoubi-{uuid.uuid4().hex[:6]}"
    r = await t.client.post(
        "/api/v1/admin/sources",
        json={"name": name, "url": site.url("/index.html"), "language": "fr"},
        headers=key,
    )
    assert r.status_code == 201, r.text
    if synced:
        assert (await t.client.post(f"{B}/scraping/{name}/sync", headers=key)).status_code == 200
        await _worker(t).run_until_idle()
    return name


async def _reference(t: Trial, site: HTTPSite, key: dict[str, str]) -> str:
    name = await _source(t, site, key, synced=True)
    refs = (await t.client.get(f"{B}/scraping/{name}/references")).json()["references"]
    return str(refs[0]["id"])


async def _textbook(t: Trial, key: dict[str, str]) -> str:
    grade = f"7AS-{uuid.uuid4().hex[:6]}"
    r = await t.client.post(
        f"{B}/admin/upload-curriculum",
        files={
            "file": (
                "optique.md",
                f"# Optique {grade}\n\nLa lumiere se propage en ligne droite.".encode(),
            )
        },
        data={
            "grade": grade,
            "subject": "Physique",
            "language": "fr",
            "namespace": "bacmr",
            "pdf_source": "koutoubi",
        },
        headers=key,
    )
    assert r.status_code == 200, r.text
    await _worker(t).run_until_idle()
    return str(r.json()["document_id"])


def _with_portal(fn: Callable[[Trial, HTTPSite], Any]) -> Callable[[Trial], Any]:
    async def run(t: Trial) -> httpx.Response:
        with _served_portal(t) as site:
            return await fn(t, site)

    return run


# General and authentication


@case(f"GET {B}/health")
async def _health(t: Trial) -> httpx.Response:
    return await t.send()


@case(f"POST {B}/auth/signup")
async def _signup(t: Trial) -> httpx.Response:
    return await t.send(
        json={
            "email": fresh_email("eleve"),
            "password": STRONG_PASSWORD,
            "full_name": "Aminetou Sidi",
        }
    )


@case(f"POST {B}/auth/signin")
async def _signin(t: Trial) -> httpx.Response:
    user, _ = await t.user()
    return await t.send(json={"email": user.email, "password": TEST_PASSWORD})


@case(f"POST {B}/auth/logout")
async def _logout(t: Trial) -> httpx.Response:
    return await t.send()


@case(f"POST {B}/auth/reset-password")
async def _reset(t: Trial) -> httpx.Response:
    user, _ = await t.user()
    return await t.send(json={"email": user.email})


@case(f"GET {B}/me")
async def _me(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(headers=headers)


@case(f"PATCH {B}/me")
async def _me_update(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(json={"full_name": "Nouveau Nom"}, headers=headers)


@case(f"POST {B}/chat")
async def _chat(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(json={"message": "Qu'est-ce qu'une fraction ?"}, headers=headers)


# Wallet


@case(f"GET {B}/wallet/balance")
async def _balance(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(headers=headers)


@case(f"GET {B}/wallet/reservations")
async def _reservations(t: Trial) -> httpx.Response:
    student, headers = await t.user()
    key = await _admin_key(t)
    r = await t.client.post(
        f"{B}/wallet/internal/reserve",
        json={"user_id": str(student.id), "amount": 5, "purpose": "chat"},
        headers=key,
    )
    assert r.status_code == 200, r.text
    return await t.send(headers=headers, params={"status": "reserved"})


@case(f"POST {B}/wallet/topup")
async def _topup(t: Trial) -> httpx.Response:
    student, _ = await t.user()
    key = await _admin_key(t)
    return await t.send(
        json={"user_id": str(student.id), "amount": 1500, "reason": "Bourse"}, headers=key
    )


@case(f"POST {B}/wallet/transactions/expense")
async def _expense(t: Trial) -> httpx.Response:
    key = await _admin_key(t)
    return await t.send(
        json={"category": "llm_api", "amount": 2599, "currency": "usd", "description": "API costs"},
        headers=key,
    )


@case(f"GET {B}/wallet/transactions")
async def _transactions(t: Trial) -> httpx.Response:
    student, _ = await t.user()
    key = await _admin_key(t)
    r = await t.client.post(
        f"{B}/wallet/topup", json={"user_id": str(student.id), "amount": 1500}, headers=key
    )
    assert r.status_code == 200, r.text
    params = {
        "direction": "credit",
        "type": "topup",
        "user_id": str(student.id),
        "limit": 50,
        "offset": 0,
    }
    return await t.send(headers=key, params=params)


@case(f"POST {B}/wallet/internal/reserve")
async def _reserve(t: Trial) -> httpx.Response:
    student, _ = await t.user()
    key = await _admin_key(t)
    return await t.send(
        json={"user_id": str(student.id), "amount": 300, "purpose": "chat"}, headers=key
    )


@case(f"POST {B}/wallet/internal/finalize")
async def _finalize(t: Trial) -> httpx.Response:
    student, _ = await t.user()
    key = await _admin_key(t)
    r = await t.client.post(
        f"{B}/wallet/internal/reserve",
        json={"user_id": str(student.id), "amount": 300},
        headers=key,
    )
    assert r.status_code == 200, r.text
    return await t.send(json={"reservation_id": r.json()["data"]["id"], "actual": 120}, headers=key)


# Admin: users


@case(f"GET {B}/admin/test-role")
async def _test_role(t: Trial) -> httpx.Response:
    return await t.send(headers=await _admin_key(t))


@case(f"GET {B}/admin/users")
async def _users(t: Trial) -> httpx.Response:
    await t.user()
    return await t.send(headers=await _admin_key(t), params={"limit": 50, "offset": 0})


@case(f"PATCH {B}/admin/users/{{}}/role")
async def _user_role(t: Trial) -> httpx.Response:
    student, _ = await t.user()
    return await t.send(student.id, json={"role": "teacher"}, headers=await _admin_key(t))


@case(f"PATCH {B}/admin/users/{{}}/hint-level")
async def _hint_level(t: Trial) -> httpx.Response:
    student, _ = await t.user()
    return await t.send(student.id, params={"hint_level": 3}, headers=await _admin_key(t))


@case(f"POST {B}/admin/users")
async def _user_create(t: Trial) -> httpx.Response:
    body = {
        "email": fresh_email("prof"),
        "password": STRONG_PASSWORD,
        "full_name": "Mohamed Lemine",
        "role": "student",
    }
    return await t.send(json=body, headers=await _admin_key(t))


@case(f"DELETE {B}/admin/users/{{}}")
async def _user_delete(t: Trial) -> httpx.Response:
    student, _ = await t.user()
    return await t.send(student.id, headers=await _admin_key(t))


@case(f"POST {B}/admin/users/{{}}/reset-password")
async def _user_password(t: Trial) -> httpx.Response:
    student, _ = await t.user()
    return await t.send(
        student.id, json={"new_password": STRONG_PASSWORD}, headers=await _admin_key(t)
    )


@case(f"GET {B}/admin/stats")
async def _stats(t: Trial) -> httpx.Response:
    return await t.send(headers=await _admin_key(t))


# Admin: references, runs, uploads and jobs


async def _references(t: Trial, site: HTTPSite) -> httpx.Response:
    key = await _admin_key(t)
    await _source(t, site, key, synced=True)
    return await t.send(headers=key, params={"status": "discovered", "limit": 50, "offset": 0})


async def _scrape_runs(t: Trial, site: HTTPSite) -> httpx.Response:
    key = await _admin_key(t)
    await _source(t, site, key, synced=True)
    return await t.send(headers=key)


case(f"GET {B}/admin/references")(_with_portal(_references))
case(f"GET {B}/admin/scrape-runs")(_with_portal(_scrape_runs))


@case(f"POST {B}/admin/upload-curriculum")
async def _upload(t: Trial) -> httpx.Response:
    grade = f"7AS-{uuid.uuid4().hex[:6]}"
    return await t.send(
        json=None,
        files={"file": ("algebre.pdf", PDF, "application/pdf")},
        data={
            "grade": grade,
            "subject": "Mathematiques",
            "language": "fr",
            "namespace": "bacmr",
            "pdf_source": "koutoubi",
        },
        headers=await _admin_key(t),
    )


async def _ingest(t: Trial, site: HTTPSite) -> httpx.Response:
    key = await _admin_key(t)
    return await t.send(await _reference(t, site, key), params={"force": "false"}, headers=key)


async def _dispatch(t: Trial, site: HTTPSite) -> httpx.Response:
    key = await _admin_key(t)
    reference_id = await _reference(t, site, key)
    r = await t.client.post(f"{B}/admin/ingest/{reference_id}", headers=key)
    assert r.status_code == 200, r.text
    return await t.send(headers=key)


case(f"POST {B}/admin/ingest/{{}}")(_with_portal(_ingest))
case(f"POST {B}/admin/jobs/dispatch")(_with_portal(_dispatch))


async def _queued_job(t: Trial, key: dict[str, str]) -> str:
    r = await t.client.post(
        f"{B}/admin/upload-curriculum",
        files={"file": ("optique.md", f"# Optique {uuid.uuid4().hex}\n\nLa lumiere.".encode())},
        data={"grade": "7AS", "subject": "Physique", "language": "fr"},
        headers=key,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["job_id"])


@case(f"GET {B}/admin/jobs")
async def _jobs(t: Trial) -> httpx.Response:
    key = await _admin_key(t)
    await _queued_job(t, key)
    return await t.send(headers=key, params={"status": "queued", "limit": 50, "offset": 0})


@case(f"GET {B}/admin/jobs/{{}}")
async def _job(t: Trial) -> httpx.Response:
    key = await _admin_key(t)
    return await t.send(await _queued_job(t, key), headers=key)


@case(f"POST {B}/admin/jobs/{{}}/requeue")
async def _requeue(t: Trial) -> httpx.Response:
    # Only a failed job goes back in the queue: an upload that cannot be read fails.
    key = await _admin_key(t)
    r = await t.client.post(
        f"{B}/admin/upload-curriculum",
        files={"file": ("broken.pdf", b"%PDF-1.4 not really a pdf", "application/pdf")},
        data={"grade": "7AS", "subject": "Physique", "language": "fr"},
        headers=key,
    )
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    await _worker(t).run_until_idle()
    job = (await t.client.get(f"{B}/admin/jobs/{job_id}", headers=key)).json()
    assert job["status"] == "failed", job
    return await t.send(job_id, headers=key)


@case(f"PATCH {B}/admin/documents/{{}}")
async def _document_update(t: Trial) -> httpx.Response:
    key = await _admin_key(t)
    body = {"title": "Physique 7AS (2024)", "major": "sciences", "weight": 2, "category": "manuel"}
    return await t.send(await _textbook(t, key), json=body, headers=key)


@case(f"DELETE {B}/admin/documents/{{}}")
async def _document_delete(t: Trial) -> httpx.Response:
    key = await _admin_key(t)
    return await t.send(await _textbook(t, key), headers=key)


async def _vector_embedding(t: Trial, site: HTTPSite) -> httpx.Response:
    key = await _admin_key(t)
    return await t.send(
        json={"reference_id": await _reference(t, site, key), "force": False}, headers=key
    )


case(f"POST {B}/admin/vector-embedding")(_with_portal(_vector_embedding))


# Curriculum


@case(f"GET {B}/curriculum/subjects")
async def _subjects(t: Trial) -> httpx.Response:
    await _textbook(t, await _admin_key(t))
    return await t.send()


@case(f"GET {B}/curriculum/textbooks")
async def _textbooks(t: Trial) -> httpx.Response:
    await _textbook(t, await _admin_key(t))
    return await t.send(params={"language": "fr"})


@case(f"GET {B}/curriculum/textbooks/{{}}")
async def _textbook_read(t: Trial) -> httpx.Response:
    return await t.send(await _textbook(t, await _admin_key(t)))


# Scraping


async def _sources(t: Trial, site: HTTPSite) -> httpx.Response:
    await _source(t, site, await _admin_key(t))
    return await t.send()


async def _sync(t: Trial, site: HTTPSite) -> httpx.Response:
    key = await _admin_key(t)
    return await t.send(await _source(t, site, key), headers=key)


async def _runs(t: Trial, site: HTTPSite) -> httpx.Response:
    return await t.send(await _source(t, site, await _admin_key(t), synced=True))


async def _source_references(t: Trial, site: HTTPSite) -> httpx.Response:
    name = await _source(t, site, await _admin_key(t), synced=True)
    return await t.send(name, params={"status": "discovered", "limit": 50, "offset": 0})


case(f"GET {B}/scraping/sources")(_with_portal(_sources))
case(f"POST {B}/scraping/{{}}/sync")(_with_portal(_sync))
case(f"GET {B}/scraping/{{}}/runs")(_with_portal(_runs))
case(f"GET {B}/scraping/{{}}/references")(_with_portal(_source_references))
