"""The course editor in the browser: a teacher creates a course, its modules and lessons, and
reorders them with plain form posts or htmx; assistants read the outline and nobody else
changes anything."""

from __future__ import annotations

import re
from typing import Any

import httpx

from studyhall.identity.models import Role
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, add_lesson, add_module, create_course, new_code
from tests.web.conftest import csrf_of, signed_in

HTMX = {"HX-Request": "true", "HX-Target": "outline"}


async def _outline(client: httpx.AsyncClient, headers: dict[str, str], course_id: str) -> Any:
    r = await client.get(f"{API}/courses/{course_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_teacher_creates_a_course_and_edits_its_settings(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    await signed_in(client, teacher)
    form = await client.get("/teach/courses/new")
    assert form.status_code == 200 and 'name="guide"' in form.text
    token = csrf_of(form.text)
    created = await client.post(
        "/teach/courses/new",
        data={
            "csrf_token": token,
            "title": "Optics",
            "code": "",
            "description": "Light and lenses",
            "guide": "Ask before telling.",
            "language": "en",
            "level": "",
            "visibility": "invite",
            "quiz_grading": "last",
        },
    )
    assert created.status_code == 303, created.text
    course_id = created.headers["location"].split("/")[3]
    course = await _outline(client, auth(teacher), course_id)
    assert course["title"] == "Optics" and course["teacher_id"] == str(teacher.id)
    assert re.fullmatch(r"C[0-9A-F]{8}", course["code"])  # picked by the service
    assert course["visibility"] == "invite" and course["quiz_grading"] == "last"
    assert course["is_published"] is False and course["guide"] == "Ask before telling."

    listing = await client.get("/teach/courses")
    assert f'/teach/courses/{course_id}/edit">Optics' in listing.text and "owner" in listing.text

    editor = await client.get(f"/teach/courses/{course_id}/edit")
    assert editor.status_code == 200 and 'id="outline"' in editor.text
    saved = await client.post(
        f"/teach/courses/{course_id}/edit",
        data={
            "csrf_token": token,
            "title": "Optics I",
            "code": "OPT101",
            "description": "",
            "guide": "",
            "language": "fr",
            "level": "10",
            "visibility": "public",
            "quiz_grading": "best",
            "is_published": "true",
            "price": "49,90",
            "image_url": "https://images.example.org/optics.png",
        },
    )
    assert saved.status_code == 303, saved.text
    course = await _outline(client, auth(teacher), course_id)
    assert (course["title"], course["code"], course["language"], course["level"]) == (
        "Optics I",
        "OPT101",
        "fr",
        "10",
    )
    assert course["is_published"] is True
    assert (course["price"], course["image_url"]) == (
        49.9,
        "https://images.example.org/optics.png",
    )
    editor = await client.get(f"/teach/courses/{course_id}/edit")
    assert 'name="price"' in editor.text and 'value="49.90"' in editor.text
    bad_price = await client.post(
        f"/teach/courses/{course_id}/edit",
        data={"csrf_token": token, "title": "Optics I", "language": "fr", "price": "-3"},
    )
    assert bad_price.status_code == 422 and 'role="alert"' in bad_price.text
    freed = await client.post(
        f"/teach/courses/{course_id}/edit",
        data={
            "csrf_token": token,
            "title": "Optics I",
            "language": "fr",
            "price": "",
            "image_url": "",
        },
    )
    assert freed.status_code == 303
    course = await _outline(client, auth(teacher), course_id)
    assert course["price"] is None and course["image_url"] is None

    other = await create_course(client, auth(teacher), code=new_code())
    taken = await client.post(
        f"/teach/courses/{course_id}/edit",
        data={"csrf_token": token, "title": "Optics I", "code": other["code"], "language": "fr"},
    )
    assert taken.status_code == 409 and 'role="alert"' in taken.text
    assert f'value="{other["code"]}"' in taken.text  # what the teacher typed stays in the form
    empty = await client.post(
        "/teach/courses/new", data={"csrf_token": token, "title": "", "language": "en"}
    )
    assert empty.status_code == 422 and 'role="alert"' in empty.text

    no_token = await client.post(f"/teach/courses/{course_id}/edit", data={"title": "Hijacked"})
    assert no_token.status_code == 403
    assert (await _outline(client, auth(teacher), course_id))["title"] == "Optics I"

    deleted = await client.post(f"/teach/courses/{course_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    gone = await client.get(f"{API}/courses/{course_id}", headers=auth(teacher))
    assert gone.status_code == 404


async def test_modules_and_lessons_are_added_edited_and_reordered(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    course = await create_course(client, auth(teacher))
    cid = course["id"]
    await signed_in(client, teacher)
    token = csrf_of((await client.get(f"/teach/courses/{cid}/edit")).text)

    for title in ("Waves", "Lenses"):
        r = await client.post(
            f"/teach/courses/{cid}/modules", data={"csrf_token": token, "title": title}
        )
        assert r.status_code == 303, r.text
    outline = await _outline(client, auth(teacher), cid)
    waves, lenses = outline["modules"]
    assert (waves["title"], lenses["title"]) == ("Waves", "Lenses")

    # Without JavaScript: the "down" button is a form that posts the new position.
    moved = await client.post(
        f"/teach/modules/{waves['id']}", data={"csrf_token": token, "position": "1"}
    )
    assert moved.status_code == 303 and moved.headers["location"].endswith("/edit#outline")
    outline = await _outline(client, auth(teacher), cid)
    assert [m["title"] for m in outline["modules"]] == ["Lenses", "Waves"]

    # With htmx: the same form answers with the outline only.
    swapped = await client.post(
        f"/teach/modules/{waves['id']}",
        data={"csrf_token": token, "position": "0"},
        headers=HTMX,
    )
    assert swapped.status_code == 200 and swapped.text.startswith('<section id="outline"')
    assert "<html" not in swapped.text and "Saved." in swapped.text
    assert swapped.text.index("Waves") < swapped.text.index("Lenses")
    renamed = await client.post(
        f"/teach/modules/{lenses['id']}",
        data={"csrf_token": token, "title": "Optical lenses"},
        headers=HTMX,
    )
    assert "Optical lenses" in renamed.text
    blank = await client.post(
        f"/teach/modules/{lenses['id']}", data={"csrf_token": token, "title": " "}, headers=HTMX
    )
    assert 'role="alert"' in blank.text and blank.text.startswith('<section id="outline"')

    new = await client.post(
        f"/teach/courses/{cid}/lessons",
        data={"csrf_token": token, "title": "Reflection", "module_id": waves["id"]},
    )
    assert new.status_code == 303
    first_id = new.headers["location"].split("/")[3]
    editor = await client.get(new.headers["location"])
    assert editor.status_code == 200 and 'name="content"' in editor.text
    saved = await client.post(
        f"/teach/lessons/{first_id}/edit",
        data={
            "csrf_token": token,
            "title": "Reflection",
            "module_id": waves["id"],
            "content": "# Mirrors\r\n\r\nAngles are **equal**.\r\n\r\n<script>alert(1)</script>",
            "video_url": "",
            "duration_s": "600",
        },
    )
    assert saved.status_code == 303, saved.text
    lesson = (await client.get(f"{API}/lessons/{first_id}", headers=auth(teacher))).json()
    assert lesson["content"].startswith("# Mirrors\n\nAngles") and lesson["duration_s"] == 600
    preview = await client.get(f"/teach/lessons/{first_id}/edit")
    assert "<strong>equal</strong>" in preview.text and "<script>alert" not in preview.text
    bad = await client.post(
        f"/teach/lessons/{first_id}/edit",
        data={"csrf_token": token, "title": "Reflection", "video_url": "javascript:alert(1)"},
    )
    assert bad.status_code == 422 and 'role="alert"' in bad.text

    second = await add_lesson(client, auth(teacher), cid, module_id=waves["id"], title="Refraction")
    up = await client.post(
        f"/teach/lessons/{second['id']}/move",
        data={"csrf_token": token, "position": "0"},
        headers=HTMX,
    )
    assert up.text.index("Refraction") < up.text.index("Reflection")
    outline = await _outline(client, auth(teacher), cid)
    assert [x["title"] for x in outline["modules"][0]["lessons"]] == ["Refraction", "Reflection"]

    # Moving a lesson to another module through its form, then out of every module.
    moved_lesson = await client.post(
        f"/teach/lessons/{first_id}/edit",
        data={"csrf_token": token, "title": "Reflection", "module_id": lenses["id"]},
    )
    assert moved_lesson.status_code == 303
    outline = await _outline(client, auth(teacher), cid)
    assert [x["title"] for x in outline["modules"][1]["lessons"]] == ["Reflection"]
    await client.post(
        f"/teach/lessons/{first_id}/edit",
        data={"csrf_token": token, "title": "Reflection", "module_id": ""},
    )
    page = await client.get(f"/teach/courses/{cid}/edit")
    assert "Lessons outside any module" in page.text

    removed = await client.post(f"/teach/lessons/{first_id}/delete", data={"csrf_token": token})
    assert removed.status_code == 303
    gone = await client.post(
        f"/teach/modules/{waves['id']}/delete", data={"csrf_token": token}, headers=HTMX
    )
    assert "Refraction" not in gone.text
    outline = await _outline(client, auth(teacher), cid)
    assert [m["title"] for m in outline["modules"]] == ["Optical lenses"]
    assert outline["lesson_count"] == 0


async def test_assistants_read_the_outline_and_only_the_owner_changes_it(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    owner = await make_user(Role.teacher)
    assistant = await make_user(Role.teacher)
    stranger = await make_user(Role.teacher)
    student = await make_user(Role.student)
    course = await create_course(client, auth(owner), title="Acoustics", is_published=False)
    cid = course["id"]
    module = await add_module(client, auth(owner), cid, title="Sound")
    lesson = await add_lesson(client, auth(owner), cid, module_id=module["id"], title="Echo")
    r = await client.post(
        f"{API}/courses/{cid}/assistants", json={"email": assistant.email}, headers=auth(owner)
    )
    assert r.status_code == 201, r.text

    await signed_in(client, assistant)
    listing = await client.get("/teach/courses")
    assert "Acoustics" in listing.text and "assistant" in listing.text
    editor = await client.get(f"/teach/courses/{cid}/edit")
    assert editor.status_code == 200 and "Echo" in editor.text
    assert f'action="/teach/modules/{module["id"]}' not in editor.text  # read-only
    assert f'action="/teach/courses/{cid}/edit"' not in editor.text
    lesson_page = await client.get(f"/teach/lessons/{lesson['id']}/edit")
    assert lesson_page.status_code == 200 and 'name="content"' not in lesson_page.text
    for path in ("students", "gradebook", "documents", "quizzes", "analytics"):
        seen = await client.get(f"/teach/courses/{cid}/{path}")
        assert seen.status_code == 200, (path, seen.text)
    assert 'name="file"' not in (await client.get(f"/teach/courses/{cid}/documents")).text
    token = csrf_of(editor.text)
    for path, data in (
        (f"/teach/courses/{cid}/edit", {"title": "Taken over", "language": "en"}),
        (f"/teach/courses/{cid}/modules", {"title": "Extra"}),
        (f"/teach/courses/{cid}/lessons", {"title": "Extra"}),
        (f"/teach/modules/{module['id']}", {"title": "Renamed"}),
        (f"/teach/modules/{module['id']}/delete", {}),
        (f"/teach/lessons/{lesson['id']}/edit", {"title": "Renamed"}),
        (f"/teach/lessons/{lesson['id']}/move", {"position": "0"}),
        (f"/teach/lessons/{lesson['id']}/delete", {}),
        (f"/teach/courses/{cid}/delete", {}),
    ):
        refused = await client.post(path, data={"csrf_token": token, **data})
        assert refused.status_code == 403, (path, refused.status_code)

    client.cookies.clear()
    await signed_in(client, stranger)
    token = csrf_of((await client.get("/teach/courses")).text)
    assert "Acoustics" not in (await client.get("/teach/courses")).text
    assert (await client.get(f"/teach/courses/{cid}/edit")).status_code == 404  # a draft
    assert (await client.get(f"/teach/lessons/{lesson['id']}/edit")).status_code == 404
    for path in (f"/teach/modules/{module['id']}", f"/teach/lessons/{lesson['id']}/delete"):
        hidden = await client.post(path, data={"csrf_token": token, "title": "Mine"})
        assert hidden.status_code == 404, path

    client.cookies.clear()
    await signed_in(client, student)
    assert (await client.get(f"/teach/courses/{cid}/edit")).status_code == 403
    assert (await client.get("/teach/courses/new")).status_code == 403

    outline = await _outline(client, auth(owner), cid)
    assert outline["title"] == "Acoustics" and outline["modules"][0]["title"] == "Sound"
    assert [x["title"] for x in outline["lessons"]] == ["Echo"]
