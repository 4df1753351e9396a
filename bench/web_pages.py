"""Web pages: the server time of the most visited pages as a ratio to /health (same run), and
the bytes each page transfers on a first visit (HTML + every stylesheet and script it loads)
and on a repeat visit (HTML; the static files answer 304 to the browser's revalidation).

Pages: course list (/my/courses), catalogue, lesson, tutor chat (a conversation of a few
answers), gradebook (20 students, a quiz and an assignment), admin users. Starts the real server (`studyhall serve`) on SQLite,
and on PostgreSQL when reachable; data is created through the API as a school would.

    .venv/bin/python bench/web_pages.py [--requests 200] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time
from typing import Any

import httpx
from _harness import BIN, Server, database, postgres_available, server, table

PASSWORD = "Bench-Password-0123456789"
API = "/api/v1"
ASSET = re.compile(r'<(?:script|link)[^>]+(?:src|href)="(/static/[^"]+)"')


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field"
    return match.group(1)


def _signed_in(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    token = _token(client.get("/sign-in").text)
    response = client.post(
        "/sign-in", data={"login": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return client


def _seed(srv: Server) -> dict[str, Any]:
    admin_email = "admin@bench.example.org"
    subprocess.run(
        [str(BIN / "studyhall"), "create-admin", "--email", admin_email, "--password", PASSWORD],
        env=srv.env,
        check=True,
        capture_output=True,
    )
    api = httpx.Client(base_url=srv.base_url, timeout=30)
    admin = api.post(f"{API}/auth/login", json={"email": admin_email, "password": PASSWORD}).json()
    as_admin = {"Authorization": f"Bearer {admin['access_token']}"}
    users = {}
    for role, count in (("teacher", 2), ("student", 60)):
        for i in range(count):
            email = f"{role}{i}@bench.example.org"
            r = api.post(
                f"{API}/admin/users",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "full_name": f"{role.title()} {i}",
                    "role": role,
                    "is_verified": True,
                },
                headers=as_admin,
            )
            assert r.status_code == 201, r.text
            users.setdefault(role, []).append(email)
    teacher = api.post(
        f"{API}/auth/login", json={"email": users["teacher"][0], "password": PASSWORD}
    ).json()
    as_teacher = {"Authorization": f"Bearer {teacher['access_token']}"}
    lesson_id = ""
    course_ids = []
    for c in range(12):
        course = api.post(
            f"{API}/courses",
            json={
                "code": f"BENCH{c:02d}",
                "title": f"Course {c}",
                "description": "A course " * 20,
                "is_published": True,
            },
            headers=as_teacher,
        ).json()
        course_ids.append(course["id"])
        for m in range(3):
            module = api.post(
                f"{API}/courses/{course['id']}/modules",
                json={"title": f"Module {m}"},
                headers=as_teacher,
            ).json()
            for n in range(5):
                lesson = api.post(
                    f"{API}/courses/{course['id']}/lessons",
                    json={
                        "title": f"Lesson {m}.{n}",
                        "module_id": module["id"],
                        "content": "# Title\n\n" + "Some *markdown* text. " * 80,
                    },
                    headers=as_teacher,
                ).json()
                lesson_id = lesson_id or lesson["id"]
    student = api.post(
        f"{API}/auth/login", json={"email": users["student"][0], "password": PASSWORD}
    ).json()
    as_student = {"Authorization": f"Bearer {student['access_token']}"}
    for course_id in course_ids[:6]:
        assert api.post(f"{API}/courses/{course_id}/enroll", headers=as_student).status_code in (
            200,
            201,
        )
    for email in users["student"][1:20]:  # the teacher adds them (no 19 sign-ins in a row)
        added = api.post(
            f"{API}/courses/{course_ids[0]}/students", json={"email": email}, headers=as_teacher
        )
        assert added.status_code in (200, 201), added.text
    question = {"prompt": "2 + 2?", "kind": "single", "options": ["3", "4"], "answer": 1}
    quiz = {"title": "Check", "questions": [question]}
    r = api.post(f"{API}/courses/{course_ids[0]}/quizzes", json=quiz, headers=as_teacher)
    assert r.status_code == 201, r.text
    r = api.post(
        f"{API}/courses/{course_ids[0]}/assignments", json={"title": "Essay"}, headers=as_teacher
    )
    assert r.status_code == 201, r.text
    chat = api.post(
        f"{API}/chat/sessions", json={"course_id": course_ids[0]}, headers=as_student
    ).json()
    for text in ("What is a lesson?", "Explain the markdown text.", "Summarise module 1."):
        r = api.post(
            f"{API}/chat/sessions/{chat['id']}/messages", json={"content": text}, headers=as_student
        )
        assert r.status_code == 200, r.text
    return {
        "admin": admin_email,
        "teacher": users["teacher"][0],
        "student": users["student"][0],
        "lesson_id": lesson_id,
        "chat_id": chat["id"],
        "course_id": course_ids[0],
    }


def _median_ms(client: httpx.Client, path: str, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times)


def _bytes(client: httpx.Client, path: str) -> tuple[int, int]:
    """(first visit, repeat visit) body bytes: HTML + assets, then HTML + 304 revalidations."""
    page = client.get(path)
    first = repeat = len(page.content)
    for asset in sorted(set(ASSET.findall(page.text))):
        response = client.get(asset)
        first += len(response.content)
        etag = response.headers.get("etag")
        again = client.get(asset, headers={"If-None-Match": etag} if etag else {})
        repeat += len(again.content)
    return first, repeat


def run(kind: str, requests: int) -> None:
    with database(kind) as url, server(url, start_timeout_s=180) as srv:
        seed = _seed(srv)
        student = _signed_in(srv.base_url, seed["student"])
        admin = _signed_in(srv.base_url, seed["admin"])
        teacher = _signed_in(srv.base_url, seed["teacher"])
        pages = [
            ("course list", student, "/my/courses"),
            ("catalogue", student, "/catalogue"),
            ("lesson", student, f"/lessons/{seed['lesson_id']}"),
            ("tutor chat", student, f"/tutor/{seed['chat_id']}"),
            ("gradebook", teacher, f"/teach/courses/{seed['course_id']}/gradebook"),
            ("admin users", admin, "/admin/users"),
        ]
        for _, client, path in pages:  # warm up
            _median_ms(client, path, 5)
        health = _median_ms(student, "/health", requests)
        rows = [["page", "median ms", "x /health", "first visit B", "repeat visit B"]]
        rows.append(["/health", f"{health:.2f}", "1.0", "", ""])
        for name, client, path in pages:
            ms = _median_ms(client, path, requests)
            first, repeat = _bytes(client, path)
            rows.append([name, f"{ms:.2f}", f"{ms / health:.1f}", str(first), str(repeat)])
        print(
            f"\n== web pages on {kind} ({requests} sequential requests each, one keep-alive client)"
        )
        print(table(rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    run("sqlite", args.requests)
    if not args.sqlite_only and postgres_available():
        run("postgres", args.requests)


if __name__ == "__main__":
    main()
