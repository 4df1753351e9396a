"""The course videos API: Range playback byte for byte, who may see what, heartbeats folded
into per-student and per-video figures, lesson progress following, durations from the file."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from studyhall.core.clock import clock
from studyhall.identity.models import Role, User
from studyhall.video.media import mp4_duration
from tests.conftest import MakeUser
from tests.video.conftest import API, Classroom, Headers, create_upload, upload_all
from tests.video.media import box, tiny_mp4


async def test_range_playback_is_byte_exact(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers
) -> None:
    data = tiny_mp4(60.0, payload=os.urandom(300_000))
    video_id = await upload_all(client, auth(classroom.teacher), classroom.course, data)
    student = auth(classroom.student)
    url = f"{API}/videos/{video_id}/stream"

    whole = await client.get(url, headers=student)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"

    for header, start, end in (
        ("bytes=0-0", 0, 0),
        ("bytes=1000-200999", 1000, 200_999),
        (f"bytes={len(data) - 500}-", len(data) - 500, len(data) - 1),
        ("bytes=-700", len(data) - 700, len(data) - 1),
        (f"bytes=5-{len(data) + 10_000}", 5, len(data) - 1),
    ):
        part = await client.get(url, headers={**student, "Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start : end + 1], header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"

    several = await client.get(url, headers={**student, "Range": "bytes=0-99,5000-5099"})
    assert several.status_code == 206
    content_type = several.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    parts = [p for p in several.content.split(b"--" + boundary) if p.strip(b"-\r\n")]
    bodies = [p.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for p in parts]
    assert bodies == [data[0:100], data[5000:5100]]
    assert re.search(rb"Content-Range: bytes 5000-5099/\d+", several.content)

    outside = await client.get(url, headers={**student, "Range": f"bytes={len(data)}-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(data)}"

    # If-Range: the range only while the file is the one the client has (same ETag).
    etag = whole.headers["etag"]
    current = await client.get(url, headers={**student, "Range": "bytes=10-19", "If-Range": etag})
    assert current.status_code == 206 and current.content == data[10:20]
    stale = await client.get(
        url, headers={**student, "Range": "bytes=10-19", "If-Range": '"another-version"'}
    )
    assert stale.status_code == 200 and stale.content == data


async def test_another_courses_student_cannot_stream_or_see_figures(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers
) -> None:
    data = tiny_mp4(30.0, payload=b"v" * 1000)
    video_id = await upload_all(client, auth(classroom.teacher), classroom.course, data)
    stranger = auth(classroom.stranger)
    for path in ("", "/stream", "/analytics"):
        response = await client.get(f"{API}/videos/{video_id}{path}", headers=stranger)
        assert response.status_code == 404, (path, response.text)
    beat = await client.post(
        f"{API}/videos/{video_id}/heartbeats", json={"position_s": 1}, headers=stranger
    )
    assert beat.status_code == 404
    other_teacher = auth(classroom.other_teacher)
    assert (await client.get(f"{API}/videos/{video_id}", headers=other_teacher)).status_code == 404
    listed = await client.get(f"{API}/courses/{classroom.course}/videos", headers=stranger)
    assert listed.status_code == 403  # the course is visible in the catalogue, not its content
    # The enrolled student watches but sees no figures; staff-only videos are hidden from them.
    mine = await client.get(f"{API}/videos/{video_id}", headers=auth(classroom.student))
    assert mine.status_code == 200 and mine.json()["figures"] is None
    assert (
        await client.get(f"{API}/videos/{video_id}/analytics", headers=auth(classroom.student))
    ).status_code == 403
    hidden = await client.patch(
        f"{API}/videos/{video_id}", json={"privacy": "staff"}, headers=auth(classroom.teacher)
    )
    assert hidden.status_code == 200 and hidden.json()["privacy"] == "staff"
    assert (
        await client.get(f"{API}/videos/{video_id}/stream", headers=auth(classroom.student))
    ).status_code == 404


async def test_heartbeats_make_figures_and_move_the_lesson_progress(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers
) -> None:
    teacher = auth(classroom.teacher)
    data = tiny_mp4(100.0, payload=b"m" * 2000)
    video_id = await upload_all(client, teacher, classroom.course, data, lesson_id=None)
    attached = await client.put(
        f"{API}/lessons/{classroom.lesson}/video", json={"video_id": video_id}, headers=teacher
    )
    assert attached.status_code == 200, attached.text
    assert attached.json()["lesson_id"] == classroom.lesson
    lesson = (await client.get(f"{API}/lessons/{classroom.lesson}", headers=teacher)).json()
    assert lesson["video_url"].endswith(f"/api/v1/videos/{video_id}/stream")
    assert lesson["duration_s"] == 100 and lesson["video_provider"] == "studyhall"

    student = auth(classroom.student)
    beat = f"{API}/videos/{video_id}/heartbeats"
    # Watch 0 → 40 in 10 s steps, seek to 80 (not watched), watch to 95, report past the end.
    answers = []
    for position in (0, 10, 20, 30, 40, 80, 90, 95, 500):
        response = await client.post(beat, json={"position_s": position}, headers=student)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    last = answers[-1]
    assert last["position_s"] == 100.0  # clamped to the duration
    assert last["furthest_s"] == 100.0
    assert last["watched_s"] == 40 + 10 + 5 + 5
    assert last["completed"] is True and last["views"] == 1
    assert [a["completed"] for a in answers].index(True) == 6  # 90 s = 90%

    progress = await client.get(f"{API}/courses/{classroom.course}/progress", headers=student)
    row = next(r for r in progress.json()["lessons"] if r["lesson_id"] == classroom.lesson)
    assert row["completed"] is True
    assert row["video_position_s"] == 100.0 and row["video_watched_s"] == 60.0

    figures = (await client.get(f"{API}/videos/{video_id}/analytics", headers=teacher)).json()
    assert figures["views"] == 1 and figures["unique_viewers"] == 1
    assert figures["completion_rate"] == 100.0 and figures["average_watch_time_s"] == 60.0
    assert figures["drop_off_points"] == []
    listed = (await client.get(f"{API}/courses/{classroom.course}/videos", headers=teacher)).json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == "ready"
    assert listed["items"][0]["figures"]["unique_viewers"] == 1
    assert (
        await client.post(beat, json={"position_s": 1}, headers=teacher)
    ).status_code == 403  # only students report watching

    deleted = await client.delete(f"{API}/videos/{video_id}", headers=teacher)
    assert deleted.status_code == 204
    assert (await client.get(f"{API}/videos/{video_id}", headers=teacher)).status_code == 404
    lesson = (await client.get(f"{API}/lessons/{classroom.lesson}", headers=teacher)).json()
    assert lesson["video_url"] is None


async def test_an_unfinished_upload_is_listed_uploading_and_does_not_play(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers
) -> None:
    teacher = auth(classroom.teacher)
    created = await create_upload(client, teacher, classroom.course, 5000)
    assert created["upload_link"].endswith(f"/api/v1/videos/uploads/{created['video_id']}")
    assert created["expires_at"].endswith("Z")
    video = created["video"]
    assert video["status"] == "uploading" and video["uploaded_bytes"] == 0
    assert video["stream_url"] is None and video["host"] == "local"
    stream = await client.get(f"{API}/videos/{created['video_id']}/stream", headers=teacher)
    assert stream.status_code == 409
    # Students see only ready videos in the list.
    listed = await client.get(
        f"{API}/courses/{classroom.course}/videos", headers=auth(classroom.student)
    )
    assert listed.status_code == 200 and listed.json()["total"] == 0
    refused = await client.post(
        f"{API}/courses/{classroom.course}/videos",
        json={"title": "x", "size_bytes": 10, "owner_id": str(classroom.student.id)},
        headers=teacher,
    )
    assert refused.status_code == 422
    foreign_lesson = await client.post(
        f"{API}/courses/{classroom.other_course}/videos",
        json={"title": "x", "size_bytes": 10},
        headers=teacher,
    )
    assert foreign_lesson.status_code == 403


def test_the_mp4_header_gives_the_duration(tmp_path: Path) -> None:
    cases = {
        "v0.mp4": (tiny_mp4(12.5), 12.5),
        "v1.mp4": (tiny_mp4(3600.0, version=1), 3600.0),
        # 64-bit box size on the media data before the movie header.
        "large.mp4": (
            box(b"ftyp", b"isom")
            + b"\x00\x00\x00\x01mdat"
            + (16 + 4).to_bytes(8, "big")
            + b"data"
            + box(b"moov", tiny_mp4(7.0)[-(8 + 8 + 100) :]),
            7.0,
        ),
        "not-a-video.mp4": (b"this is plain text, not a container", None),
        "truncated.mp4": (tiny_mp4(5.0)[:-40], None),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert mp4_duration(path) == expected, name


async def test_figures_over_several_viewers_views_completion_and_drop_off(
    client: httpx.AsyncClient, classroom: Classroom, auth: Headers, make_user: MakeUser
) -> None:
    teacher = auth(classroom.teacher)
    video_id = await upload_all(client, teacher, classroom.course, tiny_mp4(100.0, payload=b"d"))
    viewers = [classroom.student]
    for _ in range(3):
        viewer = await make_user(Role.student)
        enrolled = await client.post(
            f"{API}/courses/{classroom.course}/enroll", headers=auth(viewer)
        )
        assert enrolled.status_code == 201
        viewers.append(viewer)
    finisher, leaver, returner, skimmer = viewers
    beat = f"{API}/videos/{video_id}/heartbeats"

    async def watch(who: User, *positions: float) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        for position in positions:
            response = await client.post(beat, json={"position_s": position}, headers=auth(who))
            assert response.status_code == 200, response.text
            answer = response.json()
        return answer

    assert (await watch(finisher, *range(0, 101, 10)))["completed"] is True
    assert (await watch(leaver, 0, 10, 20, 30, 35))["watched_s"] == 35
    await watch(returner, 0, 10, 20)
    await watch(skimmer, 0, 5)
    # Back after more than half an hour: a second view, the jump back is not watching.
    clock.advance(timedelta(minutes=31))
    back = await watch(returner, 20, 30, 38)
    assert back["views"] == 2 and back["watched_s"] == 20 + 10 + 8

    figures = (
        await client.get(f"{API}/videos/{video_id}/analytics", headers=auth(classroom.teacher))
    ).json()
    assert figures["views"] == 1 + 1 + 2 + 1
    assert figures["unique_viewers"] == 4 and figures["completions"] == 1
    assert figures["completion_rate"] == 25.0
    assert figures["average_watch_time_s"] == (100 + 35 + 38 + 5) / 4
    # Where those who did not finish stopped, per tenth of the video, busiest first.
    assert figures["drop_off_points"] == [
        {"at_s": 30.0, "viewers": 2},
        {"at_s": 0.0, "viewers": 1},
    ]
    listed = await client.get(
        f"{API}/courses/{classroom.course}/videos", headers=auth(classroom.teacher)
    )
    assert listed.json()["items"][0]["figures"] == figures
