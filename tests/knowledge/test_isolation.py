"""Tenant isolation: nothing of course A ever reaches someone who may only read course B."""

from __future__ import annotations

import uuid

import httpx

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.identity.models import Role, User
from studyhall.jobs.worker import Worker
from studyhall.knowledge.service import retrieve
from tests.conftest import MakeUser
from tests.knowledge._fixtures import (
    API,
    Headers,
    all_chunks,
    create_course,
    knowledge_routes,
    search,
    upload,
    worker,
)

__all__ = ["knowledge_routes", "worker"]

SECRET_A = (
    "Course A answer key: the exam question about the quokka migration has answer 42 and the "
    "passphrase is violet-harbor-anemone. Do not share this with other courses."
)
SECRET_A_2 = "Quokka migration patterns follow the violet harbor anemone blooms in spring."
PUBLIC_B = (
    "Course B covers marine biology: anemones, harbors and the migration of coastal animals such "
    "as quokkas, with an exam question on violet colours in reef fish."
)


async def test_a_student_of_course_b_never_gets_course_a_chunks(
    client: httpx.AsyncClient,
    auth: Headers,
    make_user: MakeUser,
    worker: Worker,
    db: Database,
    settings: Settings,
    admin: User,
) -> None:
    teacher_a, teacher_b = await make_user(Role.teacher), await make_user(Role.teacher)
    student_a, student_b = await make_user(Role.student), await make_user(Role.student)
    course_a = await create_course(client, auth, teacher_a, students=(student_a,))
    course_b = await create_course(client, auth, teacher_b, students=(student_b,))
    doc_a = (await upload(client, auth(teacher_a), course_a, SECRET_A.encode(), "key.txt"))[
        "document"
    ]
    doc_a2 = (await upload(client, auth(teacher_a), course_a, SECRET_A_2.encode(), "k2.txt"))[
        "document"
    ]
    doc_b = (await upload(client, auth(teacher_b), course_b, PUBLIC_B.encode(), "b.txt"))[
        "document"
    ]
    # A library document linked to A only.
    lib = (
        await upload(
            client,
            auth(admin),
            None,
            b"Library note on the quokka migration answer 42 violet harbor.",
            "lib.txt",
            fields={"subject": "biology", "language": "en"},
        )
    )["document"]
    linked = await client.put(
        f"{API}/courses/{course_a}/library",
        json={"document_ids": [lib["id"]]},
        headers=auth(teacher_a),
    )
    assert linked.status_code == 200
    await worker.run_until_idle()

    a_chunks = await all_chunks(client, auth(teacher_a), doc_a["id"])
    a_chunks += await all_chunks(client, auth(teacher_a), doc_a2["id"])
    forbidden = {doc_a["id"], doc_a2["id"], lib["id"]}
    queries = [c["text"] for c in a_chunks] + [
        "answer key passphrase",
        "violet-harbor-anemone",
        "quokka migration answer 42",
        "what is the exam answer",
        "*",
        doc_a["id"],
    ]
    b_reader = auth(student_b)
    for query in queries:
        hits = await search(client, b_reader, course_b, query[:2000], k=50)
        returned = {h["document_id"] for h in hits}
        assert not returned & forbidden, query
        assert returned <= {doc_b["id"]}
        assert not any("passphrase" in h["text"] for h in hits)
        # The same query through the tutor's entry point, scoped to B.
        async with db.session(write=False) as session:
            passages = await retrieve(
                session, course_id=uuid.UUID(course_b), query=query, k=50, settings=settings
            )
        assert not {str(p.document_id) for p in passages} & forbidden
    # The exact text of A's chunk finds it in A (so the query itself is a good one).
    exact = await search(client, auth(student_a), course_a, a_chunks[0]["text"], k=1)
    assert exact[0]["document_id"] == doc_a["id"]

    # Direct access to A's objects from B's side: refused everywhere, whatever the route, with
    # the courses' rule (A is published, so visible: 403, `enrollment_required` for a student).
    for user in (student_b, teacher_b):
        headers = auth(user)
        assert (
            await client.post(
                f"{API}/courses/{course_a}/search", json={"query": "quokka"}, headers=headers
            )
        ).status_code == 403
        assert (
            await client.get(f"{API}/courses/{course_a}/documents", headers=headers)
        ).status_code == 403
        assert (
            await client.get(f"{API}/courses/{course_a}/library", headers=headers)
        ).status_code == 403
        assert (
            await client.get(f"{API}/documents/{doc_a['id']}", headers=headers)
        ).status_code == 403
        assert (
            await client.get(f"{API}/documents/{doc_a['id']}/chunks", headers=headers)
        ).status_code == 403
        assert (
            await client.patch(
                f"{API}/documents/{doc_a['id']}", json={"title": "x"}, headers=headers
            )
        ).status_code == 403
        assert (
            await client.delete(f"{API}/documents/{doc_a['id']}", headers=headers)
        ).status_code == 403
        assert (
            await client.put(
                f"{API}/courses/{course_a}/library", json={"document_ids": []}, headers=headers
            )
        ).status_code == 403
    # Teacher B cannot link A's course document into B either (it is not a library document).
    smuggle = await client.put(
        f"{API}/courses/{course_b}/library",
        json={"document_ids": [doc_a["id"]]},
        headers=auth(teacher_b),
    )
    assert smuggle.status_code == 422
    # B may link the library document: then (and only then) B sees that document, never A's own.
    await client.put(
        f"{API}/courses/{course_b}/library",
        json={"document_ids": [lib["id"]]},
        headers=auth(teacher_b),
    )
    hits = await search(client, b_reader, course_b, SECRET_A, k=50)
    assert {h["document_id"] for h in hits} == {doc_b["id"], lib["id"]}

    # A student who leaves course A loses access at once.
    assert (
        await client.delete(f"{API}/courses/{course_a}/enroll", headers=auth(student_a))
    ).status_code == 204
    gone = await client.post(
        f"{API}/courses/{course_a}/search", json={"query": "quokka"}, headers=auth(student_a)
    )
    assert gone.status_code == 403 and gone.json()["code"] == "enrollment_required"
