"""HTTP routes of the assessments domain."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from pydantic import Field

from studyhall.assessments import gradebook, service, uploads
from studyhall.assessments.dependencies import (
    GradableSubmission,
    OwnedAssignment,
    OwnedQuiz,
    ReadableAssignment,
    ReadableQuiz,
    StudentAssignment,
    StudentQuiz,
    ViewableAttempt,
    ViewableSubmission,
)
from studyhall.assessments.schemas import (
    AssignmentCreate,
    AssignmentOut,
    AssignmentUpdate,
    AttemptDetail,
    AttemptOut,
    AttemptResult,
    AttemptStartOut,
    AttemptSubmit,
    Gradebook,
    GradeIn,
    ImportRecord,
    ImportResult,
    QuizCreate,
    QuizImport,
    QuizOwnerOut,
    QuizStudentOut,
    QuizSummary,
    QuizUpdate,
    SubmissionCreate,
    SubmissionOut,
    SubmissionsPage,
)
from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute, errors
from studyhall.core.pagination import PageParams
from studyhall.core.schemas import NUL_FREE, Page
from studyhall.core.storage import LocalStorage
from studyhall.courses.dependencies import OwnedCourse, ReadableCourse, ReadableLesson
from studyhall.identity.dependencies import CurrentUser, StudentUser

router = APIRouter(tags=["assessments"], route_class=DocumentedRoute)


async def _storage(request: Request) -> LocalStorage:
    storage: LocalStorage = request.app.state.storage
    return storage


StorageDep = Annotated[LocalStorage, Depends(_storage)]


# ---------------------------------------------------------------- quizzes


@router.post("/courses/{course_id}/quizzes", status_code=status.HTTP_201_CREATED)
async def create_quiz(session: SessionDep, course: OwnedCourse, body: QuizCreate) -> QuizOwnerOut:
    """Create a quiz with single, multiple, true_false and short questions."""
    quiz = await service.create_quiz(session, course_id=course.id, data=body)
    return await service.quiz_for_owner(session, quiz=quiz)


@router.get("/courses/{course_id}/quizzes")
async def list_quizzes(
    session: SessionDep,
    course: ReadableCourse,
    page: PageParams,
    lesson_id: Annotated[
        uuid.UUID | None, Query(description="Only the quizzes of this lesson of the course")
    ] = None,
) -> Page[QuizSummary]:
    """The course's quizzes (enrolled students, owner, admin), or one lesson's."""
    return await service.list_quizzes(session, course_id=course.id, lesson_id=lesson_id, page=page)


@router.get("/lessons/{lesson_id}/quizzes")
async def lesson_quizzes(
    session: SessionDep, lesson: ReadableLesson, page: PageParams
) -> Page[QuizSummary]:
    """The quizzes of a lesson (enrolled students, the course's teachers, admin)."""
    return await service.list_quizzes(
        session, course_id=lesson.course_id, lesson_id=lesson.id, page=page
    )


@router.post("/courses/{course_id}/quizzes/import", status_code=status.HTTP_201_CREATED)
async def import_quiz(
    session: SessionDep,
    course: OwnedCourse,
    body: Annotated[
        QuizImport | Annotated[list[ImportRecord], Field(min_length=1, max_length=5000)], Body()
    ],
    title: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> ImportResult:
    """Import multiple-choice questions as one quiz.

    The body is either `{title, items: [...], seed, ...}` or a bare list of records (as in a
    SciQ file; then `?title=` names the quiz). A record is SciQ's
    `{question, correct_answer, distractor1..3, support}` (support becomes the explanation) or
    `{prompt|question, options, answer (index or text), explanation?}`. Options are shuffled with
    a seeded shuffle and stored in that order.
    """
    if isinstance(body, list):
        body = QuizImport(items=body, **({"title": title} if title else {}))
    return await service.import_quiz(session, course_id=course.id, data=body)


@router.get("/quizzes/{quiz_id}", response_model=QuizOwnerOut | QuizStudentOut)
async def get_quiz(
    session: SessionDep, user: CurrentUser, quiz: ReadableQuiz
) -> QuizOwnerOut | QuizStudentOut:
    """A quiz. Students never receive answers or explanations; a timed quiz shows its questions
    to a student only during a started attempt."""
    return await service.quiz_for_viewer(session, quiz=quiz, viewer=user)


@router.patch("/quizzes/{quiz_id}")
async def update_quiz(session: SessionDep, quiz: OwnedQuiz, body: QuizUpdate) -> QuizOwnerOut:
    """Edit a quiz; `questions` replaces them all."""
    updated = await service.update_quiz(session, quiz=quiz, data=body)
    return await service.quiz_for_owner(session, quiz=updated)


@router.delete("/quizzes/{quiz_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_quiz(session: SessionDep, quiz: OwnedQuiz) -> None:
    """Delete a quiz with its attempts."""
    await service.delete_quiz(session, quiz=quiz)


@router.post(
    "/quizzes/{quiz_id}/attempts/start",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": AttemptStartOut, "description": "An open attempt resumed"}},
)
async def start_attempt(
    session: SessionDep, user: StudentUser, quiz: StudentQuiz, response: Response
) -> AttemptStartOut:
    """Start an attempt: the server's clock starts and the deadline is fixed (201), or resume the
    open one (200). 409 `max_attempts_reached` when no attempt is left."""
    attempt, created = await service.start_attempt(session, quiz=quiz, student=user)
    if not created:
        response.status_code = status.HTTP_200_OK
    return attempt


@router.post("/quizzes/{quiz_id}/attempts")
async def submit_attempt(
    session: SessionDep, user: StudentUser, quiz: StudentQuiz, body: AttemptSubmit
) -> AttemptResult:
    """Submit answers (one per question, in order) and get the scored result.

    Submits the open attempt; an untimed quiz with no open attempt is started and submitted at
    once. The time limit is measured by the server from the start: a submission after the
    deadline (+5 s grace) is rejected with 422 `time_limit_exceeded` and the attempt is spent;
    a timed quiz without a started attempt answers 422 `attempt_not_started`. `time_spent_s` is
    only recorded. Results show the expected answer and explanation for questions answered
    correctly, and for every question once the quiz is passed or no attempt is left.
    """
    return await service.submit_attempt(session, quiz=quiz, student=user, data=body)


@router.get("/quizzes/{quiz_id}/attempts")
async def list_attempts(
    session: SessionDep,
    user: CurrentUser,
    quiz: ReadableQuiz,
    page: PageParams,
    student_id: uuid.UUID | None = None,
) -> Page[AttemptOut]:
    """Attempts at a quiz: a student sees their own; the owner and admins see all
    (filter `student_id`)."""
    return await service.attempts_for_viewer(
        session, quiz=quiz, viewer=user, student_id=student_id, page=page
    )


@router.get("/attempts/{attempt_id}")
async def get_attempt(
    session: SessionDep, user: CurrentUser, attempt: ViewableAttempt
) -> AttemptDetail:
    """One attempt with its per-question results."""
    return await service.attempt_for_viewer(session, attempt=attempt, viewer=user)


# ---------------------------------------------------------------- assignments


@router.post("/courses/{course_id}/assignments", status_code=status.HTTP_201_CREATED)
async def create_assignment(
    session: SessionDep, course: OwnedCourse, body: AssignmentCreate
) -> AssignmentOut:
    """Create an assignment `{title, description, due_at, max_score}`."""
    return await service.create_assignment(session, course_id=course.id, data=body)


@router.get("/courses/{course_id}/assignments")
async def list_assignments(
    session: SessionDep, user: CurrentUser, course: ReadableCourse, page: PageParams
) -> Page[AssignmentOut]:
    """The course's assignments, soonest due first; students see their own counts."""
    return await service.assignments_for_viewer(session, course=course, viewer=user, page=page)


@router.get(
    "/courses/{course_id}/gradebook",
    response_model=Gradebook,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def course_gradebook(
    request: Request, session: SessionDep, user: CurrentUser, course: ReadableCourse
) -> Gradebook | Response:
    """One row per student, one column per quiz and assignment, and the weighted total.

    The course's teacher and admins get every student; an enrolled student their own row.
    With `Accept: text/csv` the same table comes as a spreadsheet file.
    """
    book = await gradebook.course_gradebook(session, viewer=user, course=course)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(
            gradebook.to_csv(book),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="gradebook-{course.code}.csv"'},
        )
    return book


@router.get("/assignments/{assignment_id}")
async def get_assignment(
    session: SessionDep, user: CurrentUser, assignment: ReadableAssignment
) -> AssignmentOut:
    """An assignment with submissions_count and graded_count (a student: their own)."""
    return await service.assignment_for_viewer(session, assignment=assignment, viewer=user)


@router.patch("/assignments/{assignment_id}")
async def update_assignment(
    session: SessionDep, assignment: OwnedAssignment, body: AssignmentUpdate
) -> AssignmentOut:
    """Edit an assignment."""
    return await service.update_assignment(session, assignment=assignment, data=body)


@router.delete("/assignments/{assignment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_assignment(session: SessionDep, assignment: OwnedAssignment) -> None:
    """Delete an assignment with its submissions."""
    await service.delete_assignment(session, assignment=assignment)


_SUBMISSION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SubmissionCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    # Text, a file, or both.
                    "anyOf": [
                        {"required": ["file"]},
                        {"required": ["content"]},
                    ],
                    "properties": {
                        # Checked by storable_text like the JSON form's.
                        "content": {
                            "type": "string",
                            "maxLength": uploads.MAX_CONTENT_CHARS,
                            "pattern": NUL_FREE,
                        },
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "pdf, txt, md, docx, png or jpg (checked from the "
                            "content), 10 MiB at most",
                        },
                    },
                }
            },
        },
    }
}


