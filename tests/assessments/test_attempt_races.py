"""Finding 2 (issue 11): max_attempts must hold under concurrent submissions.

The attack: 20 parallel submissions on a 1-attempt quiz stored 5 attempts on PostgreSQL (each
request counted zero before any of them committed), and one of the guesses passed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
from sqlalchemy import func, select

from studyhall.assessments.models import QuizAttempt
from studyhall.core.db import Database
from tests.assessments.test_quizzes import ALL_CORRECT, make_quiz, submit
from tests.courses.helpers import API, Headers, World

BURST = 20


async def _stored(db: Database, quiz_id: str) -> int:
    async with db.session(write=False) as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(QuizAttempt)
                .where(QuizAttempt.quiz_id == uuid.UUID(quiz_id))
            )
            or 0
        )


async def test_finding_02_max_attempts_holds_under_concurrent_submissions(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    quiz = await make_quiz(client, auth(world.teacher), world.course_a["id"], max_attempts=1)
    s = auth(world.student)
    wrong: list[object] = [0, None, None, None]
    bodies = [ALL_CORRECT if i == BURST - 1 else wrong for i in range(BURST)]
    replies = await asyncio.gather(*(submit(client, s, quiz["id"], body) for body in bodies))
    statuses = Counter(r.status_code for r in replies)
    assert statuses == {200: 1, 409: BURST - 1}, statuses
    assert await _stored(db, quiz["id"]) == 1


async def test_finding_02_max_attempts_holds_under_concurrent_starts(
    client: httpx.AsyncClient, world: World, auth: Headers, db: Database
) -> None:
    quiz = await make_quiz(
        client, auth(world.teacher), world.course_a["id"], max_attempts=1, time_limit_s=600
    )
    s = auth(world.student)
    url = f"{API}/quizzes/{quiz['id']}/attempts/start"
    replies = await asyncio.gather(*(client.post(url, headers=s) for _ in range(BURST)))
    assert all(r.status_code in (200, 201) for r in replies), [r.text for r in replies]
    # Every caller resumes the one attempt that was created.
    assert len({r.json()["id"] for r in replies}) == 1
    assert await _stored(db, quiz["id"]) == 1
