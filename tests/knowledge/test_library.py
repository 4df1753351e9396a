"""The shared curriculum library: uploads, browsing, page ranges and links from courses."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.identity.models import Role, User
from studyhall.jobs.worker import Worker
from studyhall.knowledge.ingest_cli import IngestUsageError, ingest_paths
from studyhall.knowledge.service import retrieve
from tests.conftest import MakeUser
from tests.knowledge import pdfgen
from tests.knowledge._fixtures import (
    API,
    CourseSetup,
    Headers,
    course,
    create_course,
    knowledge_routes,
    search,
    upload,
    worker,
)

__all__ = ["course", "knowledge_routes", "worker"]

LABELS = b"/PageLabels << /Nums [0 << /S /r >> 2 << /S /D /P (3-) /St 1 >>] >>"
ALGEBRA_PAGES = [
    "Preface. This book is for grade 8.",
    "Contents. 1 Linear equations. 2 Quadratic equations.",
    "1 Linear equations\nA linear equation such as 3x + 2 = 11 has exactly one solution.",
    "Solving means isolating x on one side by inverse operations.",
    "2 Quadratic equations\nThe discriminant b squared minus 4ac decides how many roots exist.",
]


async def _library_doc(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    name: str,
    **fields: str,
) -> dict[str, Any]:
    body = await upload(client, headers, None, data, name, fields=fields)
    document: dict[str, Any] = body["document"]
    return document


async def test_library_upload_browse_and_page_ranges(
    client: httpx.AsyncClient, auth: Headers, admin: User, teacher: User, worker: Worker
) -> None:
    headers = auth(admin)
    algebra = await _library_doc(
        client,
        headers,
        pdfgen.text_pdf(ALGEBRA_PAGES, page_labels=LABELS),
        "algebra.pdf",
        title="Algebra 8",
        level="grade 8",
        subject="mathematics",
        language="en",
    )
    assert algebra["is_library"] and algebra["course_id"] is None
    assert (algebra["level"], algebra["subject"], algebra["language"]) == (
        "grade 8",
        "mathematics",
        "en",
    )
    cells = await _library_doc(
        client,
        headers,
        b"# Cells\n\nCells are the basic unit of life.",
        "cells.md",
        title="Biologia celular",
        level="grade 7",
        subject="biology",
        language="es",
    )
    await _library_doc(
        client,
        headers,
        b"Fractions name parts of a whole.",
        "fractions.txt",
        level="grade 5",
        subject="mathematics",
        language="es",
    )
    # Not ready yet: nothing is listed before ingestion, except to admins.
    assert (await client.get(f"{API}/library/textbooks")).json()["total"] == 0
    queued = await client.get(
        f"{API}/library/documents", params={"status": "queued"}, headers=headers
    )
    assert queued.json()["total"] == 3
    assert (await client.get(f"{API}/library/documents", headers=auth(teacher))).status_code == 403
    await worker.run_until_idle()

    # Public browsing (no token needed).
    subjects = (await client.get(f"{API}/library/subjects")).json()
    assert subjects == [
        {"subject": "biology", "textbook_count": 1, "levels": ["grade 7"], "languages": ["es"]},
        {
            "subject": "mathematics",
            "textbook_count": 2,
            "levels": ["grade 5", "grade 8"],
            "languages": ["en", "es"],
        },
    ]
    spanish = (await client.get(f"{API}/library/subjects", params={"language": "es"})).json()
    assert [(s["subject"], s["textbook_count"]) for s in spanish] == [
        ("biology", 1),
        ("mathematics", 1),
    ]

    listed = (
        await client.get(f"{API}/library/textbooks", params={"subject": "Mathematics"})
    ).json()
    assert listed["total"] == 2
    assert [t["title"] for t in listed["items"]] == ["Algebra 8", "fractions"]
    one = (
        await client.get(
            f"{API}/library/textbooks",
            params={"subject": "mathematics", "level": "grade 8", "language": "en"},
        )
    ).json()
    assert [t["id"] for t in one["items"]] == [algebra["id"]]
    paged = (await client.get(f"{API}/library/textbooks", params={"limit": 1, "offset": 1})).json()
    assert paged["total"] == 3 and len(paged["items"]) == 1 and paged["limit"] == 1
    found = (await client.get(f"{API}/library/textbooks", params={"search": "biolog"})).json()
    assert [t["id"] for t in found["items"]] == [cells["id"]]

    detail = (await client.get(f"{API}/library/textbooks/{algebra['id']}")).json()
    assert detail["page_count"] == 5
    assert (detail["first_page_label"], detail["last_page_label"]) == ("i", "3-3")
    ranges = [
        (s["heading"], s["first_page"], s["last_page"], s["first_page_label"], s["last_page_label"])
        for s in detail["sections"]
    ]
    assert ("1 Linear equations", 3, 4, "3-1", "3-2") in ranges
    assert ranges[-1] == ("2 Quadratic equations", 5, 5, "3-3", "3-3")
    assert (await client.get(f"{API}/library/textbooks/{uuid.uuid4()}")).status_code == 404

    # Writes are for admins.
    denied = await upload(
        client,
        auth(teacher),
        None,
        b"x y z",
        "x.txt",
        fields={"subject": "math", "language": "en"},
        expect=403,
    )
    assert denied["code"] == "forbidden"
    missing = await upload(
        client, headers, None, b"x y z", "x.txt", fields={"subject": "math"}, expect=422
    )
    assert missing["detail"][0]["loc"] == ["body", "language"]
    patch = await client.patch(
        f"{API}/documents/{cells['id']}", json={"level": "grade 6"}, headers=auth(teacher)
    )
    assert patch.status_code == 403
    patched = await client.patch(
        f"{API}/documents/{cells['id']}", json={"level": "grade 6"}, headers=headers
    )
    assert patched.json()["level"] == "grade 6"
    chunks = await client.get(f"{API}/documents/{cells['id']}/chunks", headers=auth(teacher))
    assert chunks.status_code == 403
    assert (
        await client.get(f"{API}/documents/{cells['id']}", headers=auth(teacher))
    ).status_code == 200


async def test_course_library_links_scope_search(
    client: httpx.AsyncClient,
    auth: Headers,
    admin: User,
    course: CourseSetup,
    make_user: MakeUser,
    worker: Worker,
    db: Database,
    settings: Settings,
) -> None:
    geology = await _library_doc(
        client,
        auth(admin),
        b"Igneous rocks form when magma cools; granite cools slowly underground.",
        "rocks.txt",
        subject="geology",
        language="en",
    )
    poetry = await _library_doc(
        client,
        auth(admin),
        b"A sonnet has fourteen lines, often in iambic pentameter.",
        "sonnets.txt",
        subject="literature",
        language="en",
    )
    own = await upload(
        client, auth(course.teacher), course.id, b"Sediment settles in layers.", "s.txt"
    )
    await worker.run_until_idle()
    url = f"{API}/courses/{course.id}/library"
    reader, owner = auth(course.student), auth(course.teacher)

    assert (await client.get(url, headers=reader)).json() == {"document_ids": []}
    unlinked = await search(client, reader, course.id, "granite magma", k=10)
    assert {h["document_id"] for h in unlinked} <= {own["document"]["id"]}
    assert (
        await client.put(url, json={"document_ids": [geology["id"]]}, headers=reader)
    ).status_code == 403
    not_library = await client.put(
        url, json={"document_ids": [own["document"]["id"]]}, headers=owner
    )
    assert not_library.status_code == 422 and not_library.json()["code"] == "not_library_documents"
    unknown = await client.put(url, json={"document_ids": [str(uuid.uuid4())]}, headers=owner)
    assert unknown.status_code == 422
    linked = await client.put(
        url, json={"document_ids": [geology["id"], geology["id"]]}, headers=owner
    )
    assert linked.status_code == 200 and linked.json() == {"document_ids": [geology["id"]]}
    assert (await client.get(url, headers=reader)).json() == {"document_ids": [geology["id"]]}

    hits = await search(client, reader, course.id, "granite magma", k=5)
    assert hits[0]["document_id"] == geology["id"]
    assert poetry["id"] not in {
        h["document_id"]
        for h in await search(client, reader, course.id, "sonnet fourteen lines", k=10)
    }
    both = {
        h["document_id"] for h in await search(client, reader, course.id, "layers of rock", k=10)
    }
    assert both == {geology["id"], own["document"]["id"]}

    # Another course does not see this course's links.
    other_teacher = await make_user(Role.teacher)
    other = await create_course(client, auth, other_teacher)
    assert await search(client, auth(other_teacher), other, "granite magma") == []

    # Unlinking takes effect at once.
    await client.put(url, json={"document_ids": []}, headers=owner)
    hits = await search(client, reader, course.id, "granite magma", k=5)
    assert geology["id"] not in {h["document_id"] for h in hits}

    # The tutor's entry point: course_id None searches the whole library only.
    async with db.session(write=False) as session:
        passages = await retrieve(
            session, course_id=None, query="sonnet iambic pentameter", k=3, settings=settings
        )
    assert passages[0].document_id == uuid.UUID(poetry["id"])
    assert passages[0].document_title == "sonnets" and passages[0].page == 1
    assert own["document"]["id"] not in {str(p.document_id) for p in passages}

    # Deleting a library document unlinks it everywhere.
    await client.put(url, json={"document_ids": [poetry["id"]]}, headers=owner)
    assert (
        await client.delete(f"{API}/documents/{poetry['id']}", headers=auth(admin))
    ).status_code == 204
    assert (await client.get(url, headers=reader)).json() == {"document_ids": []}


async def test_ingest_paths_for_the_cli(
    client: httpx.AsyncClient,
    auth: Headers,
    course: CourseSetup,
    settings: Settings,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Waves\n\nSound waves are longitudinal.")
    (folder / "sub" / "b.txt").write_text("Light waves are transverse.")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    (folder / "ignored.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / ".hidden.md").write_text("secret")
    code = (await client.get(f"{API}/courses/{course.id}", headers=auth(course.teacher))).json()[
        "code"
    ]
    seen: list[tuple[str, float]] = []
    outcomes = await ingest_paths(
        settings,
        [folder],
        course_code=code.lower(),
        progress=lambda path, fraction, _message: seen.append((path.name, fraction)),
    )
    assert [(o.path.name, o.status) for o in outcomes] == [
        ("a.md", "ready"),
        ("image.txt", "skipped"),
        ("b.txt", "ready"),
    ]
    assert "PNG" in (outcomes[1].error or "")
    assert outcomes[0].chunk_count == 1 and outcomes[0].page_count == 1
    assert ("a.md", 1.0) in seen and ("b.txt", 1.0) in seen
    listing = await client.get(f"{API}/courses/{course.id}/documents", headers=auth(course.teacher))
    assert {d["status"] for d in listing.json()["items"]} == {"ready"}
    hits = await search(client, auth(course.student), course.id, "transverse light", k=1)
    assert hits[0]["document_title"] == "b"

    library = await ingest_paths(
        settings, [folder / "a.md"], library=True, subject="physics", language="en", level="grade 9"
    )
    assert library[0].status == "ready"
    books = (await client.get(f"{API}/library/textbooks", params={"subject": "physics"})).json()
    assert [b["level"] for b in books["items"]] == ["grade 9"]
    for bad in (
        {"course_code": None, "library": False},
        {"course_code": code, "library": True},
        {"library": True, "subject": "physics"},
        {"course_code": "NOPE-404"},
    ):
        with pytest.raises(IngestUsageError):
            await ingest_paths(settings, [folder], **bad)  # type: ignore[arg-type]
