"""A teacher's course material in the browser: documents whose ingestion status refreshes
itself, and quizzes imported from JSON or SciQ files."""

from __future__ import annotations

import json

import httpx

from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, create_course
from tests.knowledge.pdfgen import text_pdf
from tests.web.conftest import csrf_of, signed_in

SCIQ = [
    {
        "question": "What gas do plants release?",
        "correct_answer": "oxygen",
        "distractor1": "helium",
        "distractor2": "neon",
        "distractor3": "argon",
        "support": "Photosynthesis releases oxygen.",
    },
    {
        "question": "Where does respiration happen?",
        "correct_answer": "mitochondria",
        "distractor1": "nucleus",
        "distractor2": "ribosome",
        "distractor3": "vacuole",
        "support": "",
    },
]


async def test_a_teacher_uploads_a_document_and_watches_it_become_ready(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers, worker: Worker
) -> None:
    teacher = await make_user(Role.teacher)
    other = await make_user(Role.teacher)
    course = await create_course(client, auth(teacher), title="Biology")
    await signed_in(client, teacher)
    page = await client.get(f"/teach/courses/{course['id']}/documents")
    assert page.status_code == 200 and "No document yet" in page.text
    token = csrf_of(page.text)
    pdf = text_pdf(["Cells are the units of life.", "Plants make glucose."])
    sent = await client.post(
        f"/teach/courses/{course['id']}/documents",
        data={"title": "Cells", "csrf_token": token},
        files={"file": ("cells.pdf", pdf, "application/pdf")},
    )
    assert sent.status_code == 303, sent.text
    listing = await client.get(f"/teach/courses/{course['id']}/documents")
    assert 'data-status="queued"' in listing.text and 'hx-trigger="every 2s"' in listing.text
    again = await client.post(
        f"/teach/courses/{course['id']}/documents",
        data={"csrf_token": token},
        files={"file": ("copy.pdf", pdf, "application/pdf")},
    )
    assert again.status_code == 409 and "already uploaded" in again.text
    bad = await client.post(
        f"/teach/courses/{course['id']}/documents",
        data={"csrf_token": token},
        files={"file": ("run.exe", b"MZ\x90\x00" * 10, "application/octet-stream")},
    )
    assert bad.status_code == 415 and 'role="alert"' in bad.text

    await worker.run_until_idle()
    rows = await client.get(
        f"/teach/courses/{course['id']}/documents",
        headers={"HX-Request": "true", "HX-Target": "documents"},
    )
    assert rows.text.startswith('<tbody id="documents"') and "<html" not in rows.text
    assert 'data-status="ready"' in rows.text and "2 pages" in rows.text
    assert "hx-trigger" not in rows.text  # nothing left to follow: the polling stops

    client.cookies.clear()
    await signed_in(client, other)
    assert (await client.get(f"/teach/courses/{course['id']}/documents")).status_code == 403
    token = csrf_of((await client.get("/teach/courses")).text)
    stolen = await client.post(
        f"/teach/courses/{course['id']}/documents",
        data={"csrf_token": token},
        files={"file": ("x.txt", b"hello", "text/plain")},
    )
    assert stolen.status_code == 403


async def test_a_teacher_imports_a_sciq_file_and_pasted_json(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    course = await create_course(client, auth(teacher))
    await signed_in(client, teacher)
    page = await client.get(f"/teach/courses/{course['id']}/quizzes")
    token = csrf_of(page.text)
    url = f"/teach/courses/{course['id']}/quizzes/import"
    imported = await client.post(
        url,
        data={"title": "SciQ sample", "csrf_token": token},
        files={"file": ("sciq.json", json.dumps(SCIQ).encode(), "application/json")},
    )
    assert imported.status_code == 201, imported.text
    assert "Imported 2 questions into “SciQ sample”" in imported.text
    pasted = {"title": "Pasted", "items": [{"prompt": "2+2?", "options": ["3", "4"], "answer": 1}]}
    second = await client.post(url, data={"json": json.dumps(pasted), "csrf_token": token})
    assert second.status_code == 201 and "Pasted" in second.text
    quizzes = await client.get(f"{API}/courses/{course['id']}/quizzes", headers=auth(teacher))
    assert sorted(q["title"] for q in quizzes.json()["items"]) == ["Pasted", "SciQ sample"]

    broken = await client.post(url, data={"json": "[{", "csrf_token": token})
    assert broken.status_code == 422 and "not JSON" in broken.text
    wrong = await client.post(url, data={"json": '[{"question": "x"}]', "csrf_token": token})
    assert wrong.status_code == 422 and 'role="alert"' in wrong.text
    quizzes = await client.get(f"{API}/courses/{course['id']}/quizzes", headers=auth(teacher))
    assert quizzes.json()["total"] == 2  # nothing half-imported
