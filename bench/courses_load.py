"""Courses under load: the catalog, a course detail (5 modules × 10 lessons) and the course
analytics endpoint on 1,000 students × 50 lessons × 10 quizzes, against /health of the same run.

Seeds the data set with bulk inserts (SQLAlchemy Core executemany), starts the real server
(`studyhall serve`; a uvicorn factory that also mounts the analytics router when api.py does not
yet), loads each URL from a separate process and prints requests/s, p50/p99, the ratio to
/health and the analytics latency of single requests. SQLite, and PostgreSQL when reachable.

    .venv/bin/python bench/courses_load.py [--seconds 6] [--connections 32] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
from _harness import (
    BIN,
    ROOT,
    LoadResult,
    Server,
    database,
    free_port,
    load,
    median,
    percentile,
    postgres_available,
    server,
    table,
)

STUDENTS, LESSONS, QUIZZES, MODULES = 1_000, 50, 10, 5
OTHER_COURSES = 30
SECRET = "bench-secret-key-0123456789-abcdefghij"
ANALYTICS_PATH = "/api/v1/courses/{course_id}/analytics"


def bench_app() -> Any:
    """uvicorn factory: the app, with the analytics router mounted if api.py lacks it."""
    from studyhall.analytics.router import router as analytics_router
    from studyhall.main import create_app

    app = create_app()
    if ANALYTICS_PATH not in {getattr(r, "path", None) for r in app.routes}:
        app.include_router(analytics_router, prefix="/api/v1")
    return app


def _analytics_mounted() -> bool:
    from studyhall.api import api_router

    return ANALYTICS_PATH in {getattr(r, "path", None) for r in api_router.routes}


@contextlib.contextmanager
def _factory_server(database_url: str) -> Iterator[Server]:
    """Like _harness.server, through the bench_app factory above."""
    data_dir = tempfile.mkdtemp(prefix="studyhall-bench-data-")
    port = free_port()
    env = {
        **os.environ,
        "STUDYHALL_DATABASE_URL": database_url,
        "STUDYHALL_DATA_DIR": data_dir,
        "STUDYHALL_SECRET_KEY": SECRET,
        "STUDYHALL_LOG_LEVEL": "WARNING",
        "STUDYHALL_JOBS__IN_PROCESS_WORKER": "false",
    }
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "courses_load:bench_app"]
    cmd += ["--app-dir", str(ROOT / "bench"), "--port", str(port), "--no-access-log"]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health/ready", timeout=1).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError("server exited during start-up")
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready")
        yield Server(base, process, env)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


async def _seed(database_url: str) -> dict[str, Any]:
    """Bulk-insert the data set; returns the ids the load needs."""
    from sqlalchemy import insert

    from studyhall.assessments.models import (
        AttemptStatus,
        Question,
        QuestionKind,
        Quiz,
        QuizAttempt,
    )
    from studyhall.config import async_database_url
    from studyhall.core.clock import utcnow
    from studyhall.core.db import make_null_pool_engine
    from studyhall.core.ids import new_id
    from studyhall.courses.models import Course, Enrollment, Lesson, LessonProgress, Module
    from studyhall.identity.models import Role, User

    rng = random.Random(42)
    now = utcnow()
    engine = make_null_pool_engine(async_database_url(database_url))
    teacher_id = new_id()
    course_id = new_id()

    def user(role: Role, i: int, uid: uuid.UUID) -> dict[str, Any]:
        return {
            "id": uid,
            "email": f"{role}{i}@bench.local",
            "username": f"{role}{i}",
            "full_name": f"Bench {role.value.title()} {i:04d}",
            "password_hash": "not-a-real-hash",
            "role": role,
            "is_verified": True,
            "created_at": now,
            "updated_at": now,
        }

    student_ids = [new_id() for _ in range(STUDENTS)]
    users = [user(Role.teacher, 0, teacher_id)]
    users += [user(Role.student, i, sid) for i, sid in enumerate(student_ids)]
    base_course = {"description": "Bench course", "guide": "", "language": "en", "level": "10"}
    base_course |= {
        "teacher_id": teacher_id,
        "is_published": True,
        "created_at": now,
        "updated_at": now,
    }
    courses = [{"id": course_id, "code": "BENCH000", "title": "Bench course", **base_course}]
    courses += [
        {"id": new_id(), "code": f"BENCH{i:03d}", "title": f"Other course {i}", **base_course}
        for i in range(1, OTHER_COURSES + 1)
    ]
    module_ids = [new_id() for _ in range(MODULES)]
    modules = [
        {
            "id": m,
            "course_id": course_id,
            "title": f"Module {i}",
            "position": i,
            "created_at": now,
            "updated_at": now,
        }
        for i, m in enumerate(module_ids)
    ]
    per_module = LESSONS // MODULES
    lesson_ids = [new_id() for _ in range(LESSONS)]
    lessons = [
        {
            "id": lid,
            "course_id": course_id,
            "module_id": module_ids[i // per_module],
            "title": f"Lesson {i}",
            "content": "Lorem ipsum " * 200,
            "position": i % per_module,
            "created_at": now,
            "updated_at": now,
        }
        for i, lid in enumerate(lesson_ids)
    ]
    enrollments = []
    progress = []
    for sid in student_ids:
        enrolled = now - timedelta(days=rng.randint(8, 60))
        last = now - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 600))
        enrollments.append(
            {
                "id": new_id(),
                "course_id": course_id,
                "student_id": sid,
                "enrolled_at": enrolled,
                "last_activity_at": last,
            }
        )
        for lid in lesson_ids[: rng.randint(0, LESSONS)]:
            progress.append(
                {
                    "id": new_id(),
                    "lesson_id": lid,
                    "course_id": course_id,
                    "student_id": sid,
                    "completed": True,
                    "completed_at": last,
                    "video_position_s": 0.0,
                    "video_watched_s": 0.0,
                    "created_at": last,
                    "updated_at": last,
                }
            )
    quizzes, questions, attempts = [], [], []
    for q in range(QUIZZES):
        qid = new_id()
        quizzes.append(
            {
                "id": qid,
                "course_id": course_id,
                "title": f"Quiz {q}",
                "pass_percent": 60.0,
                "question_count": 5,
                "max_score": 5.0,
                "created_at": now,
                "updated_at": now,
            }
        )
        for p in range(5):
            questions.append(
                {
                    "id": new_id(),
                    "quiz_id": qid,
                    "position": p,
                    "prompt": f"Question {p}?",
                    "kind": QuestionKind.single,
                    "options": ["a", "b", "c", "d"],
                    "answer": 0,
                    "points": 1.0,
                }
            )
        for sid in student_ids:
            for _ in range(rng.choice((0, 1, 1, 2))):
                score = float(rng.randint(0, 5))
                attempts.append(
                    {
                        "id": new_id(),
                        "quiz_id": qid,
                        "course_id": course_id,
                        "student_id": sid,
                        "status": AttemptStatus.submitted,
                        "source": "api",
                        "started_at": now - timedelta(days=1),
                        "submitted_at": now - timedelta(days=1),
                        "score": score,
                        "max_score": 5.0,
                        "percent": score * 20,
                        "passed": score >= 3,
                    }
                )
    async with engine.begin() as conn:
        for model, rows in (
            (User, users),
            (Course, courses),
            (Module, modules),
            (Lesson, lessons),
            (Enrollment, enrollments),
            (LessonProgress, progress),
            (Quiz, quizzes),
            (Question, questions),
            (QuizAttempt, attempts),
        ):
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(model), rows[start : start + 5000])  # type: ignore[arg-type]
    await engine.dispose()
    return {
        "course_id": str(course_id),
        "teacher_id": str(teacher_id),
        "rows": {"progress": len(progress), "attempts": len(attempts)},
    }


def _token(teacher_id: str) -> str:
    from studyhall.config import Settings
    from studyhall.core.clock import utcnow
    from studyhall.core.security import encode_jwt

    settings = Settings(secret_key=SECRET, environment="development")
    token, _ = encode_jwt(
        subject=teacher_id,
        token_type="access",
        secret=settings.jwt_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        now=utcnow(),
        ttl_s=3600,
        claims={"role": "teacher", "ver": 1},
    )
    return token


def _load(url: str, headers: dict[str, str], connections: int, seconds: float) -> LoadResult:
    # _harness.load's wrk parser reads the first "50%" in the output, which is sometimes a
    # "+/- Stdev" figure such as 86.50% (then it raises): retry such a run.
    for attempt in range(3):
        try:
            return load(url, headers=headers, connections=connections, seconds=seconds)
        except AttributeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _latencies(url: str, headers: dict[str, str], n: int) -> list[float]:
    out = []
    with httpx.Client(timeout=30) as c:
        c.get(url, headers=headers).raise_for_status()  # warm-up
        for _ in range(n):
            start = time.perf_counter()
            c.get(url, headers=headers).raise_for_status()
            out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    from studyhall.migrate import upgrade

    kinds = ["sqlite"] + ([] if args.sqlite_only or not postgres_available() else ["postgres"])
    run_server = server if _analytics_mounted() else _factory_server
    rows = [["db", "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "÷ /health"]]
    latency_rows = [["db", "analytics latency (1 client)", "p50 ms", "p95 ms", "max ms"]]
    tool = "?"
    for kind in kinds:
        with database(kind) as url:
            upgrade(url)
            started = time.perf_counter()
            seeded = asyncio.run(_seed(url))
            seed_s = time.perf_counter() - started
            print(
                f"[{kind}] seeded {STUDENTS} students × {LESSONS} lessons × {QUIZZES} quizzes "
                f"({seeded['rows']['progress']:,} progress rows, {seeded['rows']['attempts']:,} "
                f"attempts) in {seed_s:.1f} s",
                flush=True,
            )
            with run_server(url) as srv:
                headers = {"Authorization": f"Bearer {_token(seeded['teacher_id'])}"}
                cid = seeded["course_id"]
                urls = {
                    "/health": (srv.base_url + "/health", {}),
                    # Reference: token check + one indexed read, as in api_throughput.py.
                    "GET /users/me": (srv.base_url + "/api/v1/users/me", headers),
                    "GET /courses": (srv.base_url + "/api/v1/courses", headers),
                    "GET /courses/{id}": (srv.base_url + f"/api/v1/courses/{cid}", headers),
                    "GET /courses/{id}/analytics": (
                        srv.base_url + f"/api/v1/courses/{cid}/analytics",
                        headers,
                    ),
                }
                for url_, hdrs in urls.values():
                    httpx.get(url_, headers=hdrs, timeout=30).raise_for_status()
                results = {}
                for path, (url_, hdrs) in urls.items():
                    connections = (
                        min(args.connections, 8) if "analytics" in path else args.connections
                    )
                    results[path] = _load(url_, hdrs, connections, args.seconds)
                    tool = results[path].tool
                health = results["/health"].rps
                for path, result in results.items():
                    rows.append(
                        [
                            kind,
                            path,
                            f"{result.rps:,.0f}",
                            f"{result.p50_ms:.1f}",
                            f"{result.p99_ms:.1f}",
                            str(result.errors),
                            f"{result.rps / health:.3f}" if health else "",
                        ]
                    )
                lat = _latencies(urls["GET /courses/{id}/analytics"][0], headers, 30)
                latency_rows.append(
                    [
                        kind,
                        "GET /courses/{id}/analytics",
                        f"{median(lat):.1f}",
                        f"{percentile(lat, 0.95):.1f}",
                        f"{max(lat):.1f}",
                    ]
                )
    print(
        f"load tool: {tool}, {args.connections} connections (analytics: 8), {args.seconds:.0f} s per URL"
    )
    print(table(rows))
    print()
    print(table(latency_rows))
    _ = BIN


if __name__ == "__main__":
    main()
