"""Graded work in the browser: a student takes quizzes (timed and untimed) and hands in an
assignment; the teacher's gradebook shows the results and exports them."""

from __future__ import annotations

import re
from typing import Any

import httpx

from studyhall.identity.models import Role, User
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, create_course
from tests.web.conftest import csrf_of, signed_in

QUESTIONS: list[dict[str, Any]] = [
    {"prompt": "Speed of light?", "kind": "single", "options": ["c", "g", "h"], "answer": 0},
    {"prompt": "Primes?", "kind": "multiple", "options": ["2", "4", "5"], "answer": [0, 2]},
    {"prompt": "Light bends in water.", "kind": "true_false", "answer": True},
    {"prompt": "Unit of force?", "kind": "short", "answer": ["newton"], "explanation": "F=ma"},
]


async def _quiz(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **f: Any
) -> Any:
    body = {"title": "Optics check", "questions": QUESTIONS, **f}
    r = await client.post(f"{API}/courses/{course_id}/quizzes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _enrolled(client: httpx.AsyncClient, auth: Headers, student: User, course: Any) -> None:
    r = await client.post(f"{API}/courses/{course['id']}/enroll", headers=auth(student))
    assert r.status_code in (200, 201), r.text


async def test_a_student_takes_a_quiz_and_reads_the_results(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    course = await create_course(client, auth(teacher), title="Optics")
    quiz = await _quiz(client, auth(teacher), course["id"], max_attempts=2)
    await _enrolled(client, auth, student, course)
    await signed_in(client, student)

    outline = await client.get(f"/courses/{course['id']}")
    assert f'href="/quizzes/{quiz["id"]}"' in outline.text
    page = await client.get(f"/quizzes/{quiz['id']}")
    assert page.status_code == 200 and "Speed of light?" in page.text
    assert 'type="checkbox" name="q1" value="2"' in page.text and "2 attempts left" in page.text
    answers = {"q0": "0", "q1": ["0", "2"], "q2": "true", "q3": "  Newton ", "time_spent_s": "31"}
    sent = await client.post(
        f"/quizzes/{quiz['id']}/submit", data={**answers, "csrf_token": csrf_of(page.text)}
    )
    assert sent.status_code == 303, sent.text
    result = await client.get(sent.headers["location"])
    assert result.status_code == 200
    assert "100.0%" in result.text and "passed" in result.text and "F=ma" in result.text

    # Half wrong on the last attempt: every expected answer is revealed.
    page = await client.get(f"/quizzes/{quiz['id']}")
    assert "1 attempts left" in page.text and "100.0%" in page.text
    wrong = {"q0": "1", "q2": "false", "csrf_token": csrf_of(page.text)}
    sent = await client.post(f"/quizzes/{quiz['id']}/submit", data=wrong)
    result = await client.get(sent.headers["location"])
    assert "0.0%" in result.text and "not passed" in result.text
    assert "Expected answer: <strong>c</strong>" in result.text
    assert "Expected answer: <strong>2, 5</strong>" in result.text

    # No attempt left: refused with the service's reason, nothing recorded.
    page = await client.get(f"/quizzes/{quiz['id']}")
    refused = await client.post(
        f"/quizzes/{quiz['id']}/submit", data={"q0": "0", "csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 409 and 'role="alert"' in refused.text
    attempts = await client.get(f"{API}/quizzes/{quiz['id']}/attempts", headers=auth(student))
    assert attempts.json()["total"] == 2

    # Someone else's results are not found.
    other = await make_user(Role.student)
    await _enrolled(client, auth, other, course)
    client.cookies.clear()
    await signed_in(client, other)
    assert (await client.get(sent.headers["location"])).status_code == 404


async def test_a_timed_quiz_shows_its_questions_once_started(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    course = await create_course(client, auth(teacher))
    quiz = await _quiz(client, auth(teacher), course["id"], time_limit_s=600)
    await _enrolled(client, auth, student, course)
    await signed_in(client, student)

    before = await client.get(f"/quizzes/{quiz['id']}")
    assert "Speed of light?" not in before.text and "Start the quiz" in before.text
    early = await client.post(
        f"/quizzes/{quiz['id']}/submit", data={"q0": "0", "csrf_token": csrf_of(before.text)}
    )
    assert early.status_code == 422  # a timed quiz is answered within a started attempt
    started = await client.post(
        f"/quizzes/{quiz['id']}/start", data={"csrf_token": csrf_of(before.text)}
    )
    assert started.status_code == 303
    running = await client.get(f"/quizzes/{quiz['id']}")
    assert "Speed of light?" in running.text and 'role="timer"' in running.text
    remaining = re.search(r'data-remaining="(\d+)"', running.text)
    assert remaining and 0 < int(remaining.group(1)) <= 600
    sent = await client.post(
        f"/quizzes/{quiz['id']}/submit",
        data={"q0": "0", "q2": "true", "csrf_token": csrf_of(running.text)},
    )
    assert sent.status_code == 303, sent.text
    assert "50.0%" in (await client.get(sent.headers["location"])).text


async def test_a_student_hands_in_work_and_reads_the_grade_in_the_gradebook(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student, full_name="Grace Hopper")
    outsider = await make_user(Role.student)
    course = await create_course(client, auth(teacher), title="Lab reports")
    quiz = await _quiz(client, auth(teacher), course["id"])
    r = await client.post(
        f"{API}/courses/{course['id']}/assignments",
        json={"title": "Prism lab", "description": "Measure **n**.", "max_score": 20},
        headers=auth(teacher),
    )
    assignment = r.json()
    await _enrolled(client, auth, student, course)
    await signed_in(client, student)

    page = await client.get(f"/assignments/{assignment['id']}")
    assert page.status_code == 200 and "<strong>n</strong>" in page.text
    token = csrf_of(page.text)
    refused = await client.post(
        f"/assignments/{assignment['id']}/submit",
        data={"content": "", "csrf_token": token},
        files={"file": ("run.exe", b"MZ\x90\x00binary", "application/octet-stream")},
    )
    assert refused.status_code == 415 and 'role="alert"' in refused.text
    sent = await client.post(
        f"/assignments/{assignment['id']}/submit",
        data={"content": "n = 1.52", "csrf_token": token},
        files={"file": ("lab.txt", b"angle,n\n30,1.52\n", "text/plain")},
    )
    assert sent.status_code == 303, sent.text
    page = await client.get(f"/assignments/{assignment['id']}")
    assert "n = 1.52" in page.text and "Not graded yet." in page.text
    link = re.search(r'href="(/submissions/[^"]+/file)"', page.text)
    assert link
    download = await client.get(link.group(1))
    assert download.content == b"angle,n\n30,1.52\n"
    assert download.headers["content-disposition"].startswith("attachment")

    submissions = await client.get(
        f"{API}/assignments/{assignment['id']}/submissions", headers=auth(teacher)
    )
    submission_id = submissions.json()["items"][0]["id"]
    graded = await client.put(
        f"{API}/submissions/{submission_id}/grade",
        json={"score": 15, "feedback": "Good error bars."},
        headers=auth(teacher),
    )
    assert graded.status_code == 200, graded.text
    page = await client.get(f"/assignments/{assignment['id']}")
    assert "15.0 / 20.0" in page.text and "Good error bars." in page.text

    client.cookies.clear()
    await signed_in(client, outsider)
    assert (await client.get(f"/assignments/{assignment['id']}")).status_code == 403
    assert (await client.get(link.group(1))).status_code == 404
    assert (await client.get(f"/teach/courses/{course['id']}/gradebook")).status_code == 403

    client.cookies.clear()
    await signed_in(client, teacher)
    book = await client.get(f"/teach/courses/{course['id']}/gradebook")
    assert book.status_code == 200
    assert "Grace Hopper" in book.text and "Prism lab" in book.text and "75.0%" in book.text
    exported = await client.get(f"/teach/courses/{course['id']}/gradebook.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    header, row = exported.text.splitlines()[:2]
    assert header.startswith('student_id,full_name,email,"Optics check (quiz')
    assert row.startswith(f"{student.id},Grace Hopper,{student.email},,75")
    assert (await client.get(f"/quizzes/{quiz['id']}")).status_code == 403  # a student page
