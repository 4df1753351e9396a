"""Courses: creation, catalog visibility, detail, updates, ownership, deletion."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from studyhall.audit.models import AuditLog
from studyhall.core.db import Database
from tests.courses.helpers import (
    API,
    Headers,
    World,
    add_lesson,
    add_module,
    count_statements,
    create_course,
    enroll,
    new_code,
)


async def test_create_course_roles_and_unique_code(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    code = new_code("inf")
    body = {"code": code, "title": "Informatics", "level": "10", "language": "es", "price": 9.99}
    r = await client.post(f"{API}/courses", json=body, headers=auth(world.teacher))
    assert r.status_code == 201, r.text
    course = r.json()
    assert course["code"] == code.upper()
    assert course["teacher_id"] == str(world.teacher.id)
    assert course["is_published"] is False
    assert course["price"] == 9.99
    assert course["student_count"] == 0 and course["modules"] == [] and course["lessons"] == []

    again = await client.post(
        f"{API}/courses", json={**body, "code": code.lower()}, headers=auth(world.other_teacher)
    )
    assert again.status_code == 409
    assert again.json()["code"] == "course_code_taken"

    assert (await client.post(f"{API}/courses", json=body)).status_code == 401
    r = await client.post(
        f"{API}/courses", json={**body, "code": new_code()}, headers=auth(world.student)
    )
    assert r.status_code == 403
    # A teacher cannot create a course for somebody else; an admin can.
    other = {**body, "code": new_code(), "teacher_id": str(world.other_teacher.id)}
    assert (
        await client.post(f"{API}/courses", json=other, headers=auth(world.teacher))
    ).status_code == 403
    r = await client.post(f"{API}/courses", json=other, headers=auth(world.admin))
    assert r.status_code == 201 and r.json()["teacher_id"] == str(world.other_teacher.id)
    bad = {**body, "code": new_code(), "teacher_id": str(world.student.id)}
    r = await client.post(f"{API}/courses", json=bad, headers=auth(world.admin))
    assert r.status_code == 422 and r.json()["code"] == "invalid_teacher"
    # Unknown fields are refused (no mass assignment).
    r = await client.post(
        f"{API}/courses", json={**body, "code": new_code(), "id": "x"}, headers=auth(world.teacher)
    )
    assert r.status_code == 422


async def test_catalog_visibility_and_filters(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    async def ids(user: Any, **params: Any) -> set[str]:
        r = await client.get(f"{API}/courses", params=params, headers=auth(user))
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == len(page["items"]) and page["limit"] == 20
        return {c["id"] for c in page["items"]}

    a, b, c = world.course_a["id"], world.course_b["id"], world.course_c["id"]
    assert await ids(world.student) == {a, c}
    assert await ids(world.teacher) == {a, b, c}
    assert await ids(world.other_teacher) == {a, c}
    assert await ids(world.admin) == {a, b, c}
    assert await ids(world.student, teacher_id=str(world.other_teacher.id)) == {c}
    assert await ids(world.student, search="course c") == {c}
    assert await ids(world.teacher, search="DRAFT") == {b}
    assert await ids(world.admin, is_published="false") == {b}
    assert (await client.get(f"{API}/courses")).status_code == 401
    # The public catalog needs no token: published courses that are not private.
    anonymous = await client.get(f"{API}/catalog/courses")
    assert anonymous.status_code == 200
    assert {item["id"] for item in anonymous.json()["items"]} <= {a, c}
    assert b not in {item["id"] for item in anonymous.json()["items"]}
    assert (
        await client.get(f"{API}/catalog/courses", headers={"Authorization": "Bearer x"})
    ).status_code == 401

    special = await create_course(
        client, auth(world.teacher), title="100% Chemistry", level="7", language="fr"
    )
    assert await ids(world.student, level="7") == {special["id"]}
    assert await ids(world.student, language="fr") == {special["id"]}
    assert await ids(world.student, search="100%") == {special["id"]}
    assert special["category"] is None
    coded = await create_course(client, auth(world.teacher), title="Web", category=" Web  Design ")
    assert coded["category"] == "web design"
    assert await ids(world.student, category="WEB DESIGN") == {coded["id"]}
    assert await ids(world.student, category="cooking") == set()
    r = await client.get(f"{API}/courses", params={"limit": 1}, headers=auth(world.admin))
    assert r.json()["total"] == 5 and len(r.json()["items"]) == 1
    assert (
        await client.get(f"{API}/courses", params={"limit": 101}, headers=auth(world.admin))
    ).status_code == 422


async def test_course_detail_is_ordered_and_counts_students(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    t = auth(world.teacher)
    cid = world.course_a["id"]
    m2 = await add_module(client, t, cid, title="Second")
    m1 = await add_module(client, t, cid, title="First", position=0)
    l2 = await add_lesson(client, t, cid, module_id=m1["id"], title="1.2")
    await add_lesson(client, t, cid, module_id=m1["id"], title="1.1", position=0)
    await add_lesson(client, t, cid, module_id=m2["id"], title="2.1")
    assert l2["position"] == 0
    r = await client.get(f"{API}/courses/{cid}", headers=auth(world.student))
    assert r.status_code == 200
    detail = r.json()
    assert detail["student_count"] == 1
    assert [m["title"] for m in detail["modules"]] == ["First", "Second"]
    assert [m["position"] for m in detail["modules"]] == [0, 1]
    assert [x["title"] for x in detail["modules"][0]["lessons"]] == ["1.1", "1.2"]
    assert [x["title"] for x in detail["lessons"]] == ["A1", "1.1", "1.2", "2.1"]
    assert detail["lesson_count"] == 4
    assert "content" not in detail["lessons"][0]
    assert detail["guide"] is None  # the tutor's guide is for the teacher
    owner = (await client.get(f"{API}/courses/{cid}", headers=t)).json()
    assert owner["guide"] == ""
    # The public catalog shows a published course to anyone, without the teacher's fields.
    public = await client.get(f"{API}/catalog/courses/{cid}")
    assert public.status_code == 200
    assert public.json()["lesson_count"] == 4
    assert public.json()["guide"] is None

    # Catalog visibility: drafts only for their teacher and admins.
    b = world.course_b["id"]
    for user, status in (
        (world.student, 404),
        (world.other_student, 404),
        (world.other_teacher, 404),
        (world.teacher, 200),
        (world.admin, 200),
    ):
        assert (await client.get(f"{API}/courses/{b}", headers=auth(user))).status_code == status
    assert (await client.get(f"{API}/courses/{b}")).status_code == 401
    assert (await client.get(f"{API}/catalog/courses/{b}")).status_code == 404  # a draft
    unknown = "01900000-0000-7000-8000-000000000000"
    assert (
        await client.get(f"{API}/courses/{unknown}", headers=auth(world.admin))
    ).status_code == 404


async def test_update_course_permissions_and_owner_change_audit(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    a, b = world.course_a["id"], world.course_b["id"]
    patch = {"title": "Renamed"}
    cases = [
        (world.student, a, 403),
        (world.other_teacher, a, 403),
        (world.other_teacher, b, 404),
        (world.other_student, b, 404),
        (world.teacher, a, 200),
        (world.admin, b, 200),
    ]
    for user, course_id, status in cases:
        r = await client.patch(f"{API}/courses/{course_id}", json=patch, headers=auth(user))
        assert r.status_code == status, (user.role, course_id, r.text)
    assert (await client.patch(f"{API}/courses/{a}", json=patch)).status_code == 401

    # Teachers cannot move ownership; admins can, and it is audited.
    move = {"teacher_id": str(world.other_teacher.id)}
    r = await client.patch(f"{API}/courses/{a}", json=move, headers=auth(world.teacher))
    assert r.status_code == 403
    r = await client.patch(f"{API}/courses/{a}", json=move, headers=auth(world.admin))
    assert r.status_code == 200 and r.json()["teacher_id"] == str(world.other_teacher.id)
    async with db.session() as session:
        logs = list(
            await session.scalars(select(AuditLog).where(AuditLog.action == "course.owner_changed"))
        )
    assert len(logs) == 1
    assert logs[0].actor_id == world.admin.id and logs[0].target_id == a
    assert logs[0].details == {"from": str(world.teacher.id), "to": str(world.other_teacher.id)}
    # The former owner lost write access; the new one has it.
    r = await client.patch(f"{API}/courses/{a}", json=patch, headers=auth(world.teacher))
    assert r.status_code == 403
    r = await client.patch(f"{API}/courses/{a}", json=patch, headers=auth(world.other_teacher))
    assert r.status_code == 200

    # Code changes keep codes unique.
    r = await client.patch(
        f"{API}/courses/{b}", json={"code": world.course_c["code"]}, headers=auth(world.teacher)
    )
    assert r.status_code == 409
    r = await client.patch(
        f"{API}/courses/{b}", json={"is_published": True}, headers=auth(world.teacher)
    )
    assert r.status_code == 200 and r.json()["is_published"] is True
    r = await client.patch(f"{API}/courses/{b}", json={"title": None}, headers=auth(world.teacher))
    assert r.status_code == 422


async def test_delete_course(client: httpx.AsyncClient, world: World, auth: Headers) -> None:
    a = world.course_a["id"]
    for user, status in ((world.student, 403), (world.other_teacher, 403)):
        assert (await client.delete(f"{API}/courses/{a}", headers=auth(user))).status_code == status
    assert (await client.delete(f"{API}/courses/{a}")).status_code == 401
    r = await client.delete(f"{API}/courses/{a}", headers=auth(world.teacher))
    assert r.status_code == 204
    assert (await client.get(f"{API}/courses/{a}", headers=auth(world.teacher))).status_code == 404
    lesson = world.lesson_a["id"]
    assert (
        await client.get(f"{API}/lessons/{lesson}", headers=auth(world.admin))
    ).status_code == 404
    r = await client.get(f"{API}/courses/enrolled", headers=auth(world.student))
    assert r.json()["total"] == 0
    c = world.course_c["id"]
    assert (await client.delete(f"{API}/courses/{c}", headers=auth(world.admin))).status_code == 204


@pytest.mark.parametrize("lessons", [2, 20])
async def test_course_detail_statement_count_does_not_grow(
    client: httpx.AsyncClient, make_user: Any, auth: Headers, db: Database, lessons: int
) -> None:
    teacher = await make_user("teacher")
    course = await create_course(client, auth(teacher))
    modules = [await add_module(client, auth(teacher), course["id"]) for _ in range(2)]
    for i in range(lessons):
        await add_lesson(client, auth(teacher), course["id"], module_id=modules[i % 2]["id"])
    for _ in range(lessons):
        await enroll(client, auth(await make_user("student")), course["id"])
    with count_statements(db) as statements:
        r = await client.get(f"{API}/courses/{course['id']}", headers=auth(teacher))
    assert r.status_code == 200 and len(r.json()["lessons"]) == lessons
    assert r.json()["student_count"] == lessons
    # user, course, modules, lessons, student count (+ BEGIN/COMMIT on SQLite): fixed.
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 5, statements
