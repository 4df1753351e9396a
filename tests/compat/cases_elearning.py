"""Document 003's example requests (e-learning gateway), one case per endpoint."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from studyhall.identity import mail_tokens
from studyhall.identity.models import Role, User
from studyhall.jobs.models import Job
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.compat.example_checks import Trial, case
from tests.conftest import TEST_PASSWORD
from tests.video.media import tiny_mp4

B = "/compat/elearning/api/v1"
C = f"{B}/content"
# The document's standard error body (its OAuth login answers it while Google sign-in is not
# configured, as in the harness).
STANDARD_ERROR = {"detail": "", "error_code": "", "status_code": 0, "timestamp": ""}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _pair(t: Trial, user: User) -> dict[str, Any]:
    r = await t.client.post(f"{B}/login", json={"email": user.email, "mot_de_passe": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _course(t: Trial, headers: dict[str, str]) -> str:
    r = await t.client.post(
        f"{C}/admin/courses",
        # Free: a priced course is enrolled through a checkout (the dialect's documented 402).
        json={"name": "React Masterclass", "description": "Course description"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _lesson(t: Trial, headers: dict[str, str], course_id: str) -> str:
    r = await t.client.post(
        f"{C}/lessons",
        json={
            "course_id": course_id,
            "title": "Lesson Title",
            "description": "Lesson description",
            "video_url": "https://vimeo.com/123456",
            "video_type": "vimeo",
            "vimeo_id": "123456",
            "duration": 1800,
            "order": 1,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _classroom(t: Trial) -> tuple[dict[str, str], dict[str, str], str, str]:
    """A teacher's course with a lesson and an enrolled student (teacher, student, ids)."""
    _, teacher = await t.user(Role.teacher)
    _, student = await t.user()
    course_id = await _course(t, teacher)
    lesson_id = await _lesson(t, teacher, course_id)
    r = await t.client.post(f"{C}/courses/{course_id}/enroll", headers=student)
    assert r.status_code == 201, r.text
    return teacher, student, course_id, lesson_id


async def _quiz(t: Trial, teacher: dict[str, str], course_id: str, lesson_id: str) -> None:
    question = {"kind": "single", "options": ["Library", "Framework", "Language", "Tool"]}
    r = await t.client.post(
        f"/api/v1/courses/{course_id}/quizzes",
        json={
            "title": "React basics",
            "lesson_id": lesson_id,
            "pass_percent": 50,
            "questions": [
                {**question, "prompt": "What is React?", "answer": 0},
                {**question, "prompt": "What is Vue?", "answer": 1},
                {**question, "prompt": "What is TypeScript?", "answer": 2},
            ],
        },
        headers=teacher,
    )
    assert r.status_code == 201, r.text


async def _video(t: Trial, teacher: dict[str, str], course_id: str) -> str:
    data = tiny_mp4(100.0)
    r = await t.client.post(
        f"{C}/vimeo/upload",
        json={
            "name": "Lesson Video",
            "description": "Video description",
            "size": len(data),
            "course_id": course_id,
        },
        headers=teacher,
    )
    assert r.status_code == 201, r.text
    done = await t.client.patch(
        r.json()["upload_link"],
        content=data,
        headers={
            **teacher,
            "Tus-Resumable": "1.0.0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "0",
        },
    )
    assert done.status_code == 204, done.text
    return str(r.json()["upload_id"])


# Authentication


@case(f"POST {B}/login")
async def _login(t: Trial) -> httpx.Response:
    user, _ = await t.user()
    return await t.send(json=t.body(email=user.email, mot_de_passe=TEST_PASSWORD))


@case(f"POST {B}/register")
async def _register(t: Trial) -> httpx.Response:
    return await t.send(json=t.body(email=fresh_email("john"), mot_de_passe=STRONG_PASSWORD))


@case(f"POST {B}/oauth-login", status=503, expect=STANDARD_ERROR)
async def _oauth(t: Trial) -> httpx.Response:
    return await t.send()


