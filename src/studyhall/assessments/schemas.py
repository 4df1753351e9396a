"""Request and response shapes of quizzes, attempts, assignments and submissions.

Students and owners get different question schemas: the student one has no `answer` and no
`explanation` field at all, so they cannot leak through a serializer mistake.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from studyhall.assessments.models import AttemptStatus, QuestionKind
from studyhall.core.schemas import NOT_BLANK, InputSchema, Omitted, Page, Schema, UTCTimestamp

AnswerValue = bool | int | str | list[int | str]
ExpectedValue = bool | str | list[str]


def _clean_options(options: list[str] | None) -> list[str] | None:
    if options is None:
        return None
    cleaned = [o.strip() for o in options]
    if any(not o for o in cleaned):
        raise ValueError("options must be non-empty strings")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("options must be distinct")
    return cleaned


def _option_index(options: list[str], value: int | str) -> int:
    if isinstance(value, bool):
        raise ValueError("an option answer is an index or an option's text, not a boolean")
    if isinstance(value, int):
        if not 0 <= value < len(options):
            raise ValueError(f"answer index {value} is outside the options")
        return value
    text = value.strip()
    if text in options:
        return options.index(text)
    raise ValueError(f"answer {value!r} is not one of the options")


class QuestionIn(InputSchema):
    prompt: str = Field(min_length=1, max_length=10_000)
    kind: QuestionKind
    options: list[str] | None = Field(
        default=None, max_length=26, description="single/multiple: the choices (2 or more)"
    )
    answer: AnswerValue = Field(
        description=(
            "single: option index or text; multiple: list of indexes or texts; true_false: "
            "boolean; short: accepted answer or list of accepted answers"
        )
    )
    explanation: str | None = Field(default=None, max_length=20_000)
    points: float = Field(default=1.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _check(self) -> QuestionIn:
        self.key()  # raises ValueError (422) when the answer does not fit the kind
        return self

    def key(self) -> tuple[list[str] | None, Any]:
        """(options, normalised answer key) as stored."""
        options = _clean_options(self.options)
        if self.kind in (QuestionKind.single, QuestionKind.multiple):
            if not options or len(options) < 2:
                raise ValueError(f"a {self.kind.value} question needs at least 2 options")
            if self.kind == QuestionKind.single:
                if isinstance(self.answer, list):
                    raise ValueError("a single-choice answer is one option")
                return options, _option_index(options, self.answer)
            values = self.answer if isinstance(self.answer, list) else [self.answer]
            indexes = sorted({_option_index(options, v) for v in values})
            if not indexes:
                raise ValueError("a multiple-choice answer needs at least one option")
            return options, indexes
        if self.kind == QuestionKind.true_false:
            if isinstance(self.answer, bool):
                return None, self.answer
            if isinstance(self.answer, str) and self.answer.strip().lower() in ("true", "false"):
                return None, self.answer.strip().lower() == "true"
            raise ValueError("a true_false answer is true or false")
        accepted = self.answer if isinstance(self.answer, list) else [self.answer]
        texts = [str(a).strip() for a in accepted if not isinstance(a, bool)]
        texts = [t for t in texts if t]
        if not texts:
            raise ValueError("a short question needs at least one accepted answer")
        return None, texts


class QuizCreate(InputSchema):
    title: str = Field(min_length=1, max_length=200)
    lesson_id: uuid.UUID | None = None
    pass_percent: float = Field(default=60.0, ge=0, le=100)
    time_limit_s: int | None = Field(
        default=None,
        ge=10,
        le=7 * 24 * 3600,
        description="Measured by the server from POST /quizzes/{id}/attempts/start",
    )
    max_attempts: int | None = Field(default=None, ge=1, le=1000)
    weight: float = Field(
        default=1.0, ge=0, le=1000, description="Share of the gradebook's weighted total"
    )
    questions: list[QuestionIn] = Field(min_length=1, max_length=1000)


class QuizUpdate(InputSchema):
    title: Annotated[str, Field(min_length=1, max_length=200)] | Omitted = None
    lesson_id: uuid.UUID | None = None
    pass_percent: Annotated[float, Field(ge=0, le=100)] | Omitted = None
    time_limit_s: int | None = Field(default=None, ge=10, le=7 * 24 * 3600)
    max_attempts: int | None = Field(default=None, ge=1, le=1000)
    weight: Annotated[float, Field(ge=0, le=1000)] | Omitted = None
    questions: list[QuestionIn] | None = Field(
        default=None, min_length=1, max_length=1000, description="Replaces every question"
    )


class QuestionStudentOut(Schema):
    id: uuid.UUID
    position: int
    prompt: str
    kind: QuestionKind
    options: list[str] | None
    points: float


class QuestionOwnerOut(QuestionStudentOut):
    answer: Any = Field(
        description="single: option index; multiple: sorted indexes; true_false: bool; "
        "short: accepted answers"
    )
    explanation: str | None


class QuizSummary(Schema):
    id: uuid.UUID
    course_id: uuid.UUID
    lesson_id: uuid.UUID | None
    title: str
    pass_percent: float
    time_limit_s: int | None
    max_attempts: int | None
    question_count: int
    max_score: float
    weight: float
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class QuizStudentOut(QuizSummary):
    questions_hidden: bool = Field(
        description="Timed quizzes show their questions only once an attempt is started"
    )
    questions: list[QuestionStudentOut]


class QuizOwnerOut(QuizSummary):
    questions: list[QuestionOwnerOut]


# ---------------------------------------------------------------- attempts


class AttemptSubmit(InputSchema):
    answers: list[AnswerValue | None] = Field(
        max_length=1000,
        description="One answer per question, in question order (null: unanswered)",
    )
    time_spent_s: float | None = Field(
        default=None, ge=0, description="As measured by the client: recorded, never trusted"
    )
    attempt_id: uuid.UUID | None = Field(
        default=None, description="The started attempt to submit (default: my open attempt)"
    )


class AttemptStartOut(Schema):
    id: uuid.UUID
    quiz_id: uuid.UUID
    status: AttemptStatus
    started_at: UTCTimestamp
    deadline_at: UTCTimestamp | None = Field(description="started_at + time_limit_s, if timed")
    attempts_used: int
    attempts_remaining: int | None
    questions: list[QuestionStudentOut]


class QuestionResult(Schema):
    question_id: uuid.UUID
    correct: bool
    points: float
    points_awarded: float
    expected: ExpectedValue | None = Field(
        default=None,
        description="Shown for questions answered correctly, or once the quiz is passed or "
        "no attempt is left",
    )
    explanation: str | None = None


class AttemptResult(Schema):
    id: uuid.UUID
    quiz_id: uuid.UUID
    status: AttemptStatus
    score: float
    max_score: float
    percent: float
    passed: bool
    started_at: UTCTimestamp
    submitted_at: UTCTimestamp
    time_spent_s: float | None
    elapsed_s: float = Field(description="Seconds between start and submission, server clock")
    attempts_used: int
    attempts_remaining: int | None
    results: list[QuestionResult]


class AttemptOut(Schema):
    id: uuid.UUID
    quiz_id: uuid.UUID
    course_id: uuid.UUID
    student_id: uuid.UUID
    status: AttemptStatus
    source: str
    started_at: UTCTimestamp
    deadline_at: UTCTimestamp | None
    submitted_at: UTCTimestamp | None
    time_spent_s: float | None
    elapsed_s: float | None
    score: float | None
    max_score: float | None
    percent: float | None
    passed: bool | None


class AttemptDetail(AttemptOut):
    answers: list[Any] | None
    results: list[QuestionResult]


class AnswerKey(Schema):
    """A question's accepted answers, for the tutor's do-not-reveal check."""

    quiz_id: uuid.UUID
    quiz_title: str
    question_id: uuid.UUID
    prompt: str
    kind: QuestionKind
    answers: list[str]
    # 0-based positions of the right options (choice questions): "the second option" leaks too.
    positions: list[int] = []


# ---------------------------------------------------------------- import


class SciQRecord(InputSchema):
    """One SciQ record as published (extra keys ignored). Its text is stored in questions, so
    it holds no NUL character, as any InputSchema's (PostgreSQL refused one with a 500)."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1, max_length=10_000)
    correct_answer: str = Field(min_length=1, max_length=2000)
    distractor1: str = Field(default="", max_length=2000)
    distractor2: str = Field(default="", max_length=2000)
    distractor3: str = Field(default="", max_length=2000)
    support: str = Field(default="", max_length=50_000)


