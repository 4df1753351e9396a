"""The gradebook of a course: one row per student, one column per quiz and assignment.

A quiz counts its best or its last scored attempt (the course's `quiz_grading`), an assignment
its graded current submission. The total is the weighted mean of the columns, a missing grade
counting 0, so a student who skipped work does not look better than one who did it badly.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import repository
from studyhall.assessments.schemas import (
    Gradebook,
    GradebookCell,
    GradebookColumn,
    GradebookRow,
)
from studyhall.courses import service as courses
from studyhall.courses.models import Course, QuizGrading
from studyhall.identity.models import User


async def course_gradebook(session: AsyncSession, *, viewer: User, course: Course) -> Gradebook:
    """The whole gradebook for the course's teachers; a student gets their own row only."""
    own_only = not await courses.teaches(session, user=viewer, course=course)
    student_id = viewer.id if own_only else None
    columns = [
        GradebookColumn(id=q.id, kind="quiz", title=q.title, max_score=q.max_score, weight=q.weight)
        for q in await repository.course_quizzes(session, course.id)
    ] + [
        GradebookColumn(
            id=a.id, kind="assignment", title=a.title, max_score=a.max_score, weight=a.weight
        )
        for a in await repository.course_assignments(session, course.id)
    ]
    percents = _quiz_percents(
        await repository.submitted_attempts(session, course_id=course.id, student_id=student_id),
        course.quiz_grading,
    )
    maxima = {c.id: c.max_score for c in columns if c.kind == "assignment"}
    for assignment_id, sid, score in await repository.current_grades(
        session, course_id=course.id, student_id=student_id
    ):
        top = maxima.get(assignment_id)
        if top:
            percents[(assignment_id, sid)] = round(100.0 * score / top, 2)
    students = await courses.all_students(session, course=course)
    if own_only:
        students = [s for s in students if s.student_id == viewer.id]
    rows = []
    for student in students:
        cells = [
            GradebookCell(column_id=c.id, percent=percents.get((c.id, student.student_id)))
            for c in columns
        ]
        rows.append(
            GradebookRow(
                student_id=student.student_id,
                full_name=student.full_name,
                email=student.email,
                cells=cells,
                total_percent=_weighted_total(columns, cells),
            )
        )
    return Gradebook(
        course_id=course.id, quiz_grading=course.quiz_grading.value, columns=columns, rows=rows
    )


def _quiz_percents(
    attempts: list[tuple[uuid.UUID, uuid.UUID, float, datetime]], grading: QuizGrading
) -> dict[tuple[uuid.UUID, uuid.UUID], float]:
    chosen: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, datetime]] = {}
    for quiz_id, student_id, percent, at in attempts:
        key = (quiz_id, student_id)
        held = chosen.get(key)
        if (
            held is None
            or (grading == QuizGrading.best and percent > held[0])
            or (grading == QuizGrading.last and at > held[1])
        ):
            chosen[key] = (percent, at)
    return {key: percent for key, (percent, _) in chosen.items()}


def _weighted_total(columns: list[GradebookColumn], cells: list[GradebookCell]) -> float | None:
    weight = sum(c.weight for c in columns)
    if weight <= 0:
        return None
    earned = sum(c.weight * (cell.percent or 0.0) for c, cell in zip(columns, cells, strict=True))
    return round(earned / weight, 2)


def to_csv(book: Gradebook) -> str:
    """The gradebook as a spreadsheet: name, email, one column per item, then the total."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["student_id", "full_name", "email"]
        + [_safe(f"{c.title} ({c.kind}, weight {c.weight:g})") for c in book.columns]
        + ["total_percent"]
    )
    for row in book.rows:
        writer.writerow(
            [str(row.student_id), _safe(row.full_name), _safe(row.email)]
            + ["" if cell.percent is None else f"{cell.percent:g}" for cell in row.cells]
            + ["" if row.total_percent is None else f"{row.total_percent:g}"]
        )
    return out.getvalue()


def _safe(text: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection): quote it.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
