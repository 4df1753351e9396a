"""Student pages: catalogue, join code, enrollment, course outline, lessons and progress."""

from __future__ import annotations

import re

import httpx

from studyhall.identity.models import Role
from tests.conftest import MakeUser
from tests.courses.helpers import Headers, add_lesson, add_module, create_course
from tests.web.conftest import csrf_of, post_form, signed_in


async def test_a_student_finds_joins_and_follows_a_course(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    course = await create_course(
        client, auth(teacher), title="Optics for beginners", description="Light **bends**."
    )
    hidden = await create_course(client, auth(teacher), title="Draft optics", is_published=False)
    module = await add_module(client, auth(teacher), course["id"], title="Refraction")
    first = await add_lesson(
        client,
        auth(teacher),
        course["id"],
        module_id=module["id"],
        title="Snell's law",
        content="# Snell\n\nn1 sin θ1 = n2 sin θ2 <script>alert(1)</script>",
        video_url="https://media.example.org/snell.mp4",
        duration_s=120,
    )
    second = await add_lesson(
        client, auth(teacher), course["id"], module_id=module["id"], title="Total reflection"
    )
    await signed_in(client, student)

    catalogue = await client.get("/catalogue", params={"q": "optics"})
    assert "Optics for beginners" in catalogue.text
    assert "Draft optics" not in catalogue.text  # unpublished courses stay out of the catalogue
    rows = await client.get(
        "/catalogue", params={"q": "zzz"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert "<html" not in rows.text and "No course matches" in rows.text

    unknown = await post_form(client, "/join", {"code": "NOPE"}, form_page="/catalogue")
    assert unknown.status_code == 404 and 'role="alert"' in unknown.text
    draft = await post_form(client, "/join", {"code": hidden["code"]}, form_page="/catalogue")
    assert draft.status_code == 404
    joined = await post_form(client, "/join", {"code": course["code"]}, form_page="/catalogue")
    assert joined.status_code == 303 and joined.headers["location"] == f"/courses/{course['id']}"

    outline = await client.get(f"/courses/{course['id']}")
    assert "Refraction" in outline.text and f'href="/lessons/{first["id"]}"' in outline.text
    assert "<strong>bends</strong>" in outline.text
    mine = await client.get("/my/courses")
    assert "Optics for beginners" in mine.text and "0 of 2 lessons" in mine.text

    lesson = await client.get(f"/lessons/{first['id']}")
    assert lesson.status_code == 200
    assert "<h1>Snell</h1>" in lesson.text
    assert "<script>alert(1)</script>" not in lesson.text  # markdown without raw HTML
    assert 'data-resume="0' in lesson.text and f'href="/lessons/{second["id"]}"' in lesson.text

    # The player's heartbeat (fetch with the CSRF header), then the page resumes there.
    token = csrf_of(lesson.text)
    beat = await client.post(
        f"/lessons/{first['id']}/progress",
        data={"video_position_s": "42.5", "video_watched_s": "40"},
        headers={"X-CSRF-Token": token},
    )
    assert beat.status_code == 204, beat.text
    refused = await client.post(
        f"/lessons/{first['id']}/progress", data={"video_position_s": "50", "video_watched_s": "45"}
    )
    assert refused.status_code == 403  # no token, no write
    again = await client.get(f"/lessons/{first['id']}")
    assert 'data-resume="42.5"' in again.text

    done = await client.post(
        f"/lessons/{second['id']}/progress", data={"completed": "true", "csrf_token": token}
    )
    assert done.status_code == 303
    mine = await client.get("/my/courses")
    assert "1 of 2 lessons" in mine.text


async def test_students_cannot_reach_what_they_may_not_see(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    course = await create_course(client, auth(teacher))
    lesson = await add_lesson(client, auth(teacher), course["id"], title="Enrolled only")
    draft = await create_course(client, auth(teacher), is_published=False)
    draft_lesson = await add_lesson(client, auth(teacher), draft["id"])
    await signed_in(client, student)
    assert (await client.get(f"/lessons/{lesson['id']}")).status_code == 403
    assert (await client.get(f"/lessons/{draft_lesson['id']}")).status_code == 404
    assert (await client.get(f"/courses/{draft['id']}")).status_code == 404
    page = await client.get(f"/courses/{course['id']}")
    token = csrf_of(page.text)
    enroll = await client.post(f"/courses/{draft['id']}/enroll", data={"csrf_token": token})
    assert enroll.status_code == 404
    beat = await client.post(
        f"/lessons/{lesson['id']}/progress",
        data={"video_position_s": "1"},
        headers={"X-CSRF-Token": token},
    )
    assert beat.status_code == 403  # not enrolled: nothing is recorded


async def test_student_pages_are_for_students(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    teacher = await make_user(Role.teacher)
    anonymous = await client.get("/my/courses")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/sign-in?next=/my/courses"
    await signed_in(client, teacher)
    for path in ("/my/courses", "/catalogue"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert re.search(r"cannot open this page", response.text)


async def test_an_admin_finds_and_blocks_a_user(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.admin)
    target = await make_user(Role.student, full_name="Ada Lovelace")
    await signed_in(client, admin)
    listing = await client.get("/admin/users", params={"q": "lovelace"})
    assert "Ada Lovelace" in listing.text and admin.email not in listing.text
    rows = await client.get(
        "/admin/users",
        params={"q": "lovelace"},
        headers={"HX-Request": "true", "HX-Target": "users"},
    )
    assert "<html" not in rows.text and "Ada Lovelace" in rows.text
    token = csrf_of(listing.text)
    blocked = await client.post(
        f"/admin/users/{target.id}", data={"is_active": "false", "csrf_token": token}
    )
    assert blocked.status_code == 303
    assert "blocked" in (await client.get("/admin/users", params={"q": "lovelace"})).text
    itself = await client.post(
        f"/admin/users/{admin.id}", data={"is_active": "false", "csrf_token": token}
    )
    assert itself.status_code == 409 and 'role="alert"' in itself.text
    client.cookies.clear()
    student = await make_user(Role.student)
    await signed_in(client, student)
    assert (await client.get("/admin/users")).status_code == 403
    refused = await client.post(
        f"/admin/users/{target.id}",
        data={"is_active": "true", "csrf_token": csrf_of((await client.get("/profile")).text)},
    )
    assert refused.status_code == 403


async def test_a_teacher_sees_their_students_and_exports_them(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    other = await make_user(Role.teacher)
    student = await make_user(Role.student, full_name="=HYPERLINK(1)")
    course = await create_course(client, auth(teacher), title="Mechanics")
    theirs = await create_course(client, auth(other), title="Not mine")
    await add_lesson(client, auth(teacher), course["id"])
    r = await client.post(f"/api/v1/courses/{course['id']}/enroll", headers=auth(student))
    assert r.status_code in (200, 201), r.text
    await signed_in(client, teacher)
    listing = await client.get("/teach/courses")
    assert "Mechanics" in listing.text and "Not mine" not in listing.text
    roster = await client.get(f"/teach/courses/{course['id']}/students")
    assert student.email in roster.text and "0 of 1 lessons" in roster.text
    exported = await client.get(f"/teach/courses/{course['id']}/students.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0].startswith("full_name,email")
    assert lines[1].startswith("'=HYPERLINK(1)," + student.email)  # no formula in a spreadsheet
    assert (await client.get(f"/teach/courses/{theirs['id']}/students")).status_code == 403
    assert (await client.get(f"/teach/courses/{theirs['id']}/students.csv")).status_code == 403
