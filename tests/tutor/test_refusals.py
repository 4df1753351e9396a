"""Honest refusals: a passage that merely shares a word or two is not a source to cite."""

from __future__ import annotations

import re

import httpx

from studyhall.identity.models import User
from studyhall.jobs.worker import Worker
from studyhall.tutor.providers.offline import NOT_FOUND
from tests.tutor.conftest import API, Headers, add_document, create_course

NUMERICS = b"""# Newton's method

Newton's method is an iterative algorithm to find a root of a function. Each step follows the
tangent line from the current point down to where it crosses the axis.

# Bisection

The bisection method halves an interval that brackets a root until the interval is small enough.
It converges slowly but always converges when the function changes sign.
"""


async def test_a_question_the_material_does_not_cover_is_refused_not_cited(
    client: httpx.AsyncClient, auth: Headers, teacher: User, student: User, worker: Worker
) -> None:
    course_id = await create_course(client, auth, teacher, students=(student,))
    await add_document(client, auth, teacher, worker, course_id, NUMERICS, title="Numerics")
    me = auth(student)

    # Shares "algorithm" and "find" with the Newton slide, and nothing else.
    refused = await client.post(
        f"{API}/chat",
        json={"course_id": course_id, "content": "How does the QR algorithm find eigenvalues?"},
        headers=me,
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["content"] == NOT_FOUND
    assert refused.json()["sources"] == []

    answered = await client.post(
        f"{API}/chat",
        json={"course_id": course_id, "content": "How does Newton's method find a root?"},
        headers=me,
    )
    body = answered.json()
    assert "iterative algorithm to find a root of a function" in body["content"]
    assert body["sources"][0]["heading"] == "Newton's method"
    # Citation numbers are the sources' own, from [1] without gaps.
    cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", body["content"])})
    assert cited == [s["index"] for s in body["sources"]] == list(range(1, len(cited) + 1))
