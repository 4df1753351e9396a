"""Lesson videos in the browser: a teacher uploads with tus from the lesson editor (resuming from
the server's offset), the video becomes the lesson's, and an enrolled student streams it with
Range requests while the player's heartbeats move the lesson's progress."""

from __future__ import annotations

import base64

import httpx

from studyhall.identity.models import Role
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, add_lesson, create_course, enroll
from tests.video.media import tiny_mp4
from tests.web.conftest import csrf_of, signed_in

UPLOADS = "/teach/videos/uploads"


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def test_a_teacher_uploads_a_lesson_video_and_a_student_watches_it(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student)
    outsider = await make_user(Role.student)
    course = await create_course(client, auth(teacher))
    other_course = await create_course(client, auth(teacher))
    lesson = await add_lesson(client, auth(teacher), course["id"], title="Optics")
    await enroll(client, auth(student), course["id"])
    await enroll(client, auth(outsider), other_course["id"])
    data = tiny_mp4(100.0, payload=bytes(range(256)) * 40)

    await signed_in(client, teacher)
    editor = await client.get(f"/teach/lessons/{lesson['id']}/edit")
    assert editor.status_code == 200 and "data-tus-upload" in editor.text
    assert "No video in this course yet." in editor.text
    token = csrf_of(editor.text)
    tus = {"Tus-Resumable": "1.0.0", "X-CSRF-Token": token}
    create = {
        **tus,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": _metadata(
            course_id=course["id"], lesson_id=lesson["id"], title="Refraction"
        ),
    }
    without_token = await client.post(
        UPLOADS, headers={k: v for k, v in create.items() if k != "X-CSRF-Token"}
    )
    assert without_token.status_code == 403
    created = await client.post(UPLOADS, headers=create)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    assert url.startswith(f"{UPLOADS}/")  # the page's client keeps to the page's routes
    video_id = url.rsplit("/", 1)[1]

    half = len(data) // 2
    piece = {**tus, "Content-Type": "application/offset+octet-stream"}
    first = await client.patch(url, content=data[:half], headers={**piece, "Upload-Offset": "0"})
    assert first.status_code == 204 and first.headers["upload-offset"] == str(half)
    # A client that lost the answer resends from 0: refused, and told where to resume.
    stale = await client.patch(url, content=data[:half], headers={**piece, "Upload-Offset": "0"})
    assert stale.status_code == 409
    head = await client.head(url, headers=tus)
    assert head.status_code == 200 and head.headers["upload-offset"] == str(half)
    rest = await client.patch(
        url, content=data[half:], headers={**piece, "Upload-Offset": str(half)}
    )
    assert rest.status_code == 204 and rest.headers["upload-offset"] == str(len(data))

    attached = await client.post(
        f"/teach/lessons/{lesson['id']}/video", data={"csrf_token": token, "video_id": video_id}
    )
    assert attached.status_code == 303, attached.text
    stored = (await client.get(f"{API}/lessons/{lesson['id']}", headers=auth(teacher))).json()
    assert stored["video_provider"] == "studyhall" and stored["duration_s"] == 100
    editor = await client.get(f"/teach/lessons/{lesson['id']}/edit")
    assert "plays in this lesson" in editor.text and 'data-video-status="ready"' in editor.text

    client.cookies.clear()
    await signed_in(client, student)
    page = await client.get(f"/lessons/{lesson['id']}")
    assert f'src="/videos/{video_id}/stream"' in page.text
    assert f'data-heartbeat-url="/videos/{video_id}/heartbeats"' in page.text
    assert 'data-resume="0' in page.text
    part = await client.get(f"/videos/{video_id}/stream", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    token = csrf_of(page.text)
    for position in ("0", "10", "20", "30"):
        beat = await client.post(
            f"/videos/{video_id}/heartbeats",
            data={"position_s": position},
            headers={"X-CSRF-Token": token},
        )
        assert beat.status_code == 204, beat.text
    assert (
        await client.post(f"/videos/{video_id}/heartbeats", data={"position_s": "40"})
    ).status_code == 403  # no CSRF token
    bad = await client.post(
        f"/videos/{video_id}/heartbeats", data={"position_s": "x"}, headers={"X-CSRF-Token": token}
    )
    assert bad.status_code == 422
    progress = await client.get(f"{API}/courses/{course['id']}/progress", headers=auth(student))
    row = next(r for r in progress.json()["lessons"] if r["lesson_id"] == lesson["id"])
    assert row["video_position_s"] == 30.0 and row["video_watched_s"] == 30.0
    again = await client.get(f"/lessons/{lesson['id']}")
    assert 'data-resume="30.0"' in again.text  # the player picks up where it stopped

    # A student of another course, and nobody signed in, get nothing.
    client.cookies.clear()
    await signed_in(client, outsider)
    assert (await client.get(f"/videos/{video_id}/stream")).status_code == 404
    client.cookies.clear()
    anonymous = await client.get(f"/videos/{video_id}/stream")
    assert anonymous.status_code == 303 and "/sign-in" in anonymous.headers["location"]


async def test_only_the_courses_owner_uploads_or_attaches(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    owner = await make_user(Role.teacher)
    stranger = await make_user(Role.teacher)
    student = await make_user(Role.student)
    course = await create_course(client, auth(owner))
    lesson = await add_lesson(client, auth(owner), course["id"])
    await enroll(client, auth(student), course["id"])
    data = tiny_mp4(10.0)

    await signed_in(client, owner)
    token = csrf_of((await client.get(f"/teach/lessons/{lesson['id']}/edit")).text)
    created = await client.post(
        UPLOADS,
        headers={
            "Tus-Resumable": "1.0.0",
            "X-CSRF-Token": token,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(course_id=course["id"]),
        },
    )
    assert created.status_code == 201
    url = created.headers["location"]

    client.cookies.clear()
    await signed_in(client, stranger)
    token = csrf_of((await client.get("/teach/courses")).text)
    tus = {"Tus-Resumable": "1.0.0", "X-CSRF-Token": token}
    refused = await client.post(
        UPLOADS,
        headers={
            **tus,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(course_id=course["id"]),
        },
    )
    assert refused.status_code == 404
    assert (await client.head(url, headers=tus)).status_code == 404
    sneaked = await client.patch(
        url,
        content=data,
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert sneaked.status_code == 404
    attach = await client.post(
        f"/teach/lessons/{lesson['id']}/video",
        data={"csrf_token": token, "video_id": url.rsplit("/", 1)[1]},
    )
    assert attach.status_code == 403

    client.cookies.clear()
    await signed_in(client, student)
    token = csrf_of((await client.get("/my/courses")).text)
    student_upload = await client.post(
        UPLOADS, headers={"Tus-Resumable": "1.0.0", "X-CSRF-Token": token, "Upload-Length": "1"}
    )
    assert student_upload.status_code == 403