@router.post(
    "/assignments/{assignment_id}/submissions",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_SUBMISSION_BODY,
    responses=errors(400, 413, 415),  # 400: a malformed multipart body
)
async def submit(
    request: Request,
    session: SessionDep,
    user: StudentUser,
    assignment: StudentAssignment,
    storage: StorageDep,
) -> SubmissionOut:
    """Submit work as JSON `{content}` or multipart (`content` + optional `file`). A new
    submission becomes the current one and the previous one is kept as history; submissions
    after due_at are flagged `late`."""
    body = await uploads.read_submission(request)
    return await service.submit(
        session,
        assignment=assignment,
        student=user,
        content=body.content,
        file=body.file,
        storage=storage,
    )


def submissions_query(
    student_id: uuid.UUID | None = None, history: bool = False
) -> service.SubmissionsQuery:
    return service.SubmissionsQuery(student_id, history)


@router.get("/assignments/{assignment_id}/submissions")
async def list_submissions(
    session: SessionDep,
    user: CurrentUser,
    assignment: ReadableAssignment,
    query: Annotated[service.SubmissionsQuery, Depends(submissions_query)],
    page: PageParams,
) -> SubmissionsPage:
    """Submissions with the assignment's submissions_count and graded_count. A student sees
    their own versions; the owner sees each student's current one (`history=true`: all
    versions; `student_id` filters)."""
    return await service.submissions_for_viewer(
        session, assignment=assignment, viewer=user, query=query, page=page
    )


