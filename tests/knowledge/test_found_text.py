"""What a search returns (the whole chunk + a marked excerpt), duplicate uploads, file downloads."""

from __future__ import annotations

import uuid

import httpx

from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from studyhall.knowledge.snippets import query_excerpt
from tests.conftest import MakeUser
from tests.knowledge._fixtures import (
    API,
    CourseSetup,
    Headers,
    course,
    knowledge_routes,
    search,
    upload,
    worker,
)
from tests.knowledge.pdfgen import text_pdf

__all__ = ["course", "knowledge_routes", "worker"]

# One long paragraph: the 600-character cut the search used to send lost its second half.
LONG = (
    "Kepler's laws describe planetary motion. "
    + "Early astronomers recorded the positions of the planets night after night. " * 12
    + "The third law states that the square of the orbital period is proportional to the cube "
    "of the semi-major axis of the orbit."
)


async def test_search_text_is_the_whole_chunk_and_the_excerpt_marks_the_match(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, worker: Worker
) -> None:
    await upload(client, auth(course.teacher), course.id, LONG.encode(), "kepler.txt")
    await worker.run_until_idle()
    [hit] = await search(
        client, auth(course.student), course.id, "orbital period cube semi-major axis", k=1
    )
    assert len(LONG) > 900
    assert hit["text"] == LONG
    assert "**orbital** **period**" in hit["excerpt"] and "**cube**" in hit["excerpt"]
    assert hit["excerpt"].startswith("…") and len(hit["excerpt"]) < 400
    assert hit["page"] == 1 and hit["page_label"] is None


def test_excerpt_window_prefers_the_passage_with_most_query_terms() -> None:
    text = "Cells divide. " + "Filler words without interest. " * 30 + "Mitosis divides cells."
    snippet = query_excerpt(text, "how does mitosis divide cells", limit=80)
    assert "**Mitosis** **divides** **cells**" in snippet
    # Short text: whole, nothing cut; no match: the start, unmarked.
    assert query_excerpt("Plant cells have walls", "cell walls") == "Plant **cells** have **walls**"
    assert query_excerpt(text, "zebra", limit=40).startswith("Cells divide.")
    assert "**" not in query_excerpt(text, "zebra", limit=40)


async def test_the_same_file_twice_is_a_409_naming_the_existing_document(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    make_user: MakeUser,
) -> None:
    owner = auth(course.teacher)
    first = await upload(client, owner, course.id, LONG.encode(), "kepler.txt")
    response = await client.post(
        f"{API}/courses/{course.id}/documents",
        files={"file": ("copy-of-kepler.txt", LONG.encode())},
        headers=owner,
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "duplicate_document" and "replace=true" in body["detail"]
    assert body["document"]["id"] == first["document"]["id"]
    assert body["document"]["filename"] == "kepler.txt"
    listed = await client.get(f"{API}/courses/{course.id}/documents", headers=owner)
    assert listed.json()["total"] == 1

    # Another course may hold the same file: duplicates are per course.
    other_teacher = await make_user(role=Role.teacher)
    other = await client.post(
        f"{API}/courses",
        json={"code": "DUPX1", "title": "Other", "is_published": True},
        headers=auth(other_teacher),
    )
    await upload(client, auth(other_teacher), other.json()["id"], LONG.encode(), "kepler.txt")

    # An explicit replace: the old document goes, the new one is queued, searches find it once.
    replaced = await client.post(
        f"{API}/courses/{course.id}/documents",
        params={"replace": "true"},
        files={"file": ("kepler-v2.txt", LONG.encode())},
        data={"title": "Kepler, again"},
        headers=owner,
    )
    assert replaced.status_code == 202, replaced.text
    new_id = replaced.json()["document"]["id"]
    old = await client.get(f"{API}/documents/{first['document']['id']}", headers=owner)
    assert old.status_code == 404
    await worker.run_until_idle()
    hits = await search(client, owner, course.id, "orbital period", k=5)
    assert [h["document_id"] for h in hits] == [new_id]
    assert hits[0]["document_title"] == "Kepler, again"


async def test_a_failed_upload_may_be_uploaded_again(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, worker: Worker
) -> None:
    owner = auth(course.teacher)
    broken = b"%PDF-1.4\n% not really a PDF\n"
    first = await upload(client, owner, course.id, broken, "broken.pdf")
    await worker.run_until_idle()
    state = await client.get(f"{API}/documents/{first['document']['id']}", headers=owner)
    assert state.json()["status"] == "failed"
    await upload(client, owner, course.id, broken, "broken.pdf")


async def test_library_duplicates_are_refused_too(
    client: httpx.AsyncClient, auth: Headers, make_user: MakeUser
) -> None:
    admin = auth(await make_user(role=Role.admin))
    fields = {"subject": "physics", "language": "en"}
    first = await upload(client, admin, None, LONG.encode(), "kepler.txt", fields=fields)
    again = await upload(client, admin, None, LONG.encode(), "k.txt", fields=fields, expect=409)
    assert again["document"]["id"] == first["document"]["id"] and again["document"]["is_library"]


async def test_readers_download_the_file_pdfs_inline(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    make_user: MakeUser,
) -> None:
    pdf = text_pdf(["Page one about optics.", "Page two about lenses."])
    doc = await upload(client, auth(course.teacher), course.id, pdf, "optics.pdf")
    url = f"{API}/documents/{doc['document']['id']}/file"
    response = await client.get(url, headers=auth(course.student))
    assert response.status_code == 200, response.text
    assert response.content == pdf
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline")
    assert "optics.pdf" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"

    html = b"<html><body><script>alert(1)</script><p>Lenses bend light.</p></body></html>"
    page = await upload(client, auth(course.teacher), course.id, html, "lenses.html")
    response = await client.get(
        f"{API}/documents/{page['document']['id']}/file", headers=auth(course.student)
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")

    # Not enrolled in a course they can see: 403, as for its lessons; no token: 401.
    outsider = await make_user(role=Role.student)
    assert (await client.get(url, headers=auth(outsider))).status_code == 403
    assert (await client.get(url)).status_code == 401
    assert (
        await client.get(f"{API}/documents/{uuid.uuid4()}/file", headers=auth(outsider))
    ).json()["code"] == "document_not_found"
