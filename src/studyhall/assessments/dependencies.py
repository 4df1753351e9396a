"""Loader dependencies of quizzes, attempts, assignments and submissions.

They build on the course loaders: an object is visible only when its course is, so a student of
course A gets 404 for course B's unpublished quizzes, attempts and submissions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends

from studyhall.assessments import service
from studyhall.assessments.errors import (
    AssignmentNotFound,
    AttemptNotFound,
    QuizNotFound,
    SubmissionNotFound,
)
from studyhall.assessments.models import Assignment, Quiz, QuizAttempt, Submission
from studyhall.core.db import SessionDep
from studyhall.core.errors import AppError
from studyhall.core.openapi import answers
from studyhall.courses import service as courses
from studyhall.courses.dependencies import loaders_of
from studyhall.courses.errors import NotCourseOwner
from studyhall.courses.loaders import in_visible_course
from studyhall.identity.dependencies import CurrentUser
from studyhall.identity.models import User

Work = TypeVar("Work", QuizAttempt, Submission)


async def _own_or_taught(
    session: SessionDep, user: User, work: Work | None, not_found: Callable[[], AppError]
) -> Work:
    """A student's work is seen by that student and by the course's teachers (or an admin);
    anyone else gets `not_found` (404), as for work that does not exist."""
    if work is None or not (
        work.student_id == user.id
        or await courses.teaches_course(session, user=user, course_id=work.course_id)
    ):
        raise not_found()
    return work


# ---------------------------------------------------------------- quizzes


@answers(404)
async def quiz_by_id(quiz_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Quiz:
    """The quiz in the path if its course is visible to the caller."""
    return await in_visible_course(
        session, user, await service.get_quiz(session, quiz_id), QuizNotFound
    )


quiz_for_reader, quiz_for_owner, quiz_for_student = loaders_of(quiz_by_id)

ReadableQuiz = Annotated[Quiz, Depends(quiz_for_reader)]
OwnedQuiz = Annotated[Quiz, Depends(quiz_for_owner)]
StudentQuiz = Annotated[Quiz, Depends(quiz_for_student)]


@answers(404)
async def attempt_for_viewer(
    attempt_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> QuizAttempt:
    """An attempt seen by its student, or by the course's teachers or an admin."""
    return await _own_or_taught(
        session, user, await service.get_attempt(session, attempt_id), AttemptNotFound
    )


ViewableAttempt = Annotated[QuizAttempt, Depends(attempt_for_viewer)]


# ---------------------------------------------------------------- assignments


@answers(404)
async def assignment_by_id(
    assignment_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Assignment:
    """The assignment in the path if its course is visible to the caller."""
    return await in_visible_course(
        session, user, await service.get_assignment(session, assignment_id), AssignmentNotFound
    )


assignment_for_reader, assignment_for_owner, assignment_for_student = loaders_of(assignment_by_id)

ReadableAssignment = Annotated[Assignment, Depends(assignment_for_reader)]
OwnedAssignment = Annotated[Assignment, Depends(assignment_for_owner)]
StudentAssignment = Annotated[Assignment, Depends(assignment_for_student)]


@answers(404)
async def submission_for_viewer(
    submission_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Submission:
    """A submission seen by its student, or by the course's teachers or an admin."""
    return await _own_or_taught(
        session, user, await service.get_submission(session, submission_id), SubmissionNotFound
    )


ViewableSubmission = Annotated[Submission, Depends(submission_for_viewer)]


@answers(403)
async def submission_for_grader(
    submission: ViewableSubmission, user: CurrentUser, session: SessionDep
) -> Submission:
    """A submission the caller may grade: the course's teachers (owner, assistants) or an admin."""
    if not await courses.teaches_course(session, user=user, course_id=submission.course_id):
        raise NotCourseOwner("Only the course's teachers or an admin may grade")
    return submission


GradableSubmission = Annotated[Submission, Depends(submission_for_grader)]
