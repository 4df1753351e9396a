"""Assignments: create, edit, delete and list them, with their submission counts."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import repository
from studyhall.assessments.errors import (
    ScoreAboveMax,
)
from studyhall.assessments.models import (
    Assignment,
)
from studyhall.assessments.reactions import DELETE_FILES
from studyhall.assessments.schemas import (
    AssignmentCreate,
    AssignmentOut,
    AssignmentUpdate,
)
from studyhall.assessments.viewers import whose_work
from studyhall.core.errors import Unprocessable
from studyhall.core.pagination import Pagination, page_of, window
from studyhall.core.schemas import Page
from studyhall.courses.models import Course
from studyhall.identity.models import User
from studyhall.jobs.files import delete_files_later


def _assignment_out(assignment: Assignment, submitted: int, graded: int) -> AssignmentOut:
    return AssignmentOut.model_validate(assignment).model_copy(
        update={"submissions_count": submitted, "graded_count": graded}
    )


async def create_assignment(
    session: AsyncSession, *, course_id: uuid.UUID, data: AssignmentCreate
) -> AssignmentOut:
    """Create an assignment."""
    assignment = Assignment(course_id=course_id, **data.model_dump())
    session.add(assignment)
    await session.flush()
    return _assignment_out(assignment, 0, 0)


async def update_assignment(
    session: AsyncSession, *, assignment: Assignment, data: AssignmentUpdate
) -> AssignmentOut:
    """Edit an assignment; lowering max_score below a grade already given is refused."""
    changes = data.model_dump(exclude_unset=True)
    for field in ("title", "max_score", "description", "weight"):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null")
    if "max_score" in changes:
        highest = await repository.highest_grade(session, assignment.id)
        if highest is not None and highest > changes["max_score"]:
            raise ScoreAboveMax(f"A submission is already graded {highest:g}, above that max_score")
    for field, value in changes.items():
        setattr(assignment, field, value)
    await session.flush()
    return await assignment_view(session, assignment=assignment, student_id=None)


async def delete_assignment(session: AsyncSession, *, assignment: Assignment) -> None:
    """Delete an assignment with its submissions, and their files once the deletion commits."""
    keys = await repository.delete_assignment(session, assignment.id)
    await delete_files_later(session, kind=DELETE_FILES, keys=keys)


async def assignment_view(
    session: AsyncSession, *, assignment: Assignment, student_id: uuid.UUID | None
) -> AssignmentOut:
    """An assignment with its counts (everyone's, or one student's own)."""
    submitted, graded = await repository.submission_counts(
        session, assignment_id=assignment.id, student_id=student_id
    )
    return _assignment_out(assignment, submitted, graded)


async def assignment_for_viewer(
    session: AsyncSession, *, assignment: Assignment, viewer: User
) -> AssignmentOut:
    """An assignment with everyone's counts for its teachers, a student's own otherwise."""
    _, whose = await whose_work(session, viewer=viewer, course_id=assignment.course_id)
    return await assignment_view(session, assignment=assignment, student_id=whose)


async def list_assignments(
    session: AsyncSession,
    *,
    course_id: uuid.UUID,
    student_id: uuid.UUID | None,
    limit: int = 20,
    offset: int = 0,
    page: Pagination | None = None,
) -> Page[AssignmentOut]:
    """A course's assignments with their counts (the window is `page`, or `limit` and
    `offset` where the caller has them apart)."""
    if page is None:
        page = window(limit, offset)
    rows, total = await repository.list_assignments(
        session, course_id=course_id, student_id=student_id, page=page
    )
    return page_of(rows, total, page, lambda row: _assignment_out(*row))


async def assignments_for_viewer(
    session: AsyncSession, *, course: Course, viewer: User, page: Pagination
) -> Page[AssignmentOut]:
    """A course's assignments with everyone's counts for its teachers, a student's own else."""
    _, whose = await whose_work(session, viewer=viewer, course_id=course.id)
    return await list_assignments(session, course_id=course.id, student_id=whose, page=page)


async def get_assignment(session: AsyncSession, assignment_id: uuid.UUID) -> Assignment | None:
    """An assignment by id, or None."""
    return await repository.get_assignment(session, assignment_id)
