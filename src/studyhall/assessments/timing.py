"""An attempt's clock: the deadline with its grace period, and the attempts left.

Time is measured by the server: a submission after deadline + ATTEMPT_GRACE_S is rejected.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import repository
from studyhall.assessments.models import (
    Quiz,
    QuizAttempt,
)
from studyhall.core.clock import utcnow

# Network latency between the deadline and the server receiving the answers.
ATTEMPT_GRACE_S = 5


async def open_unexpired(
    session: AsyncSession, *, quiz: Quiz, student_id: uuid.UUID
) -> QuizAttempt | None:
    attempt = await repository.open_attempt(
        session, quiz_id=quiz.id, student_id=student_id, lock=False
    )
    if attempt is None or past_deadline(attempt):
        return None
    return attempt


def past_deadline(attempt: QuizAttempt) -> bool:
    if attempt.deadline_at is None:
        return False
    return utcnow() > attempt.deadline_at + timedelta(seconds=ATTEMPT_GRACE_S)


def attempts_left(quiz: Quiz, used: int) -> int | None:
    return None if quiz.max_attempts is None else max(0, quiz.max_attempts - used)
