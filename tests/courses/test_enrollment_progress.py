"""Enrollment, student lists, lesson progress, video analytics and the service helpers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from studyhall.core.clock import clock, utcnow
from studyhall.core.db import Database
from studyhall.courses import service
from tests.courses.helpers import API, Headers, World, add_lesson, create_course, enroll


async def test_enroll_and_unenroll(client: httpx.AsyncClient, world: World, auth: Headers) -> None:
    a, b, c = world.course_a["id"], world.course_b["id"], world.course_c["id"]
    s = auth(world.other_student)
    r = await client.post(f"{API}/courses/{c}/enroll", headers=s)
    assert r.status_code == 201
    assert r.json()["course_id"] == c and r.json()["student_id"] == str(world.other_student.id)
    r = await client.post(f"{API}/courses/{c}/enroll", headers=s)
    assert r.status_code == 409 and r.json()["code"] == "already_enrolled"
    assert (await client.post(f"{API}/courses/{b}/enroll", headers=s)).status_code == 404
    for user in (world.teacher, world.admin):
        assert (
            await client.post(f"{API}/courses/{a}/enroll", headers=auth(user))
        ).status_code == 403
    assert (await client.post(f"{API}/courses/{a}/enroll")).status_code == 401

    r = await client.get(f"{API}/courses/enrolled", headers=s)
    assert [x["id"] for x in r.json()["items"]] == [c]
    assert (
        await client.get(f"{API}/courses/enrolled", headers=auth(world.teacher))
    ).status_code == 403

    assert (await client.delete(f"{API}/courses/{c}/enroll", headers=s)).status_code == 204
    r = await client.delete(f"{API}/courses/{c}/enroll", headers=s)
    assert r.status_code == 404 and r.json()["code"] == "not_enrolled"
    assert (await client.get(f"{API}/courses/enrolled", headers=s)).json()["total"] == 0


async def test_progress_percent_and_course_progress(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    t, s = auth(world.teacher), auth(world.student)
    cid = world.course_a["id"]
    lessons = [world.lesson_a] + [await add_lesson(client, t, cid, title=f"L{i}") for i in range(3)]
    before = (await client.get(f"{API}/courses/enrolled", headers=s)).json()["items"][0]
    assert before["progress_percent"] == 0.0 and before["lessons_total"] == 4

    r = await client.put(
        f"{API}/lessons/{lessons[1]['id']}/progress", json={"completed": True}, headers=s
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["completed"] is True and body["completed_at"] is not None
    assert body["course_progress_percent"] == 25.0
    r = await client.put(
        f"{API}/lessons/{lessons[2]['id']}/progress", json={"completed": True}, headers=s
    )
    assert r.json()["course_progress_percent"] == 50.0
    r = await client.put(
        f"{API}/lessons/{lessons[2]['id']}/progress", json={"completed": False}, headers=s
    )
    assert r.json()["completed"] is False and r.json()["course_progress_percent"] == 25.0

    item = (await client.get(f"{API}/courses/enrolled", headers=s)).json()["items"][0]
    assert item["progress_percent"] == 25.0 and item["lessons_completed"] == 1
    assert item["last_activity_at"] > before["last_activity_at"]
    assert item["last_activity_at"].endswith("Z")

    r = await client.get(f"{API}/courses/{cid}/progress", headers=s)
    assert r.status_code == 200
    progress = r.json()
    assert progress["lessons_total"] == 4 and progress["progress_percent"] == 25.0
    assert [x["completed"] for x in progress["lessons"]] == [False, True, False, False]
    assert [x["lesson_id"] for x in progress["lessons"]] == [x["id"] for x in lessons]

    # Who may report and read progress.
    lesson = lessons[0]["id"]
    for user, status in (
        (world.teacher, 403),
        (world.admin, 403),
        (world.other_student, 403),
    ):
        r = await client.put(
            f"{API}/lessons/{lesson}/progress", json={"completed": True}, headers=auth(user)
        )
        assert r.status_code == status
        r = await client.get(f"{API}/courses/{cid}/progress", headers=auth(user))
        assert r.status_code == status
    r = await client.put(
        f"{API}/lessons/{world.lesson_b['id']}/progress", json={"completed": True}, headers=s
    )
    assert r.status_code == 404
    assert (await client.put(f"{API}/lessons/{lesson}/progress", json={})).status_code == 401
    r = await client.put(
        f"{API}/lessons/{lesson}/progress", json={"video_position_s": -1}, headers=s
    )
    assert r.status_code == 422


async def test_video_progress_is_clamped_to_the_duration_and_needs_a_video(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    s = auth(world.student)
    lesson = world.lesson_a["id"]  # a 100-s video
    r = await client.put(
        f"{API}/lessons/{lesson}/progress",
        json={"video_position_s": 250, "video_watched_s": 99999},
        headers=s,
    )
    assert r.status_code == 200, r.text
    assert r.json()["video_position_s"] == 100 and r.json()["video_watched_s"] == 100
    r = await client.get(f"{API}/lessons/{lesson}/video-analytics", headers=auth(world.teacher))
    assert r.json()["average_watch_time_s"] == 100

    no_video = await add_lesson(client, auth(world.teacher), world.course_a["id"], title="Text")
    r = await client.put(
        f"{API}/lessons/{no_video['id']}/progress", json={"video_watched_s": 10}, headers=s
    )
    assert r.status_code == 422 and r.json()["code"] == "lesson_has_no_video"
    r = await client.put(
        f"{API}/lessons/{no_video['id']}/progress", json={"completed": True}, headers=s
    )
    assert r.status_code == 200 and r.json()["completed"] is True


async def test_video_analytics_from_watch_events(
    client: httpx.AsyncClient, world: World, auth: Headers, make_user: Any
) -> None:
    # Frozen in the past: moving forward from there never issues tokens "from the future".
    past = utcnow() - timedelta(days=3)
    clock.freeze(past.replace(hour=10, minute=0, second=0, microsecond=0))
    cid = world.course_a["id"]
    lesson = world.lesson_a["id"]  # duration 100 s
    s1, s2, s3, s4 = (
        world.student,
        await make_user("student"),
        await make_user("student"),
        await make_user("student"),
    )
    for user in (s2, s3, s4):
        await enroll(client, auth(user), cid)

    async def report(user: Any, **body: Any) -> dict[str, Any]:
        r = await client.put(f"{API}/lessons/{lesson}/progress", json=body, headers=auth(user))
        assert r.status_code == 200, r.text
        return r.json()

    await report(s1, video_position_s=10, video_watched_s=10)
    await report(s1, video_position_s=50, video_watched_s=50)
    clock.advance(timedelta(days=1))
    done = await report(s1, video_position_s=95, video_watched_s=95)
    assert done["completed"] is True  # 95% of the video watched
    await report(s2, video_position_s=35, video_watched_s=35)
    await report(s3, video_position_s=5, video_watched_s=30)
    retried = await report(s3, video_watched_s=20)  # a late, lower counter never lowers it
    assert retried["video_watched_s"] == 30 and retried["video_position_s"] == 5
    await report(s4, completed=True)  # completed without watching: not a viewer

    r = await client.get(f"{API}/lessons/{lesson}/video-analytics", headers=auth(world.teacher))
    assert r.status_code == 200, r.text
    figures = r.json()
    assert figures["watch_events"] == 6
    assert figures["unique_viewers"] == 3
    assert figures["views"] == 4  # (s1, day 1), (s1, day 2), (s2, day 2), (s3, day 2)
    assert figures["completions"] == 1
    assert figures["completion_rate"] == round(1 / 3, 4)
    assert figures["average_watch_time_s"] == round((95 + 35 + 30) / 3, 2)
    assert figures["duration_s"] == 100
    histogram = {b["from_percent"]: b["viewers"] for b in figures["drop_off"]}
    assert histogram == {0: 1, 10: 0, 20: 0, 30: 1, 40: 0, 50: 0, 60: 0, 70: 0, 80: 0, 90: 1}

    for user, status in (
        (world.student, 403),
        (world.other_teacher, 403),
        (world.admin, 200),
    ):
        r = await client.get(f"{API}/lessons/{lesson}/video-analytics", headers=auth(user))
        assert r.status_code == status
    r = await client.get(
        f"{API}/lessons/{world.lesson_b['id']}/video-analytics", headers=auth(world.other_teacher)
    )
    assert r.status_code == 404


async def test_course_students_and_teacher_students(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    a, b, c = world.course_a["id"], world.course_b["id"], world.course_c["id"]
    await enroll(client, auth(world.other_student), a)
    await enroll(client, auth(world.student), c)
    await client.put(
        f"{API}/lessons/{world.lesson_a['id']}/progress",
        json={"completed": True},
        headers=auth(world.student),
    )
    r = await client.get(f"{API}/courses/{a}/students", headers=auth(world.teacher))
    assert r.status_code == 200
    rows = {row["student_id"]: row for row in r.json()["items"]}
    assert set(rows) == {str(world.student.id), str(world.other_student.id)}
    assert rows[str(world.student.id)]["progress_percent"] == 100.0
    assert rows[str(world.other_student.id)]["progress_percent"] == 0.0
    assert rows[str(world.student.id)]["email"] == world.student.email
    for user, course_id, status in (
        (world.other_teacher, a, 403),
        (world.student, a, 403),
        (world.other_teacher, b, 404),
        (world.admin, a, 200),
    ):
        r = await client.get(f"{API}/courses/{course_id}/students", headers=auth(user))
        assert r.status_code == status
    assert (await client.get(f"{API}/courses/{a}/students")).status_code == 401

    r = await client.get(f"{API}/teacher/students", headers=auth(world.teacher))
    assert r.status_code == 200
    assert {(x["student_id"], x["course_id"]) for x in r.json()["items"]} == {
        (str(world.student.id), a),
        (str(world.other_student.id), a),
    }
    r = await client.get(f"{API}/teacher/students", headers=auth(world.other_teacher))
    assert {(x["student_id"], x["course_id"]) for x in r.json()["items"]} == {
        (str(world.student.id), c)
    }
    r = await client.get(
        f"{API}/teacher/students", params={"course_id": c}, headers=auth(world.teacher)
    )
    assert r.status_code == 404
    r = await client.get(
        f"{API}/teacher/students", params={"course_id": c}, headers=auth(world.admin)
    )
    assert r.status_code == 200 and r.json()["total"] == 1
    assert (
        await client.get(f"{API}/teacher/students", headers=auth(world.student))
    ).status_code == 403
    assert (await client.get(f"{API}/teacher/students", headers=auth(world.admin))).json()[
        "total"
    ] == 3


async def test_service_helpers_for_other_domains(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    a, b = world.course_a["id"], world.course_b["id"]
    draft = await create_course(client, auth(world.teacher), is_published=False)
    async with db.session() as session:
        assert await service.teacher_can_see_student(
            session, teacher_id=world.teacher.id, student_id=world.student.id
        )
        assert not await service.teacher_can_see_student(
            session, teacher_id=world.other_teacher.id, student_id=world.student.id
        )
        ids = await service.enrolled_course_ids(session, user_id=world.student.id)
        assert [str(x) for x in ids] == [a]
        import uuid

        ua, ub, ud = uuid.UUID(a), uuid.UUID(b), uuid.UUID(draft["id"])
        assert await service.is_enrolled(session, user_id=world.student.id, course_id=ua)
        assert not await service.is_enrolled(session, user_id=world.other_student.id, course_id=ua)
        assert await service.can_read_course(session, user=world.student, course_id=ua)
        assert not await service.can_read_course(session, user=world.other_student, course_id=ua)
        assert not await service.can_read_course(session, user=world.other_teacher, course_id=ua)
        assert await service.can_read_course(session, user=world.teacher, course_id=ub)
        assert await service.can_read_course(session, user=world.admin, course_id=ud)
        assert not await service.can_read_course(session, user=world.student, course_id=ub)
        assert await service.can_manage_course(session, user=world.teacher, course_id=ua)
        assert not await service.can_manage_course(session, user=world.other_teacher, course_id=ua)
        assert await service.can_manage_course(session, user=world.admin, course_id=ua)
        assert (await service.get_course(session, ua)).code == world.course_a["code"]
        assert not await service.can_read_course(session, user=world.admin, course_id=uuid.uuid4())
        await service.delete_user_data(session, user_id=world.student.id)
    async with db.session() as session:
        assert await service.enrolled_course_ids(session, user_id=world.student.id) == []
