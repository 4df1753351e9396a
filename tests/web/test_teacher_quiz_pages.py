"""The quiz editor in the browser: a teacher writes a quiz question by question (options ticked,
true/false, accepted short answers) without any JSON; students then take it as written; only the
course's owner changes it."""

from __future__ import annotations

from typing import Any

import httpx

from studyhall.identity.models import Role
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, add_lesson, create_course
from tests.web.conftest import csrf_of, signed_in


async def _quiz(client: httpx.AsyncClient, headers: dict[str, str], quiz_id: str) -> Any:
    r = await client.get(f"{API}/quizzes/{quiz_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_teacher_writes_a_quiz_question_by_question(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    course = await create_course(client, auth(teacher))
    lesson = await add_lesson(client, auth(teacher), course["id"], title="Light")
    await signed_in(client, teacher)
    form = await client.get(f"/teach/courses/{course['id']}/quizzes/new")
    assert form.status_code == 200 and 'name="option_3"' in form.text
    token = csrf_of(form.text)

    created = await client.post(
        f"/teach/courses/{course['id']}/quizzes/new",
        data={
            "csrf_token": token,
            "title": "Light check",
            "lesson_id": lesson["id"],
            "pass_percent": "50",
            "time_limit_min": "",
            "max_attempts": "3",
            "weight": "2",
            "kind": "single",
            "prompt": "What bends light?",
            "option_0": "A lens",
            "option_1": "",  # an empty slot is left out, the ticks follow the filled ones
            "option_2": "A brick",
            "correct_0": "true",
            "points": "2",
            "explanation": "Lenses refract.",
        },
    )
    assert created.status_code == 303, created.text
    quiz_id = created.headers["location"].split("/")[3]
    quiz = await _quiz(client, auth(teacher), quiz_id)
    assert (quiz["title"], quiz["lesson_id"], quiz["max_attempts"], quiz["weight"]) == (
        "Light check",
        lesson["id"],
        3,
        2.0,
    )
    (first,) = quiz["questions"]
    assert first["options"] == ["A lens", "A brick"] and first["answer"] == 0
    assert first["points"] == 2.0 and first["explanation"] == "Lenses refract."

    url = f"/teach/quizzes/{quiz_id}/questions"
    added = await client.post(
        f"{url}/new",
        data={
            "csrf_token": token,
            "kind": "multiple",
            "prompt": "Which are colours of the rainbow?",
            "option_0": "Red",
            "option_1": "Black",
            "option_2": "Violet",
            "correct_0": "true",
            "correct_2": "true",
        },
    )
    assert added.status_code == 303 and added.headers["location"].endswith("#questions")
    for fields in (
        {"kind": "true_false", "prompt": "Light is a wave.", "true_false": "true"},
        {"kind": "short", "prompt": "Speed of light in km/s?", "accepted": "300000\r\n300 000"},
    ):
        r = await client.post(f"{url}/new", data={"csrf_token": token, **fields})
        assert r.status_code == 303, r.text
    quiz = await _quiz(client, auth(teacher), quiz_id)
    assert [q["answer"] for q in quiz["questions"]] == [0, [0, 2], True, ["300000", "300 000"]]

    # The edit form shows the stored question as it was written.
    editing = await client.get(f"{url}/1")
    assert 'value="Violet"' in editing.text
    assert editing.text.count('value="true" checked') == 2
    changed = await client.post(
        f"{url}/0",
        data={
            "csrf_token": token,
            "kind": "single",
            "prompt": "What bends light best?",
            "option_0": "A lens",
            "option_1": "A brick",
            "option_2": "A prism",
            "correct_2": "true",
        },
    )
    assert changed.status_code == 303
    quiz = await _quiz(client, auth(teacher), quiz_id)
    assert quiz["questions"][0]["options"][2] == "A prism" and quiz["questions"][0]["answer"] == 2
    assert len(quiz["questions"]) == 4  # the others are kept as they were
    assert quiz["questions"][1]["answer"] == [0, 2]

    # Refusals come back next to the form with what was typed.
    two_right = await client.post(
        f"{url}/0",
        data={
            "csrf_token": token,
            "kind": "single",
            "prompt": "Pick one",
            "option_0": "Kept text",
            "option_1": "B",
            "correct_0": "true",
            "correct_1": "true",
        },
    )
    assert two_right.status_code == 422 and 'role="alert"' in two_right.text
    assert 'value="Kept text"' in two_right.text
    no_accepted = await client.post(
        f"{url}/new", data={"csrf_token": token, "kind": "short", "prompt": "?", "accepted": " "}
    )
    assert no_accepted.status_code == 422
    missing = await client.post(
        f"{url}/9", data={"csrf_token": token, "kind": "true_false", "prompt": "x"}
    )
    assert missing.status_code == 404
    assert len((await _quiz(client, auth(teacher), quiz_id))["questions"]) == 4

    removed = await client.post(f"{url}/2/delete", data={"csrf_token": token})
    assert removed.status_code == 303
    quiz = await _quiz(client, auth(teacher), quiz_id)
    assert [q["kind"] for q in quiz["questions"]] == ["single", "multiple", "short"]

    # Reordering: a question moves, the others keep their order and their answers.
    editor = await client.get(f"/teach/quizzes/{quiz_id}/edit")
    assert f'action="{url}/2/move"' in editor.text and "Move question 3 up" in editor.text
    assert "Move question 1 up" not in editor.text and "Move question 3 down" not in editor.text
    up = await client.post(f"{url}/2/move", data={"csrf_token": token, "position": "0"})
    assert up.status_code == 303
    quiz = await _quiz(client, auth(teacher), quiz_id)
    assert [q["kind"] for q in quiz["questions"]] == ["short", "single", "multiple"]
    assert quiz["questions"][2]["answer"] == [0, 2]
    outside = await client.post(f"{url}/0/move", data={"csrf_token": token, "position": "3"})
    assert outside.status_code == 422 and 'role="alert"' in outside.text
    back = await client.post(f"{url}/0/move", data={"csrf_token": token, "position": "2"})
    assert back.status_code == 303
    quiz = await _quiz(client, auth(teacher), quiz_id)
    assert [q["kind"] for q in quiz["questions"]] == ["single", "multiple", "short"]

    settings = await client.post(
        f"/teach/quizzes/{quiz_id}/edit",
        data={
            "csrf_token": token,
            "title": "Light quiz",
            "lesson_id": "",
            "pass_percent": "75",
            "time_limit_min": "1.5",
            "max_attempts": "",
            "weight": "1",
        },
    )
    assert settings.status_code == 303, settings.text
    quiz = await _quiz(client, auth(teacher), quiz_id)
    assert (quiz["title"], quiz["pass_percent"], quiz["time_limit_s"]) == ("Light quiz", 75, 90)
    assert quiz["lesson_id"] is None and quiz["max_attempts"] is None
    page = await client.get(f"/teach/quizzes/{quiz_id}/edit")
    assert "A prism (right)" in page.text and "300000 · 300 000" in page.text

    # A student takes the quiz exactly as it was written.
    await client.post(f"{API}/courses/{course['id']}/enroll", headers=auth(student))
    start = await client.post(f"{API}/quizzes/{quiz_id}/attempts/start", headers=auth(student))
    assert start.status_code == 201, start.text
    result = await client.post(
        f"{API}/quizzes/{quiz_id}/attempts",
        json={"answers": [2, [0, 2], "300 000"]},
        headers=auth(student),
    )
    assert result.status_code in (200, 201), result.text
    assert result.json()["percent"] == 100

    deleted = await client.post(f"/teach/quizzes/{quiz_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    gone = await client.get(f"{API}/quizzes/{quiz_id}", headers=auth(teacher))
    assert gone.status_code == 404


async def test_only_the_owner_edits_a_quiz_and_assistants_read_its_answers(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    owner = await make_user(Role.teacher)
    assistant = await make_user(Role.teacher)
    stranger = await make_user(Role.teacher)
    course = await create_course(client, auth(owner), is_published=False)
    r = await client.post(
        f"{API}/courses/{course['id']}/quizzes",
        json={
            "title": "Secret quiz",
            "questions": [{"prompt": "2+2?", "kind": "single", "options": ["3", "4"], "answer": 1}],
        },
        headers=auth(owner),
    )
    assert r.status_code == 201, r.text
    quiz_id = r.json()["id"]
    r = await client.post(
        f"{API}/courses/{course['id']}/assistants",
        json={"email": assistant.email},
        headers=auth(owner),
    )
    assert r.status_code == 201, r.text

    await signed_in(client, assistant)
    page = await client.get(f"/teach/quizzes/{quiz_id}/edit")
    assert page.status_code == 200 and "4 (right)" in page.text
    assert "/questions/new" not in page.text and 'action="/teach/quizzes' not in page.text
    listing = await client.get(f"/teach/courses/{course['id']}/quizzes")
    assert "/quizzes/new" not in listing.text and 'name="json"' not in listing.text
    assert (await client.get(f"/teach/quizzes/{quiz_id}/questions/0")).status_code == 403
    token = csrf_of(page.text)
    for path, data in (
        (f"/teach/quizzes/{quiz_id}/edit", {"title": "Mine"}),
        (f"/teach/quizzes/{quiz_id}/questions/new", {"kind": "true_false", "prompt": "x"}),
        (f"/teach/quizzes/{quiz_id}/questions/0/delete", {}),
        (f"/teach/quizzes/{quiz_id}/questions/0/move", {"position": "0"}),
        (f"/teach/quizzes/{quiz_id}/delete", {}),
        (f"/teach/courses/{course['id']}/quizzes/new", {"title": "Mine"}),
    ):
        refused = await client.post(path, data={"csrf_token": token, **data})
        assert refused.status_code == 403, (path, refused.status_code)
    without_token = await client.post(f"/teach/quizzes/{quiz_id}/delete")
    assert without_token.status_code == 403

    client.cookies.clear()
    await signed_in(client, stranger)
    token = csrf_of((await client.get("/teach/courses")).text)
    assert (await client.get(f"/teach/quizzes/{quiz_id}/edit")).status_code == 404
    hidden = await client.post(f"/teach/quizzes/{quiz_id}/delete", data={"csrf_token": token})
    assert hidden.status_code == 404
    quiz = await _quiz(client, auth(owner), quiz_id)
    assert quiz["title"] == "Secret quiz" and len(quiz["questions"]) == 1
