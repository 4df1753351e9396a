"""BacMR dialect (document 001): /chat, scraping, curriculum uploads and the ingestion queue."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from studyhall.identity.models import Role, User
from studyhall.jobs.worker import Worker
from tests.conftest import MakeUser
from tests.knowledge._fixtures import worker
from tests.knowledge.pdfgen import text_pdf
from tests.peers.http_site import HTTPSite, serve_site

__all__ = ["worker"]

BASE = "/compat/bacmr"
PDF = text_pdf(["Algebre. Une equation du premier degre a une inconnue se resout en isolant x."])


def _failure(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and r.json()["detail"]


def _portal(site: HTTPSite) -> None:
    site.page(
        "/index.html",
        '<html><body><a href="/maths/7as-algebre.pdf">Algebre 7AS</a>'
        '<a href="/physique/7as-optique.pdf">Optique 7AS</a></body></html>',
    )
    site.pdf("/maths/7as-algebre.pdf", PDF)
    site.pdf("/physique/7as-optique.pdf", PDF)


@pytest.fixture
def portal(app: Any) -> Iterator[HTTPSite]:
    """A local curriculum portal (private addresses allowed for it, as in the crawler tests)."""
    app.state.settings.knowledge.crawl_allow_private = True
    with serve_site(_portal) as site:
        yield site


async def _source(client: httpx.AsyncClient, admin: User, auth: Any, portal: HTTPSite) -> Any:
    """A source registered canonically (BacMR has no route for it) under a fresh name."""
    name = f"koutoubi-{uuid.uuid4().hex[:6]}"
    created = await client.post(
        "/api/v1/admin/sources",
        json={"name": name, "url": portal.url("/index.html"), "language": "fr"},
        headers=auth(admin),
    )
    assert created.status_code == 201, created.text
    return created.json()


async def test_scraping_sources_sync_runs_and_references(
    client: httpx.AsyncClient,
    admin: User,
    teacher: User,
    auth: Any,
    worker: Worker,
    portal: HTTPSite,
) -> None:
    source = await _source(client, admin, auth, portal)
    name = source["name"]
    r = await client.get(f"{BASE}/scraping/sources")
    assert r.status_code == 200 and name in r.json()["sources"]

    _failure(await client.post(f"{BASE}/scraping/{name}/sync"), 401)
    _failure(await client.post(f"{BASE}/scraping/{name}/sync", headers=auth(teacher)), 403)
    _failure(await client.post(f"{BASE}/scraping/nope-{name}/sync", headers=auth(admin)), 404)
    r = await client.post(f"{BASE}/scraping/{name}/sync", headers=auth(admin))
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "queued" and (run["found_count"], run["new_count"]) == (0, 0)
    uuid.UUID(run["run_id"])
    # One scrape of a source at a time.
    _failure(await client.post(f"{BASE}/scraping/{name}/sync", headers=auth(admin)), 409)
    await worker.run_until_idle()

    # Public reads: the figures, not the crawl's skipped links or errors.
    r = await client.get(f"{BASE}/scraping/{name}/runs")
    assert r.status_code == 200, r.text
    assert r.json()["source"] == name and r.json()["total"] == 1
    (done,) = r.json()["runs"]
    assert done["run_id"] == run["run_id"] and done["status"] == "success"
    assert (done["found_count"], done["new_count"]) == (2, 2)
    assert "skipped" not in done and "error" not in done
    # The same run by the source's id.
    by_id = await client.get(f"{BASE}/scraping/{source['id']}/runs")
    assert by_id.json()["runs"] == r.json()["runs"]
    _failure(await client.get(f"{BASE}/scraping/nope-{name}/runs"), 404)

    r = await client.get(
        f"{BASE}/scraping/{name}/references",
        params={"status": "discovered", "limit": 50, "offset": 0},
    )
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 2 and r.json()["limit"] == 50 and r.json()["offset"] == 0
    urls = {ref["url"].removeprefix(portal.base) for ref in r.json()["references"]}
    assert urls == {"/maths/7as-algebre.pdf", "/physique/7as-optique.pdf"}
    assert {ref["status"] for ref in r.json()["references"]} == {"discovered"}
    assert all("error" not in ref for ref in r.json()["references"])
    r = await client.get(f"{BASE}/scraping/{name}/references", params={"status": "ready"})
    assert r.json()["total"] == 0
    _failure(await client.get(f"{BASE}/scraping/{name}/references?status=bogus"), 422)

    # Administrators see every source's runs with what was skipped.
    _failure(await client.get(f"{BASE}/admin/scrape-runs", headers=auth(teacher)), 403)
    r = await client.get(
        f"{BASE}/admin/scrape-runs", params={"limit": 100, "offset": 0}, headers=auth(admin)
    )
    assert r.status_code == 200, r.text
    mine = [x for x in r.json()["runs"] if x["run_id"] == run["run_id"]]
    assert mine and mine[0]["status"] == "success" and isinstance(mine[0]["skipped"], list)
    assert r.json()["total"] >= 1 and r.json()["limit"] == 100


async def test_vector_embedding_and_dispatch(
    client: httpx.AsyncClient,
    admin: User,
    teacher: User,
    auth: Any,
    worker: Worker,
    portal: HTTPSite,
) -> None:
    name = (await _source(client, admin, auth, portal))["name"]
    await client.post(f"{BASE}/scraping/{name}/sync", headers=auth(admin))
    await worker.run_until_idle()
    refs = (await client.get(f"{BASE}/scraping/{name}/references")).json()["references"]
    reference_id = refs[0]["id"]

    body = {"reference_id": reference_id, "force": False}
    _failure(await client.post(f"{BASE}/admin/vector-embedding", json=body), 401)
    _failure(
        await client.post(f"{BASE}/admin/vector-embedding", json=body, headers=auth(teacher)), 403
    )
    _failure(
        await client.post(
            f"{BASE}/admin/vector-embedding",
            json={"reference_id": str(uuid.uuid4())},
            headers=auth(admin),
        ),
        404,
    )
    _failure(await client.post(f"{BASE}/admin/vector-embedding", json={}, headers=auth(admin)), 422)
    r = await client.post(f"{BASE}/admin/vector-embedding", json=body, headers=auth(admin))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["reference_id"] == reference_id
    job_id = r.json()["job_id"]
    listed = await client.get(f"{BASE}/scraping/{name}/references", params={"status": "queued"})
    assert [ref["id"] for ref in listed.json()["references"]] == [reference_id]

    # Dispatch starts the oldest queued ingestion job (ours, or one queued before it).
    _failure(await client.post(f"{BASE}/admin/jobs/dispatch", headers=auth(teacher)), 403)
    r = await client.post(f"{BASE}/admin/jobs/dispatch", headers=auth(admin))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched"
    job = (await client.get(f"{BASE}/admin/jobs/{r.json()['job_id']}", headers=auth(admin))).json()
    assert job["kind"] in ("knowledge.ingest", "knowledge.ingest_reference")
    assert job["status"] == "queued"
    if r.json()["job_id"] == job_id:
        assert r.json()["reference_id"] == reference_id
    await worker.run_until_idle()
    job = (await client.get(f"{BASE}/admin/jobs/{job_id}", headers=auth(admin))).json()
    assert job["status"] == "succeeded", job
    r = await client.get(f"{BASE}/scraping/{name}/references", params={"status": "ready"})
    assert [ref["id"] for ref in r.json()["references"]] == [reference_id]


async def test_upload_curriculum(
    client: httpx.AsyncClient, admin: User, teacher: User, auth: Any, worker: Worker
) -> None:
    grade = f"7AS-{uuid.uuid4().hex[:6]}"
    text = f"# Optique {grade}\n\nLa lumiere se propage en ligne droite.".encode()
    fields = {
        "grade": grade,
        "subject": "Physique",
        "language": "fr",
        "namespace": "bacmr",
        "pdf_source": "koutoubi",
    }
    files = {"file": ("optique.md", text)}
    url = f"{BASE}/admin/upload-curriculum"
    _failure(await client.post(url, files=files, data=fields), 401)
    _failure(await client.post(url, files=files, data=fields, headers=auth(teacher)), 403)
    _failure(
        await client.post(
            url, files=files, data={"grade": grade, "language": "fr"}, headers=auth(admin)
        ),
        422,
    )
    _failure(await client.post(url, data=fields, headers=auth(admin)), 415)
    r = await client.post(url, files=files, data=fields, headers=auth(admin))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["job_id"]
    document_id = r.json()["document_id"]
    _failure(await client.post(url, files=files, data=fields, headers=auth(admin)), 409)
    await worker.run_until_idle()
    r = await client.get(f"{BASE}/curriculum/textbooks", params={"grade": grade})
    (level,) = r.json()["levels"]
    assert level["grade"] == grade and level["textbooks"][0]["id"] == document_id
    assert level["textbooks"][0]["subject"] == "Physique"


async def test_chat_json_and_stream(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    student = await make_user(Role.student)
    _failure(await client.post(f"{BASE}/chat", json={"message": "Bonjour"}), 401)
    _failure(await client.post(f"{BASE}/chat", json={"message": ""}, headers=auth(student)), 422)
    r = await client.post(
        f"{BASE}/chat",
        json={"message": "Qu'est-ce qu'une fraction ?"},
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["answer"], str) and body["answer"]
    assert isinstance(body["sources"], list)
    session_id = body["session_id"]
    assert body["usage"]["prompt_tokens"] >= 0

    # The same conversation goes on (`question` is read as `message`); it is the student's.
    r = await client.post(
        f"{BASE}/chat",
        json={"question": "Et un nombre decimal ?", "session_id": session_id},
        headers=auth(student),
    )
    assert r.status_code == 200 and r.json()["session_id"] == session_id
    detail = await client.get(f"/api/v1/chat/sessions/{session_id}", headers=auth(student))
    assert len(detail.json()["messages"]) == 4
    other = await make_user(Role.student)
    _failure(
        await client.post(
            f"{BASE}/chat",
            json={"message": "Montre-moi", "session_id": session_id},
            headers=auth(other),
        ),
        404,
    )
    _failure(
        await client.post(
            f"{BASE}/chat",
            json={"message": "Cours ?", "course_id": str(uuid.uuid4())},
            headers=auth(student),
        ),
        404,
    )

    # Streamed: StudyHall's events, ending with the stored message.
    r = await client.post(
        f"{BASE}/chat",
        json={"message": "Explique les fractions", "session_id": session_id, "stream": True},
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [
        line.removeprefix("event: ") for line in r.text.splitlines() if line.startswith("event:")
    ]
    assert "delta" in events and events[-1] == "done"
    done = r.text.split("event: done", 1)[1].split("data: ", 1)[1].splitlines()[0]
    assert json.loads(done)["session_id"] == session_id
    r = await client.post(
        f"{BASE}/chat",
        json={"message": "Encore", "session_id": session_id},
        headers={**auth(student), "Accept": "text/event-stream"},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
