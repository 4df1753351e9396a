"""A teacher reads the course's analytics (SVG charts) and the tutor transcripts of its
students; nobody else does."""

from __future__ import annotations

import httpx

from studyhall.identity.models import Role
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, add_lesson, create_course
from tests.web.conftest import signed_in


async def test_a_teacher_reads_analytics_and_transcripts(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student, full_name="Grace Hopper")
    course = await create_course(client, auth(teacher), title="Biology")
    lesson = await add_lesson(client, auth(teacher), course["id"])
    r = await client.post(f"{API}/courses/{course['id']}/enroll", headers=auth(student))
    assert r.status_code == 201, r.text
    r = await client.put(
        f"{API}/lessons/{lesson['id']}/progress", json={"completed": True}, headers=auth(student)
    )
    assert r.status_code == 200, r.text
    chat = await client.post(
        f"{API}/chat",
        json={"course_id": course["id"], "content": "What is a cell wall?"},
        headers=auth(student),
    )
    assert chat.status_code == 200, chat.text
    await signed_in(client, teacher)

    page = await client.get(f"/teach/courses/{course['id']}/analytics")
    assert page.status_code == 200
    chart = page.text[page.text.index('id="progress-title"') :]
    assert "Grace Hopper: 100" in chart[: chart.index("</svg>")]
    assert "What is a cell wall?" in page.text

    listing = await client.get(f"/teach/courses/{course['id']}/transcripts")
    assert "What is a cell wall?" in listing.text
    one = await client.get(f"/teach/courses/{course['id']}/transcripts/{chat.json()['session_id']}")
    assert one.status_code == 200 and 'class="msg assistant"' in one.text

    client.cookies.clear()
    other = await make_user(Role.teacher)
    await signed_in(client, other)
    assert (await client.get(f"/teach/courses/{course['id']}/analytics")).status_code == 403
    assert (await client.get(f"/teach/courses/{course['id']}/transcripts")).status_code == 404
