"""BacMR dialect (document 001): curriculum browsing, documents and references."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from studyhall.identity.models import User
from studyhall.jobs.worker import Worker
from tests.knowledge._fixtures import upload, worker

__all__ = ["worker"]

BASE = "/compat/bacmr"


def _failure(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and r.json()["detail"]


async def test_curriculum_browsing_and_document_admin(
    client: httpx.AsyncClient, admin: User, teacher: User, auth: Any, worker: Worker
) -> None:
    subject = f"physique-{uuid.uuid4().hex[:6]}"
    grade = f"7AS-{uuid.uuid4().hex[:4]}"
    body = await upload(
        client,
        auth(admin),
        None,
        b"# Optique\n\nLa lumiere se propage en ligne droite dans un milieu homogene.",
        "optique.md",
        fields={"title": "Physique 7AS", "level": grade, "subject": subject, "language": "fr"},
    )
    document_id = body["document"]["id"]
    await worker.run_until_idle()
    r = await client.get(f"{BASE}/curriculum/subjects")
    assert r.status_code == 200, r.text
    assert subject in r.json()["subjects"] and r.json()["total"] == len(r.json()["subjects"])
    r = await client.get(f"{BASE}/curriculum/textbooks", params={"grade": grade})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 1
    (level,) = r.json()["levels"]
    assert level["grade"] == grade and level["textbooks"][0]["id"] == document_id
    assert level["textbooks"][0]["subject"] == subject
    r = await client.get(f"{BASE}/curriculum/textbooks/{document_id}")
    assert r.status_code == 200 and r.json()["title"] == "Physique 7AS"
    assert "sections" in r.json()
    _failure(await client.get(f"{BASE}/curriculum/textbooks/{uuid.uuid4()}"), 404)
    # Library documents are administrators' to change (a teacher is refused).
    _failure(
        await client.patch(
            f"{BASE}/admin/documents/{document_id}", json={"title": "x"}, headers=auth(teacher)
        ),
        403,
    )
    r = await client.patch(
        f"{BASE}/admin/documents/{document_id}",
        json={"title": "Physique 7AS (2024)", "major": "sciences", "weight": 2},
        headers=auth(admin),
    )
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and r.json()["data"]["title"] == "Physique 7AS (2024)"
    r = await client.delete(f"{BASE}/admin/documents/{document_id}", headers=auth(admin))
    assert r.status_code == 200 and r.json()["data"] == {"document_id": document_id}
    _failure(await client.get(f"{BASE}/curriculum/textbooks/{document_id}"), 404)
    _failure(await client.delete(f"{BASE}/admin/documents/{document_id}", headers=auth(admin)), 404)


async def test_references_and_ingest(
    client: httpx.AsyncClient, admin: User, teacher: User, auth: Any
) -> None:
    r = await client.get(
        f"{BASE}/admin/references",
        params={"status": "discovered", "limit": 50, "offset": 0},
        headers=auth(admin),
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"references", "total", "limit", "offset"}
    assert all(ref["status"] == "discovered" for ref in r.json()["references"])
    _failure(
        await client.post(
            f"{BASE}/admin/ingest/{uuid.uuid4()}", params={"force": "false"}, headers=auth(admin)
        ),
        404,
    )
    _failure(await client.get(f"{BASE}/admin/references", headers=auth(teacher)), 403)
    _failure(await client.post(f"{BASE}/admin/ingest/{uuid.uuid4()}"), 401)