class GenericRecord(InputSchema):
    """A plain multiple-choice record: {prompt|question, options, answer, explanation?}; extra
    keys ignored, text without NUL characters (as SciQRecord)."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1, max_length=10_000)
    options: list[str] = Field(min_length=2, max_length=26)
    answer: int | str
    explanation: str | None = Field(default=None, max_length=50_000)
    points: float = Field(default=1.0, gt=0, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _question_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "prompt" not in data and "question" in data:
            return {**data, "prompt": data["question"]}
        return data


ImportRecord = SciQRecord | GenericRecord


class QuizImport(InputSchema):
    title: str = Field(default="Imported questions", min_length=1, max_length=200)
    lesson_id: uuid.UUID | None = None
    pass_percent: float = Field(default=60.0, ge=0, le=100)
    time_limit_s: int | None = Field(default=None, ge=10, le=7 * 24 * 3600)
    max_attempts: int | None = Field(default=None, ge=1, le=1000)
    weight: float = Field(
        default=1.0, ge=0, le=1000, description="Share of the gradebook's weighted total"
    )
    seed: int = Field(default=0, description="Seed of the option shuffle (same seed, same order)")
    shuffle: bool = True
    items: list[ImportRecord] = Field(min_length=1, max_length=5000)


class ImportResult(Schema):
    quiz: QuizSummary
    imported: int
    skipped: int = Field(description="Records with fewer than 2 distinct options")


# ---------------------------------------------------------------- assignments


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # a timestamp without zone is read as UTC
    return value


DueAt = Annotated[datetime, AfterValidator(_aware)]


class AssignmentCreate(InputSchema):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=50_000)
    due_at: DueAt | None = None
    max_score: float = Field(default=100.0, gt=0, le=100_000)
    weight: float = Field(
        default=1.0, ge=0, le=1000, description="Share of the gradebook's weighted total"
    )


class AssignmentUpdate(InputSchema):
    title: Annotated[str, Field(min_length=1, max_length=200)] | Omitted = None
    description: Annotated[str, Field(max_length=50_000)] | Omitted = None
    due_at: DueAt | None = None
    max_score: Annotated[float, Field(gt=0, le=100_000)] | Omitted = None
    weight: Annotated[float, Field(ge=0, le=1000)] | Omitted = None


class AssignmentOut(Schema):
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    description: str
    due_at: UTCTimestamp | None
    max_score: float
    weight: float
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    submissions_count: int = Field(
        default=0, description="Students with a current submission (a student: 0 or 1, own)"
    )
    graded_count: int = Field(default=0, description="Of those, graded")


class SubmissionCreate(InputSchema):
    """The JSON form of a submission (a file needs multipart)."""

    # The schema says what is accepted (some visible text); the service answers a blank one
    # with its own code, `empty_submission`.
    model_config = ConfigDict(json_schema_extra={"required": ["content"]})

    content: str = Field(default="", max_length=200_000, json_schema_extra={"pattern": NOT_BLANK})


class SubmissionOut(Schema):
    id: uuid.UUID
    assignment_id: uuid.UUID
    course_id: uuid.UUID
    student_id: uuid.UUID
    version: int
    is_current: bool
    content: str
    file_name: str | None
    file_size: int | None
    file_type: str | None
    submitted_at: UTCTimestamp
    late: bool
    score: float | None
    feedback: str | None
    graded_at: UTCTimestamp | None
    graded_by: uuid.UUID | None


class SubmissionsPage(Page[SubmissionOut]):
    assignment: AssignmentOut


class GradeIn(InputSchema):
    score: float = Field(ge=0, description="0..max_score of the assignment (422 above)")
    feedback: str | None = Field(default=None, max_length=50_000)


# ---------------------------------------------------------------- gradebook


class GradebookColumn(Schema):
    id: uuid.UUID
    kind: Literal["quiz", "assignment"]
    title: str
    max_score: float
    weight: float


class GradebookCell(Schema):
    column_id: uuid.UUID
    percent: float | None = Field(description="null: not attempted, not submitted or not graded")


class GradebookRow(Schema):
    student_id: uuid.UUID
    full_name: str
    email: str
    cells: list[GradebookCell] = Field(description="One per column, in the columns' order")
    total_percent: float | None = Field(
        description="Weighted mean of the cells, a missing grade counting 0 (null: no weight)"
    )


class Gradebook(Schema):
    course_id: uuid.UUID
    quiz_grading: Literal["best", "last"] = Field(
        description="Which attempt of each quiz counts: the course's choice"
    )
    columns: list[GradebookColumn]
    rows: list[GradebookRow]
