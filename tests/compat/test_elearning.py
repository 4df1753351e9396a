"""E-learning gateway dialect (document 003): each served endpoint with the document's example."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import httpx
import jwt

from studyhall.identity.models import Role, User
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.peers.stripe_api import StripePeer, sign
from tests.video.media import tiny_mp4

BASE = "/compat/elearning/api/v1"
USER_FIELDS = {"id", "email", "role", "first_name", "last_name"}
PROFILE_FIELDS = USER_FIELDS | {"is_verified", "created_at"}
ERROR_FIELDS = {"detail", "error_code", "status_code", "timestamp"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _is_time(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None


def _error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == ERROR_FIELDS and body["status_code"] == status
    assert isinstance(body["detail"], str) and body["error_code"].isupper()
    assert _is_time(body["timestamp"])


async def _register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        f"{BASE}/register",
        json={
            "email": email,
            "mot_de_passe": STRONG_PASSWORD,
            "first_name": "John",
            "last_name": "Doe",
        },
    )


async def _course(client: httpx.AsyncClient, headers: dict[str, str], **changes: Any) -> str:
    r = await client.post(
        f"{BASE}/content/admin/courses",
        json={
            "name": "React Masterclass",
            "description": "Course description",
            "image_url": "https://example.com/image.jpg",
            **changes,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _lesson(client: httpx.AsyncClient, headers: dict[str, str], course_id: str) -> str:
    r = await client.post(
        f"{BASE}/content/lessons",
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


# Authentication


async def test_register_login_refresh_and_claims(client: httpx.AsyncClient) -> None:
    email = fresh_email("john")
    r = await _register(client, email)
    assert r.status_code == 201, r.text
    assert r.json()["message"] == "User created successfully"
    assert r.json()["verification_required"] is True and uuid.UUID(r.json()["user_id"])
    r = await client.post(f"{BASE}/login", json={"email": email, "mot_de_passe": STRONG_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"access_token", "refresh_token", "token_type", "expires_in", "user"} <= set(body)
    assert body["token_type"] == "bearer" and isinstance(body["expires_in"], int)
    assert set(body["user"]) == USER_FIELDS
    assert body["user"]["first_name"] == "John" and body["user"]["last_name"] == "Doe"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["email"] == email and claims["role"] == "student"
    assert claims["roles"] == ["student"]
    r = await client.post(f"{BASE}/refresh", headers=_bearer(body["refresh_token"]))
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["access_token"], str) and isinstance(r.json()["expires_in"], int)
    _error(await client.post(f"{BASE}/refresh", headers=_bearer("not-a-refresh-token")), 401)
    _error(await client.post(f"{BASE}/refresh"), 401)


async def test_auth_errors(client: httpx.AsyncClient, student: User) -> None:
    _error(
        await client.post(f"{BASE}/login", json={"email": student.email, "mot_de_passe": "no"}),
        401,
    )
    _error(await _register(client, student.email), 409)
    r = await client.post(f"{BASE}/register", json={"email": "x"})
    assert r.status_code == 422
    body = r.json()
    assert body["error_code"] == "VALIDATION_ERROR" and body["status_code"] == 422
    assert {"field": "mot_de_passe", "message": "Field required"} in body["detail"]
    # A role in the body is ignored: registration creates students only.
    email = fresh_email("sneaky")
    r = await client.post(
        f"{BASE}/register",
        json={
            "email": email,
            "mot_de_passe": STRONG_PASSWORD,
            "first_name": "A",
            "last_name": "B",
            "role": "admin",
        },
    )
    assert r.status_code == 201
    r = await client.post(f"{BASE}/login", json={"email": email, "mot_de_passe": STRONG_PASSWORD})
    assert r.json()["user"]["role"] == "student"
    _error(await client.post(f"{BASE}/oauth-login", json={"token": "google.jwt.here"}), 503)


async def test_verify_email_and_logout(client: httpx.AsyncClient, student: User, auth: Any) -> None:
    _error(
        await client.post(f"{BASE}/verify-email", json={"token": "nope", "email": student.email}),
        400,
    )
    r = await client.post(
        "/api/v1/auth/login", json={"email": student.email, "password": TEST_PASSWORD}
    )
    pair = r.json()
    r = await client.post(
        f"{BASE}/logout",
        json={"refresh_token": pair["refresh_token"]},
        headers=_bearer(pair["access_token"]),
    )
    assert r.status_code == 200 and r.json() == {"message": "Logged out successfully"}
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401  # that session ended
    _error(await client.post(f"{BASE}/logout"), 401)


# Profile


async def test_profile_and_password(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    user = await make_user(Role.student)
    r = await client.get(f"{BASE}/users/me", headers=auth(user))
    assert r.status_code == 200 and set(r.json()) == PROFILE_FIELDS
    r = await client.put(
        f"{BASE}/users/me", json={"first_name": "Jean", "last_name": "Dupont"}, headers=auth(user)
    )
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Profile updated successfully"
    assert r.json()["user"]["first_name"] == "Jean" and r.json()["user"]["last_name"] == "Dupont"
    canonical = await client.get("/api/v1/users/me", headers=auth(user))
    assert canonical.json()["full_name"] == "Jean Dupont"
    assert canonical.json()["given_name"] == "Jean"
    r = await client.put(f"{BASE}/users/me", json={"role": "admin"}, headers=auth(user))
    assert r.status_code == 422
    _error(
        await client.put(
            f"{BASE}/change-password",
            json={"current_password": "wrong-one", "new_password": STRONG_PASSWORD},
            headers=auth(user),
        ),
        400,
    )
    r = await client.put(
        f"{BASE}/change-password",
        json={"current_password": TEST_PASSWORD, "new_password": STRONG_PASSWORD},
        headers=auth(user),
    )
    assert r.status_code == 200 and r.json() == {"message": "Password changed successfully"}
    r = await client.post(
        f"{BASE}/login", json={"email": user.email, "mot_de_passe": STRONG_PASSWORD}
    )
    assert r.status_code == 200


# Admin user management


async def test_admin_user_management(
    client: httpx.AsyncClient, admin: User, make_user: MakeUser, auth: Any
) -> None:
    user = await make_user(Role.student)
    r = await client.get(
        f"{BASE}/admin/users",
        params={"page": 1, "limit": 20, "role": "student", "search": user.email},
        headers=auth(admin),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"users", "total", "page", "pages"}
    assert body["total"] == 1 and body["page"] == 1 and body["pages"] == 1
    assert set(body["users"][0]) == PROFILE_FIELDS | {"is_active"}
    r = await client.get(f"{BASE}/admin/users/{user.id}", headers=auth(admin))
    assert r.status_code == 200 and "last_login" in r.json() and r.json()["is_active"] is True
    r = await client.put(
        f"{BASE}/admin/users/{user.id}/role", json={"role": "teacher"}, headers=auth(admin)
    )
    assert r.status_code == 200 and r.json()["user"]["role"] == "teacher"
    _error(
        await client.put(
            f"{BASE}/admin/users/{user.id}/role", json={"role": "king"}, headers=auth(admin)
        ),
        400,
    )
    r = await client.post(f"{BASE}/admin/users/{user.id}/block", headers=auth(admin))
    assert r.status_code == 200 and r.json() == {"message": "User blocked successfully"}
    _error(await client.get(f"{BASE}/users/me", headers=auth(user)), 401)
    r = await client.post(f"{BASE}/admin/users/{user.id}/unblock", headers=auth(admin))
    assert r.status_code == 200 and r.json() == {"message": "User unblocked successfully"}
    r = await client.delete(f"{BASE}/admin/users/{user.id}", headers=auth(admin))
    assert r.status_code == 200 and r.json() == {"message": "User deleted successfully"}
    _error(await client.get(f"{BASE}/admin/users/{user.id}", headers=auth(admin)), 404)
    _error(await client.get(f"{BASE}/admin/users", headers=auth(user)), 401)
    other = await make_user(Role.teacher)
    _error(await client.get(f"{BASE}/admin/users", headers=auth(other)), 403)


# Courses, lessons, enrollment, progress


async def test_courses_and_lessons(
    client: httpx.AsyncClient, make_user: MakeUser, admin: User, auth: Any
) -> None:
    teacher = await make_user(Role.teacher)
    course_id = await _course(client, auth(teacher), price=0)
    lesson_id = await _lesson(client, auth(teacher), course_id)
    r = await client.get(f"{BASE}/content/modules/{course_id}", headers=auth(teacher))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "React Masterclass" and body["instructor_id"] == str(teacher.id)
    assert body["instructor"]["id"] == str(teacher.id)
    assert body["total_lessons"] == 1 and body["total_duration"] == 1800
    assert body["lessons"][0]["id"] == lesson_id and body["lessons"][0]["order"] == 1
    assert body["lessons"][0]["video_url"] == "https://vimeo.com/123456"
    r = await client.get(f"{BASE}/content/modules", headers=auth(teacher))
    assert r.status_code == 200 and course_id in [c["id"] for c in r.json()]
    listed = next(c for c in r.json() if c["id"] == course_id)
    assert {
        "id",
        "name",
        "description",
        "image_url",
        "price",
        "instructor_id",
        "instructor_name",
        "lessons",
        "total_lessons",
        "total_duration",
        "created_at",
    } <= set(listed)
    r = await client.put(
        f"{BASE}/content/admin/courses/{course_id}",
        json={"name": "Updated Course", "description": "Updated description"},
        headers=auth(teacher),
    )
    assert r.status_code == 200 and r.json()["course"]["name"] == "Updated Course"
    r = await client.put(
        f"{BASE}/content/lessons/{lesson_id}",
        json={"title": "Updated Lesson", "description": "Updated description"},
        headers=auth(teacher),
    )
    assert r.status_code == 200, r.text
    lesson = r.json()["lesson"]
    assert lesson["title"] == "Updated Lesson" and lesson["description"] == "Updated description"
    assert lesson["vimeo_id"] == "123456" and lesson["video_type"] == "vimeo"
    # Another teacher: 403 for writes to a course they do not own.
    stranger = await make_user(Role.teacher)
    _error(
        await client.put(
            f"{BASE}/content/lessons/{lesson_id}", json={"title": "x"}, headers=auth(stranger)
        ),
        403,
    )
    _error(
        await client.delete(f"{BASE}/content/admin/courses/{course_id}", headers=auth(stranger)),
        403,
    )
    r = await client.delete(f"{BASE}/content/lessons/{lesson_id}", headers=auth(teacher))
    assert r.status_code == 200 and r.json() == {"message": "Lesson deleted successfully"}
    r = await client.delete(f"{BASE}/content/admin/courses/{course_id}", headers=auth(admin))
    assert r.status_code == 200 and r.json() == {"message": "Course deleted successfully"}
    _error(await client.get(f"{BASE}/content/modules/{course_id}", headers=auth(admin)), 404)


async def test_enrollment_and_progress(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    other = await make_user(Role.student)
    course_id = await _course(client, auth(teacher))
    lesson_id = await _lesson(client, auth(teacher), course_id)
    r = await client.post(f"{BASE}/content/courses/{course_id}/enroll", headers=auth(student))
    assert r.status_code == 201, r.text
    enrollment = r.json()["enrollment"]
    assert r.json()["message"] == "Enrolled successfully"
    assert enrollment["course_id"] == course_id and enrollment["user_id"] == str(student.id)
    assert _is_time(enrollment["enrolled_at"])
    _error(
        await client.post(f"{BASE}/content/courses/{course_id}/enroll", headers=auth(student)), 409
    )
    r = await client.put(
        f"{BASE}/content/users_progress/",
        params={"lesson_id": lesson_id},
        json={"completed": True, "score": 85, "video_watched": True},
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    assert r.json()["progress"]["completed"] is True and r.json()["progress"]["score"] is None
    r = await client.get(f"{BASE}/content/users_progress/course/{course_id}", headers=auth(student))
    assert r.status_code == 200
    assert r.json() == [
        {"lesson_id": lesson_id, "completed": True, "score": None, "video_watched": False}
    ]
    r = await client.get(f"{BASE}/content/users_progress", headers=auth(student))
    assert r.status_code == 200, r.text
    (record,) = r.json()
    assert set(record) == {
        "id",
        "lesson_id",
        "user_id",
        "completed",
        "score",
        "video_watched",
        "completed_at",
    }
    assert record["lesson_id"] == lesson_id and record["user_id"] == str(student.id)
    assert record["completed"] is True and _is_time(record["completed_at"])
    # Another student sees only their own records (none); progress is a student's.
    r = await client.get(f"{BASE}/content/users_progress", headers=auth(other))
    assert r.status_code == 200 and r.json() == []
    _error(await client.get(f"{BASE}/content/users_progress", headers=auth(teacher)), 403)
    _error(await client.get(f"{BASE}/content/users_progress"), 401)
    r = await client.get(f"{BASE}/content/lessons", headers=auth(student))
    assert r.status_code == 200, r.text
    assert [lesson["id"] for lesson in r.json()] == [lesson_id]
    assert set(r.json()[0]) == {
        "id",
        "course_id",
        "title",
        "description",
        "video_url",
        "video_type",
        "vimeo_id",
        "duration",
        "order",
    }
    assert r.json()[0]["description"] == "Lesson description" and r.json()[0]["order"] == 1
    r = await client.get(
        f"{BASE}/content/lessons", params={"course_id": course_id}, headers=auth(teacher)
    )
    assert r.status_code == 200 and [lesson["id"] for lesson in r.json()] == [lesson_id]
    # A student of no course: the catalog's course is listed, its lessons are not theirs.
    r = await client.get(f"{BASE}/content/lessons", headers=auth(other))
    assert r.status_code == 200 and lesson_id not in [lesson["id"] for lesson in r.json()]
    _error(
        await client.get(
            f"{BASE}/content/lessons", params={"course_id": course_id}, headers=auth(other)
        ),
        403,
    )
    r = await client.post(
        f"{BASE}/content/videos/{lesson_id}/watch-progress",
        json={"progress_seconds": 900, "total_duration": 1800, "completed": False},
        headers=auth(student),
    )
    assert r.status_code == 200 and r.json() == {"message": "Watch progress recorded"}
    r = await client.get(f"{BASE}/content/courses/my-courses", headers=auth(student))
    assert r.status_code == 200
    mine = r.json()["enrolled_courses"]
    assert mine[0]["id"] == course_id and mine[0]["progress_percentage"] == 100.0
    assert _is_time(mine[0]["last_accessed"])
    r = await client.get(f"{BASE}/content/videos/{lesson_id}/analytics", headers=auth(teacher))
    assert r.status_code == 200, r.text
    analytics = r.json()
    assert analytics["total_views"] == 1 and analytics["unique_viewers"] == 1
    assert set(analytics) == {
        "total_views",
        "unique_viewers",
        "completion_rate",
        "average_watch_time",
        "drop_off_points",
    }
    r = await client.get(f"{BASE}/content/teacher/students", headers=auth(teacher))
    assert r.status_code == 200
    row = r.json()["students"][0]
    assert row["id"] == str(student.id) and row["enrolled_courses"] == 1
    # Another student: not enrolled, so the progress routes refuse them.
    _error(
        await client.get(f"{BASE}/content/users_progress/course/{course_id}", headers=auth(other)),
        403,
    )
    _error(
        await client.get(f"{BASE}/content/videos/{lesson_id}/analytics", headers=auth(other)), 403
    )
    r = await client.delete(f"{BASE}/content/courses/{course_id}/unenroll", headers=auth(student))
    assert r.status_code == 200 and r.json() == {"message": "Unenrolled successfully"}


async def test_teacher_assignments(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    teacher = await make_user(Role.teacher)
    course_id = await _course(client, auth(teacher))
    r = await client.post(
        f"{BASE}/content/teacher/assignments",
        json={
            "course_id": course_id,
            "title": "React Project",
            "description": "Build a React application",
            "due_date": "2031-01-15T23:59:59Z",
            "max_score": 100,
        },
        headers=auth(teacher),
    )
    assert r.status_code == 201, r.text
    assignment = r.json()["assignment"]
    assert r.json()["message"] == "Assignment created successfully"
    assert assignment["due_date"] == "2031-01-15T23:59:59Z" and assignment["max_score"] == 100
    r = await client.get(f"{BASE}/content/teacher/assignments", headers=auth(teacher))
    assert r.status_code == 200, r.text
    (listed,) = r.json()["assignments"]
    assert listed == {**assignment, "submissions_count": 0, "graded_count": 0}
    assert set(listed) == {
        "id",
        "course_id",
        "title",
        "description",
        "due_date",
        "max_score",
        "submissions_count",
        "graded_count",
    }
    stranger = await make_user(Role.teacher)
    _error(
        await client.post(
            f"{BASE}/content/teacher/assignments",
            json={"course_id": course_id, "title": "x"},
            headers=auth(stranger),
        ),
        403,
    )
    # Another teacher lists only their own courses' assignments; students are refused.
    r = await client.get(f"{BASE}/content/teacher/assignments", headers=auth(stranger))
    assert r.status_code == 200 and r.json() == {"assignments": []}
    student = await make_user(Role.student)
    _error(await client.get(f"{BASE}/content/teacher/assignments", headers=auth(student)), 403)


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, data: bytes
) -> str:
    """The document's upload request, then the bytes over tus; the video's id."""
    r = await client.post(
        f"{BASE}/content/vimeo/upload",
        json={
            "name": "Lesson Video",
            "description": "Video description",
            "size": len(data),
            "course_id": course_id,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"upload_link", "complete_uri", "ticket_id", "upload_id"}
    video_id = body["upload_id"]
    assert body["complete_uri"] == f"/videos/{video_id}" and body["ticket_id"] == video_id
    done = await client.patch(
        body["upload_link"],
        content=data,
        headers={
            **headers,
            "Tus-Resumable": "1.0.0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "0",
        },
    )
    assert done.status_code == 204, done.text
    return str(video_id)


async def test_videos_upload_metadata_watch_analytics_delete(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    teacher, student = await make_user(Role.teacher), await make_user(Role.student)
    course_id = await _course(client, auth(teacher))
    await client.post(f"{BASE}/content/courses/{course_id}/enroll", headers=auth(student))
    video_id = await _upload(client, auth(teacher), course_id, tiny_mp4(100.0))
    r = await client.put(
        f"{BASE}/content/vimeo/update-metadata/{video_id}",
        json={
            "name": "Updated Video Title",
            "description": "Updated description",
            "privacy": "disable",
        },
        headers=auth(teacher),
    )
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Video metadata updated successfully"
    video = r.json()["video"]
    assert video["id"] == video_id and video["name"] == "Updated Video Title"
    assert video["description"] == "Updated description" and video["privacy"] == "disable"
    assert video["duration"] == 100.0 and video["status"] == "ready"
    for seconds in (0, 20, 40, 60):
        r = await client.post(
            f"{BASE}/content/videos/{video_id}/watch-progress",
            json={"progress_seconds": seconds, "total_duration": 100, "completed": False},
            headers=auth(student),
        )
        assert r.status_code == 200 and r.json() == {"message": "Watch progress recorded"}
    r = await client.get(f"{BASE}/content/videos/{video_id}/analytics", headers=auth(teacher))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "total_views": 1,
        "unique_viewers": 1,
        "completion_rate": 0.0,
        "average_watch_time": 60,
        "drop_off_points": [60],
    }
    r = await client.get(f"{BASE}/content/videos/course/{course_id}", headers=auth(teacher))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "videos": [
            {
                "id": video_id,
                "title": "Updated Video Title",
                "vimeo_id": None,
                "duration": 100.0,
                "views": 1,
                "completion_rate": 0.0,
            }
        ]
    }
    r = await client.get(f"{BASE}/content/videos/course/{course_id}", headers=auth(student))
    assert r.status_code == 200 and r.json()["videos"][0]["views"] is None
    # Staff-only privacy hides the video from students.
    r = await client.put(
        f"{BASE}/content/vimeo/update-metadata/{video_id}",
        json={"privacy": "nobody"},
        headers=auth(teacher),
    )
    assert r.status_code == 200 and r.json()["video"]["privacy"] == "nobody"
    r = await client.get(f"{BASE}/content/videos/course/{course_id}", headers=auth(student))
    assert r.json() == {"videos": []}
    r = await client.delete(f"{BASE}/content/vimeo/delete/{video_id}", headers=auth(teacher))
    assert r.status_code == 200 and r.json() == {"message": "Video deleted successfully"}
    _error(
        await client.delete(f"{BASE}/content/vimeo/delete/{video_id}", headers=auth(teacher)), 404
    )


async def test_video_errors_and_bola(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    teacher, other_teacher = await make_user(Role.teacher), await make_user(Role.teacher)
    student, outsider = await make_user(Role.student), await make_user(Role.student)
    course_id = await _course(client, auth(teacher))
    other_course = await _course(client, auth(other_teacher))
    await client.post(f"{BASE}/content/courses/{course_id}/enroll", headers=auth(student))
    await client.post(f"{BASE}/content/courses/{other_course}/enroll", headers=auth(outsider))
    video_id = await _upload(client, auth(teacher), course_id, tiny_mp4(10.0))
    body = {"name": "Lesson Video", "size": 1048576, "course_id": course_id}
    # Another course's teacher may not upload to, change or delete this course's videos.
    _error(
        await client.post(f"{BASE}/content/vimeo/upload", json=body, headers=auth(other_teacher)),
        403,
    )
    _error(await client.post(f"{BASE}/content/vimeo/upload", json=body, headers=auth(student)), 403)
    r = await client.post(
        f"{BASE}/content/vimeo/upload", json={"name": "x", "size": 1}, headers=auth(teacher)
    )
    assert (
        r.status_code == 422
        and {"field": "course_id", "message": "Field required"} in (r.json()["detail"])
    )
    r = await client.put(
        f"{BASE}/content/vimeo/update-metadata/{video_id}",
        json={"privacy": "public"},
        headers=auth(teacher),
    )
    assert r.status_code == 422 and r.json()["error_code"] == "VALIDATION_ERROR"
    _error(
        await client.put(
            f"{BASE}/content/vimeo/update-metadata/{video_id}",
            json={"name": "x"},
            headers=auth(other_teacher),
        ),
        404,
    )
    _error(
        await client.delete(f"{BASE}/content/vimeo/delete/{video_id}", headers=auth(other_teacher)),
        404,
    )
    # Another course's student: the video does not exist for them.
    _error(
        await client.post(
            f"{BASE}/content/videos/{video_id}/watch-progress",
            json={"progress_seconds": 5},
            headers=auth(outsider),
        ),
        404,
    )
    _error(
        await client.get(f"{BASE}/content/videos/course/{course_id}", headers=auth(outsider)), 403
    )
    # Its own student may watch but not read the figures; its teacher does not report watching.
    _error(
        await client.get(f"{BASE}/content/videos/{video_id}/analytics", headers=auth(student)), 403
    )
    _error(
        await client.post(
            f"{BASE}/content/videos/{video_id}/watch-progress",
            json={"progress_seconds": 5},
            headers=auth(teacher),
        ),
        403,
    )


async def test_one_identity(client: httpx.AsyncClient) -> None:
    email = fresh_email("cross")
    await _register(client, email)
    r = await client.post(
        "/compat/chat-prompts/api/v1/auth/login",
        data={"username": email, "password": STRONG_PASSWORD},
    )
    token = r.json()["access_token"]
    r = await client.get(f"{BASE}/users/me", headers=_bearer(token))
    assert r.status_code == 200 and r.json()["first_name"] == "John"
    r = await client.post(f"{BASE}/login", json={"email": email, "mot_de_passe": STRONG_PASSWORD})
    r = await client.get(
        "/compat/apranova/api/users/profile/", headers=_bearer(r.json()["access_token"])
    )
    assert r.status_code == 200 and r.json()["name"] == "John Doe"


async def test_lesson_quiz_and_score(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    course_id = await _course(client, auth(teacher))
    lesson_id = await _lesson(client, auth(teacher), course_id)
    r = await client.post(
        f"/api/v1/courses/{course_id}/quizzes",
        json={
            "title": "React basics",
            "lesson_id": lesson_id,
            "pass_percent": 50,
            "questions": [
                {
                    "prompt": "What is React?",
                    "kind": "single",
                    "options": ["Library", "Framework", "Language", "Tool"],
                    "answer": 0,
                    "points": 1,
                },
                {"prompt": "JSX compiles to JS", "kind": "true_false", "answer": True, "points": 1},
            ],
        },
        headers=auth(teacher),
    )
    assert r.status_code == 201, r.text
    await client.post(f"{BASE}/content/courses/{course_id}/enroll", headers=auth(student))
    r = await client.get(f"{BASE}/content/quiz/{lesson_id}", headers=auth(student))
    assert r.status_code == 200, r.text
    quiz = r.json()
    assert set(quiz) == {"id", "lesson_id", "questions"} and quiz["lesson_id"] == lesson_id
    first = quiz["questions"][0]
    assert set(first) == {"id", "question", "type", "options", "correct_answer"}
    assert first["type"] == "multiple_choice" and first["options"][0] == "Library"
    assert first["correct_answer"] is None  # never before submitting
    r = await client.get(f"{BASE}/content/quiz/{lesson_id}", headers=auth(teacher))
    assert r.json()["questions"][0]["correct_answer"] == 0
    r = await client.post(
        f"{BASE}/content/quiz/{lesson_id}/submit",
        json={"answers": [0, False], "time_spent": 300},
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"score": 50.0, "total_questions": 2, "correct_answers": 1, "passed": True}
    r = await client.get(f"{BASE}/content/users_progress/course/{course_id}", headers=auth(student))
    assert r.json()[0]["score"] == 50.0
    outsider = await make_user(Role.student)
    _error(
        await client.post(
            f"{BASE}/content/quiz/{lesson_id}/submit", json={"answers": [0]}, headers=auth(outsider)
        ),
        403,
    )
    empty = await _lesson(client, auth(teacher), course_id)
    _error(await client.get(f"{BASE}/content/quiz/{empty}", headers=auth(teacher)), 404)


STATS = f"{BASE}/content/admin/stats"


async def _stats(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    out = {}
    for part in ("", "/courses", "/students", "/videos", "/revenue"):
        r = await client.get(f"{STATS}{part}", headers=headers)
        assert r.status_code == 200, r.text
        out[part] = r.json()
    return out


async def test_admin_stats_follow_the_platform(
    client: httpx.AsyncClient, make_user: MakeUser, admin: User, auth: Any
) -> None:
    before = await _stats(client, auth(admin))
    assert set(before[""]) == {
        "total_courses",
        "total_students",
        "total_videos",
        "total_revenue",
        "currency",
        "active_students_today",
        "new_enrollments_this_week",
    }
    assert set(before["/courses"]) == {
        "total_courses",
        "published_courses",
        "draft_courses",
        "courses_by_category",
    }
    categories = before["/courses"]["courses_by_category"]
    assert all(isinstance(k, str) and isinstance(n, int) for k, n in categories.items())
    assert set(before["/students"]) == {
        "total_students",
        "active_students",
        "new_students_this_month",
        "completion_rate",
    }
    assert set(before["/revenue"]) == {
        "total_revenue",
        "monthly_revenue",
        "currency",
        "revenue_by_course",
    }
    assert before["/revenue"]["revenue_by_course"] == []  # no course seat sold yet
    assert isinstance(before["/revenue"]["total_revenue"], float)
    teacher, student = await make_user(Role.teacher), await make_user(Role.student)
    course_id = await _course(client, auth(teacher))
    lesson_id = await _lesson(client, auth(teacher), course_id)
    await client.post(f"{BASE}/content/courses/{course_id}/enroll", headers=auth(student))
    r = await client.put(
        f"{BASE}/content/users_progress/",
        params={"lesson_id": lesson_id},
        json={"completed": True},
        headers=auth(student),
    )
    assert r.status_code == 200, r.text
    video_id = await _upload(client, auth(teacher), course_id, tiny_mp4(7200.0))
    for seconds in (0, 30, 60):
        await client.post(
            f"{BASE}/content/videos/{video_id}/watch-progress",
            json={"progress_seconds": seconds},
            headers=auth(student),
        )
    after = await _stats(client, auth(admin))
    for key, grew in (
        ("total_courses", 1),
        ("total_students", 1),
        ("total_videos", 1),
        ("active_students_today", 1),
        ("new_enrollments_this_week", 1),
    ):
        assert after[""][key] - before[""][key] >= grew, key
    assert after["/courses"]["published_courses"] > before["/courses"]["published_courses"]
    assert (
        after["/students"]["new_students_this_month"]
        > before["/students"]["new_students_this_month"]
    )
    assert 0 < after["/students"]["completion_rate"] <= 100
    assert after["/videos"]["total_videos"] == after[""]["total_videos"]
    assert after["/videos"]["total_watch_time"].endswith(" hours")
    most = after["/videos"]["most_watched_video"]
    assert set(most) == {"id", "title", "views"} and most["views"] >= 1
    # The figures are StudyHall's platform figures: admins only, like GET /admin/stats.
    for part in ("", "/courses", "/students", "/videos", "/revenue"):
        _error(await client.get(f"{STATS}{part}", headers=auth(teacher)), 403)
        _error(await client.get(f"{STATS}{part}", headers=auth(student)), 403)
        _error(await client.get(f"{STATS}{part}"), 401)


async def test_admin_revenue_by_course_comes_from_paid_seats(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    admin: User,
    auth: Any,
    stripe_peer: StripePeer,
) -> None:
    teacher, buyers = await make_user(Role.teacher), [await make_user(Role.student) for _ in "ab"]
    course_id = await _course(client, auth(teacher), name="Paid Statistics", price=40)
    canonical = "/api/v1"
    for buyer in buyers:
        r = await client.post(f"{canonical}/courses/{course_id}/checkout", headers=auth(buyer))
        assert r.status_code == 201, r.text
        event = json.dumps(stripe_peer.succeeded_event(r.json()["payment_id"])).encode()
        r = await client.post(
            f"{canonical}/payments/webhook",
            content=event,
            headers={"Stripe-Signature": sign(event), "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
    r = await client.get(f"{STATS}/revenue", headers=auth(admin))
    assert r.status_code == 200, r.text
    [line] = [c for c in r.json()["revenue_by_course"] if c["course_id"] == course_id]
    assert line == {
        "course_id": course_id,
        "course_name": "Paid Statistics",
        "revenue": 80.0,
        "enrollments": 2,
    }
    assert r.json()["total_revenue"] >= 80.0


async def test_course_categories_are_counted_and_filtered(
    client: httpx.AsyncClient, make_user: MakeUser, admin: User, auth: Any
) -> None:
    teacher = await make_user(Role.teacher)
    programming, design = f"Programming {uuid.uuid4().hex[:6]}", f"design-{uuid.uuid4().hex[:6]}"
    first = await _course(client, auth(teacher), category=programming)
    await _course(client, auth(teacher), category=programming.upper())
    third = await _course(client, auth(teacher), category=design)
    await _course(client, auth(teacher))  # no category: in the totals only
    key = programming.lower()
    r = await client.get(f"{BASE}/content/modules/{first}", headers=auth(teacher))
    assert r.json()["category"] == key
    counts = (await client.get(f"{STATS}/courses", headers=auth(admin))).json()
    assert counts["courses_by_category"][key] == 2
    assert counts["courses_by_category"][design] == 1
    # A course moves to another category; the canonical catalog filters by it (any case).
    r = await client.put(
        f"{BASE}/content/admin/courses/{third}", json={"category": key}, headers=auth(teacher)
    )
    assert r.status_code == 200 and r.json()["course"]["category"] == key
    counts = (await client.get(f"{STATS}/courses", headers=auth(admin))).json()
    assert counts["courses_by_category"][key] == 3 and design not in counts["courses_by_category"]
    r = await client.get(
        "/api/v1/courses", params={"category": programming.upper()}, headers=auth(teacher)
    )
    assert r.status_code == 200
    assert r.json()["total"] == 3 and {c["category"] for c in r.json()["items"]} == {key}
    # Canonically: set, cleared with null, a blank one refused.
    r = await client.patch(
        f"/api/v1/courses/{third}", json={"category": None}, headers=auth(teacher)
    )
    assert r.status_code == 200 and r.json()["category"] is None
    r = await client.patch(
        f"/api/v1/courses/{third}", json={"category": "  "}, headers=auth(teacher)
    )
    assert r.status_code == 422
    # Teachers do not read the platform's figures.
    _error(await client.get(f"{STATS}/courses", headers=auth(teacher)), 403)


async def test_the_catalog_reads_are_public_as_documented(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Any
) -> None:
    # Document 003 shows `GET /content/modules` and `/content/modules/{id}` without a token
    # ("Public Course Access"): StudyHall's public catalog, the canonical GET /courses's.
    teacher = await make_user(Role.teacher)
    public = await _course(client, auth(teacher), name=f"Public {uuid.uuid4().hex[:6]}")
    private = await _course(client, auth(teacher), name=f"Private {uuid.uuid4().hex[:6]}")
    draft = await _course(client, auth(teacher), name=f"Draft {uuid.uuid4().hex[:6]}")
    for course_id, change in (
        (private, {"visibility": "private"}),
        (draft, {"is_published": False}),
    ):
        r = await client.patch(f"/api/v1/courses/{course_id}", json=change, headers=auth(teacher))
        assert r.status_code == 200, r.text
    await _lesson(client, auth(teacher), public)

    r = await client.get(f"{BASE}/content/modules")
    assert r.status_code == 200, r.text
    listed = {c["id"] for c in r.json()}
    assert public in listed and not {private, draft} & listed
    [course] = [c for c in r.json() if c["id"] == public]
    assert course["total_lessons"] == 1 and course["lessons"][0]["title"] == "Lesson Title"
    r = await client.get(f"{BASE}/content/modules/{public}")
    assert r.status_code == 200 and r.json()["instructor"]["id"] == str(teacher.id)
    for hidden in (private, draft):
        _error(await client.get(f"{BASE}/content/modules/{hidden}"), 404)
    # The canonical twins answer the same anonymous reads.
    r = await client.get("/api/v1/catalog/courses", params={"limit": 100})
    assert r.status_code == 200
    assert public in {c["id"] for c in r.json()["items"]}
    assert not {private, draft} & {c["id"] for c in r.json()["items"]}
    r = await client.get(f"/api/v1/catalog/courses/{public}")
    assert r.status_code == 200 and r.json()["join_code"] is None
    assert (await client.get(f"/api/v1/catalog/courses/{draft}")).status_code == 404
    # Their teacher still sees the draft; a bad token is refused, not read as anonymous.
    r = await client.get(f"{BASE}/content/modules/{draft}", headers=auth(teacher))
    assert r.status_code == 200
    _error(await client.get(f"{BASE}/content/modules", headers=_bearer("not-a-token")), 401)
