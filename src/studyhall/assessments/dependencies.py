"""Loader dependencies of quizzes, attempts, assignments and submissions.

They build on the course loaders: an object is visible only when its course is, so a student of
course A gets 404 for course B's unpublished quizzes, attempts and submissions.
"""

from __future__ import annotations

import uuid
from typing import Annotated

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
from studyhall.core.openapi import answers
from studyhall.courses import service as courses
from studyhall.courses.dependencies import (
    course_managed_by,
    course_read_by,
    course_studied_by,
)
from studyhall.courses.errors import NotCourseOwner
from studyhall.courses.models import Course
from studyhall.identity.dependencies import CurrentUser, StudentUser
from studyhall.identity.models import User


async def _visible_course(session: SessionDep, user: User, course_id: uuid.UUID) -> Course | None:
    course = await courses.find_course(session, course_id)
    if course is None or not await courses.sees(session, user=user, course=course):
        return None
    return course


async def _own_or_taught(session: SessionDep, user: User, work: QuizAttempt | Submission) -> bool:
    """A student's work is seen by that student and by the course's teachers (or an admin)."""
    return work.student_id == user.id or await courses.teaches_course(
        session, user=user, course_id=work.course_id
    )


# ---------------------------------------------------------------- quizzes


@answers(404)
async def quiz_by_id(quiz_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Quiz:
    """The quiz in the path if its course is visible to the caller."""
    quiz = await service.get_quiz(session, quiz_id)
    if quiz is None or await _visible_course(session, user, quiz.course_id) is None:
        raise QuizNotFound()
    return quiz


QuizById = Annotated[Quiz, Depends(quiz_by_id)]


@answers(403)
async def quiz_for_reader(quiz: QuizById, user: CurrentUser, session: SessionDep) -> Quiz:
    """A quiz of a course the caller may read (enrolled student, owner, admin)."""
    await course_read_by(session, user, quiz.course_id)
    return quiz


@answers(403)
async def quiz_for_owner(quiz: QuizById, user: CurrentUser, session: SessionDep) -> Quiz:
    """A quiz of a course the caller manages."""
    await course_managed_by(session, user, quiz.course_id)
    return quiz


@answers(403, 404)
async def quiz_for_student(user: StudentUser, quiz: QuizById, session: SessionDep) -> Quiz:
    """A quiz of a published course the calling student is enrolled in."""
    await course_studied_by(session, user, quiz.course_id)
    return quiz


ReadableQuiz = Annotated[Quiz, Depends(quiz_for_reader)]
OwnedQuiz = Annotated[Quiz, Depends(quiz_for_owner)]
StudentQuiz = Annotated[Quiz, Depends(quiz_for_student)]


@answers(404)
async def attempt_for_viewer(
    attempt_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> QuizAttempt:
    """An attempt seen by its student, or by the course's teachers or an admin."""
    attempt = await service.get_attempt(session, attempt_id)
    if attempt is None or not await _own_or_taught(session, user, attempt):
        raise AttemptNotFound()
    return attempt


ViewableAttempt = Annotated[QuizAttempt, Depends(attempt_for_viewer)]


# ---------------------------------------------------------------- assignments


@answers(404)
async def assignment_by_id(
    assignment_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Assignment:
    """The assignment in the path if its course is visible to the caller."""
    assignment = await service.get_assignment(session, assignment_id)
    if assignment is None or await _visible_course(session, user, assignment.course_id) is None:
        raise AssignmentNotFound()
    return assignment


AssignmentById = Annotated[Assignment, Depends(assignment_by_id)]


@answers(403)
async def assignment_for_reader(
    assignment: AssignmentById, user: CurrentUser, session: SessionDep
) -> Assignment:
    """An assignment of a course the caller may read."""
    await course_read_by(session, user, assignment.course_id)
    return assignment


@answers(403)
async def assignment_for_owner(
    assignment: AssignmentById, user: CurrentUser, session: SessionDep
) -> Assignment:
    """An assignment of a course the caller manages."""
    await course_managed_by(session, user, assignment.course_id)
    return assignment


@answers(403, 404)
async def assignment_for_student(
    user: StudentUser, assignment: AssignmentById, session: SessionDep
) -> Assignment:
    """An assignment of a published course the calling student is enrolled in."""
    await course_studied_by(session, user, assignment.course_id)
    return assignment


ReadableAssignment = Annotated[Assignment, Depends(assignment_for_reader)]
OwnedAssignment = Annotated[Assignment, Depends(assignment_for_owner)]
StudentAssignment = Annotated[Assignment, Depends(assignment_for_student)]


@answers(404)
async def submission_for_viewer(
    submission_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Submission:
    """A submission seen by its student, or by the course's teachers or an admin."""
    submission = await service.get_submission(session, submission_id)
    if submission is None or not await _own_or_taught(session, user, submission):
        raise SubmissionNotFound()
    return submission


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