@router.get("/submissions/{submission_id}")
async def get_submission(submission: ViewableSubmission) -> SubmissionOut:
    """One submission (its student, the course's teacher, admins)."""
    return SubmissionOut.model_validate(submission)


@router.get(
    "/submissions/{submission_id}/file",
    response_class=Response,
    responses={
        200: {
            "description": "The file, with the type detected from its content at upload",
            "content": {
                media: {} for media in (*service.SUBMISSION_FILE_TYPES, "application/octet-stream")
            },
        }
    },
)
async def get_submission_file(submission: ViewableSubmission, storage: StorageDep) -> Response:
    """The file attached to a submission."""
    stored = await service.submission_file(submission=submission, storage=storage)
    name = stored.name
    # An ASCII fallback plus the UTF-8 name (RFC 6266): headers must stay latin-1.
    fallback = name.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        stored.data,
        media_type=stored.media_type,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.put("/submissions/{submission_id}/grade")
async def grade_submission(
    session: SessionDep, user: CurrentUser, submission: GradableSubmission, body: GradeIn
) -> SubmissionOut:
    """Grade a submission `{score, feedback}` (the course's teacher or an admin); 422 above
    the assignment's max_score. Audited as `grade.set`."""
    return await service.grade_submission(session, actor=user, submission=submission, data=body)