@case(f"POST {B}/refresh")
async def _refresh(t: Trial) -> httpx.Response:
    user, _ = await t.user()
    return await t.send(headers=_bearer((await _pair(t, user))["refresh_token"]))


@case(f"POST {B}/verify-email")
async def _verify(t: Trial) -> httpx.Response:
    # The token is the one the registration mail carries (rendered as the mail job would).
    email = fresh_email("john")
    r = await t.client.post(
        f"{B}/register",
        json={
            "email": email,
            "mot_de_passe": STRONG_PASSWORD,
            "first_name": "John",
            "last_name": "Doe",
        },
    )
    assert r.status_code == 201, r.text
    db = t.app.state.db
    async with db.session() as session:
        jobs = list(await session.scalars(select(Job).where(Job.kind == "identity.send_email")))
        mails = [
            await mail_tokens.render_email(
                session, settings=t.app.state.settings, payload=j.payload
            )
            for j in jobs
        ]
    [mail] = [m for m in mails if m is not None and m.to == email]
    match = re.search(r"[?&]token=([A-Za-z0-9_\-%.~]+)", mail.text)
    assert match, mail.text
    return await t.send(json=t.body(token=match.group(1), email=email))


@case(f"POST {B}/logout")
async def _logout(t: Trial) -> httpx.Response:
    user, _ = await t.user()
    pair = await _pair(t, user)
    return await t.send(
        json={"refresh_token": pair["refresh_token"]}, headers=_bearer(pair["access_token"])
    )


