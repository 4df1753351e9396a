"""Submissions: a student's work (text and a file, checked by its content), its versions and its
grade."""

from __future__ import annotations

import io
import uuid
import zipfile
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import repository, uploads
from studyhall.assessments.assignments import assignment_view
from studyhall.assessments.errors import (
    AttemptConflict,
    EmptySubmission,
    ScoreAboveMax,
    SubmissionNotFound,
    UnsupportedFileType,
)
from studyhall.assessments.models import (
    Assignment,
    Submission,
)
from studyhall.assessments.schemas import (
    GradeIn,
    SubmissionOut,
    SubmissionsPage,
)
from studyhall.assessments.uploads import UploadedFile
from studyhall.assessments.viewers import whose_work
from studyhall.audit.service import record
from studyhall.core.clock import utcnow
from studyhall.core.pagination import Pagination, page_of, window
from studyhall.core.storage import LocalStorage
from studyhall.courses import service as courses
from studyhall.identity.models import User

# Every media type `detect_file_type` can answer (documented on GET /submissions/{id}/file).
SUBMISSION_FILE_TYPES = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/markdown",
    "text/plain",
)


def detect_file_type(data: bytes, filename: str) -> tuple[str, str]:
    """(extension, media type) from the content's magic bytes; 415 for anything else."""
    if data.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png", "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg", "image/jpeg"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" in archive.namelist():
                    return (
                        "docx",
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    )
        except zipfile.BadZipFile:
            pass
        raise UnsupportedFileType("Only pdf, txt, md, docx, png and jpg files are accepted")
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if filename.lower().endswith((".md", ".markdown")):
                return "md", "text/markdown"
            return "txt", "text/plain"
    raise UnsupportedFileType("Only pdf, txt, md, docx, png and jpg files are accepted")


def _safe_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '"<>:|?*').strip()
    return cleaned[:200] or "file"


async def submit(
    session: AsyncSession,
    *,
    assignment: Assignment,
    student: User,
    content: str,
    file: UploadedFile | None,
    storage: LocalStorage,
) -> SubmissionOut:
    """Store a new version of the student's work; it becomes current, the old one history."""
    if not content.strip() and file is None:
        raise EmptySubmission()
    key = name = media = None
    size = None
    if file is not None:
        uploads.check_size(file.data)
        if not file.data:
            raise EmptySubmission("The file is empty")
        ext, media = detect_file_type(file.data, file.filename)
        name, size = _safe_name(file.filename), len(file.data)
        key = storage.new_key("submissions", f".{ext}")
    now = utcnow()
    version = await repository.latest_version(
        session, assignment_id=assignment.id, student_id=student.id
    )
    await repository.retire_current(session, assignment_id=assignment.id, student_id=student.id)
    submission = Submission(
        assignment_id=assignment.id,
        course_id=assignment.course_id,
        student_id=student.id,
        version=version + 1,
        is_current=True,
        content=content,
        file_key=key,
        file_name=name,
        file_size=size,
        file_type=media,
        submitted_at=now,
        late=assignment.due_at is not None and now > assignment.due_at,
    )
    session.add(submission)
    try:
        await session.flush()
    except IntegrityError:
        raise AttemptConflict("Another submission was saved at the same time") from None
    if file is not None and key is not None:
        await storage.put(key, file.data)
    await courses.record_activity(session, course_id=assignment.course_id, student_id=student.id)
    return SubmissionOut.model_validate(submission)


async def list_submissions(
    session: AsyncSession,
    *,
    assignment: Assignment,
    student_id: uuid.UUID | None,
    owner_view: bool,
    history: bool,
    limit: int = 20,
    offset: int = 0,
    page: Pagination | None = None,
) -> SubmissionsPage:
    """Submissions with the assignment's counts: a student's own history, or the owner's view
    (the window is `page`, or `limit` and `offset` where the caller has them apart)."""
    if page is None:
        page = window(limit, offset)
    rows, total = await repository.list_submissions(
        session,
        assignment_id=assignment.id,
        student_id=student_id,
        current_only=owner_view and not history,
        page=page,
    )
    view = await assignment_view(
        session, assignment=assignment, student_id=None if owner_view else student_id
    )
    found = page_of(rows, total, page, SubmissionOut.model_validate)
    return SubmissionsPage(**dict(found), assignment=view)


@dataclass(frozen=True)
class SubmissionsQuery:
    """What a teacher's list of submissions shows: one student's (`student_id`), all versions
    (`history`) instead of each student's current one."""

    student_id: uuid.UUID | None = None
    history: bool = False


async def submissions_for_viewer(
    session: AsyncSession,
    *,
    assignment: Assignment,
    viewer: User,
    query: SubmissionsQuery,
    page: Pagination,
) -> SubmissionsPage:
    """Teachers see each student's current submission (all versions with `query.history`, one
    student's with `query.student_id`); a student sees their own versions."""
    teacher, whose = await whose_work(
        session, viewer=viewer, course_id=assignment.course_id, student_id=query.student_id
    )
    return await list_submissions(
        session,
        assignment=assignment,
        student_id=whose,
        owner_view=teacher,
        history=query.history,
        page=page,
    )


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    name: str
    media_type: str


async def submission_file(*, submission: Submission, storage: LocalStorage) -> StoredFile:
    """The file attached to a submission (404 when it has none)."""
    if submission.file_key is None:
        raise SubmissionNotFound("This submission has no file")
    return StoredFile(
        data=await storage.get(submission.file_key),
        name=submission.file_name or "file",
        media_type=submission.file_type or "application/octet-stream",
    )


async def grade_submission(
    session: AsyncSession, *, actor: User, submission: Submission, data: GradeIn
) -> SubmissionOut:
    """Grade a submission (0..max_score), audited as `grade.set`."""
    assignment = await repository.get_assignment(session, submission.assignment_id)
    assert assignment is not None
    if data.score > assignment.max_score:
        raise ScoreAboveMax(
            f"The score is above the assignment's max_score ({assignment.max_score:g})"
        )
    previous = submission.score
    submission.score = data.score
    submission.feedback = data.feedback
    submission.graded_at = utcnow()
    submission.graded_by = actor.id
    await record(
        session,
        action="grade.set",
        actor_id=actor.id,
        target_type="submission",
        target_id=submission.id,
        details={
            "assignment_id": str(assignment.id),
            "course_id": str(assignment.course_id),
            "student_id": str(submission.student_id),
            "score": data.score,
            "previous_score": previous,
            "max_score": assignment.max_score,
        },
    )
    await session.flush()
    return SubmissionOut.model_validate(submission)


async def get_submission(session: AsyncSession, submission_id: uuid.UUID) -> Submission | None:
    """A submission by id, or None."""
    return await repository.get_submission(session, submission_id)
