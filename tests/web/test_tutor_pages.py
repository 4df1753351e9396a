"""The tutor in the browser: a conversation in a course, the answer streamed over SSE, citations
that open the cited PDF at its page, the no-script fallback, and the wallet."""

from __future__ import annotations

import re
from textwrap import fill

import httpx

from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers
from tests.knowledge.pdfgen import text_pdf
from tests.tutor.conftest import create_course, parse_sse
from tests.web.conftest import csrf_of, post_form, signed_in

PAGES = [
    "Respiration. Cellular respiration releases the energy stored in glucose. The mitochondria "
    "are the organelles where aerobic respiration happens in every living cell.",
    "Photosynthesis. Green plants use light energy to make glucose from carbon dioxide and "
    "water. The green pigment chlorophyll absorbs the light energy that drives the reaction.",
]


async def test_a_student_asks_the_tutor_and_opens_the_cited_page(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers, worker: Worker
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    outsider = await make_user(Role.student)
    course_id = await create_course(client, auth, teacher, students=(student,))
    uploaded = await client.post(
        f"{API}/courses/{course_id}/documents",
        files={"file": ("biology.pdf", text_pdf([fill(p, 70) for p in PAGES]), "application/pdf")},
        data={"title": "Biology for Schools"},
        headers=auth(teacher),
    )
    assert uploaded.status_code == 202, uploaded.text
    document_id = uploaded.json()["document"]["id"]
    await worker.run_until_idle()
    doc = await client.get(f"{API}/documents/{document_id}", headers=auth(teacher))
    assert doc.json()["status"] == "ready", doc.text
    await signed_in(client, student)

    started = await post_form(client, "/tutor", {"course_id": course_id})
    assert started.status_code == 303, started.text
    chat_url = started.headers["location"]
    chat = await client.get(chat_url)
    assert "Hint level 3 of 5" in chat.text and "data-tutor-chat" in chat.text
    token = csrf_of(chat.text)

    streamed = await client.post(
        f"{chat_url}/ask",
        data={"content": "What is chlorophyll?"},
        headers={"Accept": "text/event-stream", "X-CSRF-Token": token},
    )
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(streamed.text)
    names = [name for name, _ in events]
    assert names[0] == "delta" and names[-1] == "done"
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert "chlorophyll" in text.lower()
    message = events[-1][1]
    cited = next(s for s in message["sources"] if s["document_id"] == document_id)
    assert cited["page"] == 2

    fragment = await client.get(f"{chat_url}/messages/{message['id']}")
    assert "<html" not in fragment.text
    link = f'href="/documents/{document_id}/file#page=2"'
    assert link in fragment.text and 'class="cite"' in fragment.text
    assert "hint level" in fragment.text
    opened = await client.get(f"/documents/{document_id}/file")
    assert opened.status_code == 200 and opened.headers["content-type"] == "application/pdf"
    assert opened.content.startswith(b"%PDF")
    assert opened.headers["content-disposition"].startswith("inline")

    # Without script the form posts normally and the page shows the answer.
    plain = await client.post(
        f"{chat_url}/ask", data={"content": "What are the mitochondria?", "csrf_token": token}
    )
    assert plain.status_code == 303
    page = await client.get(chat_url)
    assert "What are the mitochondria?" in page.text
    assert len(re.findall(r'class="msg assistant"', page.text)) == 2
    empty = await client.post(
        f"{chat_url}/ask",
        data={"content": ""},
        headers={"Accept": "text/event-stream", "X-CSRF-Token": token},
    )
    assert empty.status_code == 422 and empty.headers["content-type"].startswith("text/plain")
    no_token = await client.post(f"{chat_url}/ask", data={"content": "Hello?"})
    assert no_token.status_code == 403

    wallet = await client.get("/wallet")
    assert wallet.status_code == 200 and "usage" in wallet.text

    client.cookies.clear()
    await signed_in(client, outsider)
    assert (await client.get(chat_url)).status_code == 404
    # The course is published, so visible: the courses' rule answers 403 to a student who is not
    # enrolled (404 is for what the caller cannot see).
    assert (await client.get(f"/documents/{document_id}/file")).status_code == 403
    stolen = await client.post(
        f"{chat_url}/ask",
        data={"content": "Hi"},
        headers={
            "Accept": "text/event-stream",
            "X-CSRF-Token": csrf_of((await client.get("/tutor")).text),
        },
    )
    assert stolen.status_code == 404
    refused = await post_form(client, "/tutor", {"course_id": course_id})
    assert refused.status_code == 403 and 'role="alert"' in refused.text