@case(f"GET {B}/users/me")
async def _me(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(headers=headers)


@case(f"PUT {B}/users/me")
async def _me_update(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(headers=headers)


@case(f"PUT {B}/change-password")
async def _change_password(t: Trial) -> httpx.Response:
    _, headers = await t.user()
    return await t.send(
        json=t.body(current_password=TEST_PASSWORD, new_password=STRONG_PASSWORD), headers=headers
    )


# Admin user management


@case(f"GET {B}/admin/users")
async def _admin_users(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    await t.user(full_name="John Doe")
    return await t.send(
        headers=admin, params={"page": 1, "limit": 20, "role": "student", "search": "john"}
    )


@case(f"GET {B}/admin/users/{{}}", nullable=("last_login",))
async def _admin_user(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    user, _ = await t.user()
    return await t.send(user.id, headers=admin)


@case(f"PUT {B}/admin/users/{{}}/role")
async def _admin_role(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    user, _ = await t.user()
    return await t.send(user.id, headers=admin)


@case(f"DELETE {B}/admin/users/{{}}")
async def _admin_delete(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    user, _ = await t.user()
    return await t.send(user.id, headers=admin)


@case(f"POST {B}/admin/users/{{}}/block")
async def _block(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    user, _ = await t.user()
    return await t.send(user.id, headers=admin)


@case(f"POST {B}/admin/users/{{}}/unblock")
async def _unblock(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    user, _ = await t.user()
    assert (
        await t.client.post(f"{B}/admin/users/{user.id}/block", headers=admin)
    ).status_code == 200
    return await t.send(user.id, headers=admin)


# Courses and lessons


@case(
    f"GET {C}/modules",
    nullable=(
        "image_url",
        "price",
        "instructor_id",
        "instructor_name",
        "video_url",
        "duration",
        "description",
    ),
)
async def _modules(t: Trial) -> httpx.Response:
    # Signed in: StudyHall has no anonymous catalog (a deviation the dialect's description states).
    _, student, _, _ = await _classroom(t)
    return await t.send(headers=student)


@case(f"GET {C}/modules/{{}}")
async def _module(t: Trial) -> httpx.Response:
    _, student, course_id, _ = await _classroom(t)
    return await t.send(course_id, headers=student)


@case(f"POST {C}/admin/courses")
async def _course_create(t: Trial) -> httpx.Response:
    teacher, _ = await t.user(Role.teacher)
    return await t.send(json=t.body(instructor_id=str(teacher.id)), headers=t.auth(teacher))


@case(f"PUT {C}/admin/courses/{{}}")
async def _course_update(t: Trial) -> httpx.Response:
    _, teacher = await t.user(Role.teacher)
    return await t.send(await _course(t, teacher), headers=teacher)


@case(f"DELETE {C}/admin/courses/{{}}")
async def _course_delete(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    _, teacher = await t.user(Role.teacher)
    return await t.send(await _course(t, teacher), headers=admin)


@case(
    f"GET {C}/lessons", nullable=("description", "video_url", "video_type", "vimeo_id", "duration")
)
async def _lessons(t: Trial) -> httpx.Response:
    _, student, _, _ = await _classroom(t)
    return await t.send(headers=student)


@case(f"POST {C}/lessons")
async def _lesson_create(t: Trial) -> httpx.Response:
    _, teacher = await t.user(Role.teacher)
    return await t.send(json=t.body(course_id=await _course(t, teacher)), headers=teacher)


@case(f"PUT {C}/lessons/{{}}")
async def _lesson_update(t: Trial) -> httpx.Response:
    teacher, _, _, lesson_id = await _classroom(t)
    return await t.send(lesson_id, headers=teacher)


@case(f"DELETE {C}/lessons/{{}}")
async def _lesson_delete(t: Trial) -> httpx.Response:
    teacher, _, _, lesson_id = await _classroom(t)
    return await t.send(lesson_id, headers=teacher)


# Enrollment and progress


@case(f"POST {C}/courses/{{}}/enroll")
async def _enroll(t: Trial) -> httpx.Response:
    _, teacher = await t.user(Role.teacher)
    _, student = await t.user()
    return await t.send(await _course(t, teacher), headers=student)


@case(f"GET {C}/courses/my-courses", nullable=("last_accessed",))
async def _my_courses(t: Trial) -> httpx.Response:
    _, student, _, _ = await _classroom(t)
    return await t.send(headers=student)


@case(f"DELETE {C}/courses/{{}}/unenroll")
async def _unenroll(t: Trial) -> httpx.Response:
    _, student, course_id, _ = await _classroom(t)
    return await t.send(course_id, headers=student)


async def _progress(t: Trial) -> tuple[dict[str, str], str]:
    _, student, course_id, lesson_id = await _classroom(t)
    r = await t.client.put(
        f"{C}/users_progress/",
        params={"lesson_id": lesson_id},
        json={"completed": True, "score": 85, "video_watched": True},
        headers=student,
    )
    assert r.status_code == 200, r.text
    return student, course_id


@case(f"GET {C}/users_progress", nullable=("completed_at", "score"))
async def _progress_list(t: Trial) -> httpx.Response:
    student, _ = await _progress(t)
    return await t.send(headers=student)


@case(f"GET {C}/users_progress/course/{{}}", nullable=("score",))
async def _progress_course(t: Trial) -> httpx.Response:
    student, course_id = await _progress(t)
    return await t.send(course_id, headers=student)


@case(f"PUT {C}/users_progress/")
async def _progress_update(t: Trial) -> httpx.Response:
    _, student, _, lesson_id = await _classroom(t)
    return await t.send(params={"lesson_id": lesson_id}, headers=student)


# Quizzes


@case(f"GET {C}/quiz/{{}}")
async def _quiz_read(t: Trial) -> httpx.Response:
    # The teacher sees the correct answers (a student gets null before submitting).
    teacher, _, course_id, lesson_id = await _classroom(t)
    await _quiz(t, teacher, course_id, lesson_id)
    return await t.send(lesson_id, headers=teacher)


@case(f"POST {C}/quiz/{{}}/submit")
async def _quiz_submit(t: Trial) -> httpx.Response:
    teacher, student, course_id, lesson_id = await _classroom(t)
    await _quiz(t, teacher, course_id, lesson_id)
    r = await t.send(lesson_id, headers=student)
    assert r.json()["correct_answers"] == 3, r.text
    return r


# Admin statistics


@case(f"GET {C}/admin/stats")
async def _stats(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    await _classroom(t)
    return await t.send(headers=admin)


# The document's categories are sample data: `courses_by_category` is a map of counts.
@case(
    f"GET {C}/admin/stats/courses",
    expect={
        "total_courses": 0,
        "published_courses": 0,
        "draft_courses": 0,
        "courses_by_category": {},
    },
)
async def _stats_courses(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    _, teacher = await t.user(Role.teacher)
    r = await t.client.post(
        f"{C}/admin/courses",
        json={"name": "React Masterclass", "category": "programming"},
        headers=teacher,
    )
    assert r.status_code == 201, r.text
    r = await t.send(headers=admin)
    assert r.json()["courses_by_category"]["programming"] >= 1, r.text
    return r


@case(f"GET {C}/admin/stats/students")
async def _stats_students(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    await _classroom(t)
    return await t.send(headers=admin)


@case(f"GET {C}/admin/stats/videos", nullable=("most_watched_video",))
async def _stats_videos(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    teacher, _, course_id, _ = await _classroom(t)
    await _video(t, teacher, course_id)
    return await t.send(headers=admin)


@case(f"GET {C}/admin/stats/revenue")
async def _stats_revenue(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    await _classroom(t)
    return await t.send(headers=admin)


# Videos


@case(f"POST {C}/vimeo/upload")
async def _upload(t: Trial) -> httpx.Response:
    _, teacher = await t.user(Role.teacher)
    return await t.send(json=t.body(course_id=await _course(t, teacher)), headers=teacher)


@case(f"PUT {C}/vimeo/update-metadata/{{}}")
async def _metadata(t: Trial) -> httpx.Response:
    _, teacher = await t.user(Role.teacher)
    video_id = await _video(t, teacher, await _course(t, teacher))
    return await t.send(video_id, headers=teacher)


@case(f"DELETE {C}/vimeo/delete/{{}}")
async def _video_delete(t: Trial) -> httpx.Response:
    _, teacher = await t.user(Role.teacher)
    video_id = await _video(t, teacher, await _course(t, teacher))
    return await t.send(video_id, headers=teacher)


@case(f"GET {C}/videos/course/{{}}", nullable=("vimeo_id",))
async def _videos_of_course(t: Trial) -> httpx.Response:
    # The course's teacher: a student gets null figures (the dialect's description says so).
    teacher, _, course_id, _ = await _classroom(t)
    await _video(t, teacher, course_id)
    return await t.send(course_id, headers=teacher)


@case(f"GET {C}/videos/{{}}/analytics")
async def _video_analytics(t: Trial) -> httpx.Response:
    teacher, student, course_id, _ = await _classroom(t)
    video_id = await _video(t, teacher, course_id)
    r = await t.client.post(
        f"{C}/videos/{video_id}/watch-progress",
        json={"progress_seconds": 60, "total_duration": 100, "completed": False},
        headers=student,
    )
    assert r.status_code == 200, r.text
    return await t.send(video_id, headers=teacher)


@case(f"POST {C}/videos/{{}}/watch-progress")
async def _watch(t: Trial) -> httpx.Response:
    teacher, student, course_id, _ = await _classroom(t)
    video_id = await _video(t, teacher, course_id)
    return await t.send(video_id, headers=student)


# Assignments


@case(f"GET {C}/teacher/assignments", nullable=("description", "due_date"))
async def _assignments(t: Trial) -> httpx.Response:
    teacher, _, course_id, _ = await _classroom(t)
    r = await t.client.post(
        f"{C}/teacher/assignments",
        json={
            "course_id": course_id,
            "title": "React Project",
            "due_date": "2031-01-15T23:59:59Z",
            "max_score": 100,
        },
        headers=teacher,
    )
    assert r.status_code == 201, r.text
    return await t.send(headers=teacher)


@case(f"POST {C}/teacher/assignments")
async def _assignment_create(t: Trial) -> httpx.Response:
    _, teacher = await t.user(Role.teacher)
    body = t.body(course_id=await _course(t, teacher), due_date="2031-01-15T23:59:59Z")
    return await t.send(json=body, headers=teacher)


@case(f"GET {C}/teacher/students", nullable=("last_activity",))
async def _teacher_students(t: Trial) -> httpx.Response:
    teacher, _, _, _ = await _classroom(t)
    return await t.send(headers=teacher)
