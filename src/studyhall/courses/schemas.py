"""Request and response shapes of the courses domain."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, WithJsonSchema, field_validator

from studyhall.core.schemas import InputSchema, Omitted, Page, Schema, UTCTimestamp
from studyhall.courses.models import QuizGrading, Visibility

# Prices leave the API as JSON numbers (clients expect 9.99, not "9.99").
Price = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
# Prices come in as a number or a decimal string, at most 8 digits and 2 decimals, never
# negative: the schema states exactly that (pydantic's own Decimal schema allows any string).
PriceIn = Annotated[
    Decimal,
    Field(ge=0, max_digits=10, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 99999999.99, "multipleOf": 0.01},
                {"type": "string", "pattern": r"^\d{1,8}(\.\d{1,2})?$"},
            ]
        }
    ),
]

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$"


# ---------------------------------------------------------------- courses


def category_key(value: str) -> str:
    """A category as stored and filtered: lower-case, single spaces."""
    return " ".join(value.split()).lower()


def normal_category(value: str | None) -> str | None:
    """A course's category as given in a request: stored as its key, never blank."""
    if value is None:
        return None
    if not category_key(value):
        raise ValueError("A category cannot be blank")
    return category_key(value)


class CourseCreate(InputSchema):
    code: str | None = Field(
        default=None,
        pattern=CODE_PATTERN,
        description="Unique course code such as INF001; stored upper-case. "
        "Omitted: StudyHall assigns one (`C` and 8 hex digits).",
        examples=["INF001"],
    )
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    guide: str = Field(
        default="", max_length=100_000, description="Markdown guide the tutor follows"
    )
    language: str = Field(default="en", min_length=2, max_length=16)
    level: str | None = Field(default=None, max_length=64, description="Grade or level")
    category: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Catalog category such as `programming`; stored lower-case",
        examples=["programming"],
    )
    is_published: bool = False
    price: PriceIn | None = None
    image_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    teacher_id: uuid.UUID | None = Field(
        default=None, description="Admins only: the owning teacher (a teacher's own id otherwise)"
    )
    visibility: Visibility = Field(
        default=Visibility.public,
        description="public: anyone may enroll; invite: with the course's join code; "
        "private: only the teacher or an admin adds students",
    )
    quiz_grading: QuizGrading = Field(
        default=QuizGrading.best, description="Which attempt of a quiz the gradebook counts"
    )

    _category = field_validator("category")(normal_category)

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.strip().upper() if value is not None else None


class CourseUpdate(InputSchema):
    code: Annotated[str, Field(pattern=CODE_PATTERN)] | Omitted = None
    title: Annotated[str, Field(min_length=1, max_length=200)] | Omitted = None
    description: Annotated[str, Field(max_length=20_000)] | Omitted = None
    guide: Annotated[str, Field(max_length=100_000)] | Omitted = None
    language: Annotated[str, Field(min_length=2, max_length=16)] | Omitted = None
    level: str | None = Field(default=None, max_length=64)
    category: str | None = Field(
        default=None, min_length=1, max_length=64, description="null removes the category"
    )
    is_published: bool | Omitted = None
    price: PriceIn | None = None
    image_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    teacher_id: uuid.UUID | None = Field(default=None, description="Admins only: move ownership")
    visibility: Visibility | Omitted = None
    quiz_grading: QuizGrading | Omitted = None

    _category = field_validator("category")(normal_category)

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.strip().upper() if value is not None else None


class CourseSummary(Schema):
    id: uuid.UUID
    code: str
    title: str
    description: str
    language: str
    level: str | None
    category: str | None = None
    teacher_id: uuid.UUID
    is_published: bool
    price: Price | None
    image_url: str | None
    visibility: Visibility
    quiz_grading: QuizGrading
    student_count: int = 0
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class LessonSummary(Schema):
    id: uuid.UUID
    module_id: uuid.UUID | None
    title: str
    position: int
    video_url: str | None
    video_provider: str | None
    duration_s: int | None


class ModuleOut(Schema):
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    position: int
    lessons: list[LessonSummary] = Field(default_factory=list)


class CourseDetail(CourseSummary):
    guide: str | None = Field(
        description="The tutor's teaching guide: shown to the course's teacher and admins only"
    )
    join_code: str | None = Field(
        default=None,
        description="The code students give to join an invite course: shown to its managers only",
    )
    lesson_count: int
    modules: list[ModuleOut] = Field(description="Modules in order, each with its lessons in order")
    lessons: list[LessonSummary] = Field(
        description="Every lesson in reading order: lessons without a module first, then by module"
    )


# ---------------------------------------------------------------- modules and lessons


class ModuleCreate(InputSchema):
    title: str = Field(min_length=1, max_length=200)
    position: int | None = Field(
        default=None, ge=0, description="0-based; inserting shifts later modules; default: last"
    )


class ModuleUpdate(InputSchema):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    position: int | None = Field(
        default=None, ge=0, description="0-based; others shift to stay dense"
    )


class LessonCreate(InputSchema):
    module_id: uuid.UUID | None = None
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(default="", max_length=500_000, description="Markdown")
    video_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    video_provider: str | None = Field(
        default=None, max_length=32, examples=["youtube", "vimeo", "file"]
    )
    duration_s: int | None = Field(default=None, ge=0, le=100_000)
    position: int | None = Field(
        default=None, ge=0, description="0-based within its module; default: last"
    )


class LessonUpdate(InputSchema):
    module_id: uuid.UUID | None = Field(
        default=None, description="Move to another module of the course (null: no module)"
    )
    title: Annotated[str, Field(min_length=1, max_length=200)] | Omitted = None
    content: str | None = Field(default=None, max_length=500_000)
    video_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    video_provider: str | None = Field(default=None, max_length=32)
    duration_s: int | None = Field(default=None, ge=0, le=100_000)
    position: int | None = Field(default=None, ge=0)


class LessonOut(Schema):
    id: uuid.UUID
    course_id: uuid.UUID
    module_id: uuid.UUID | None
    title: str
    content: str
    video_url: str | None
    video_provider: str | None
    duration_s: int | None
    position: int
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


# ---------------------------------------------------------------- enrollment and progress


class EnrollmentOut(Schema):
    course_id: uuid.UUID
    student_id: uuid.UUID
    enrolled_at: UTCTimestamp
    last_activity_at: UTCTimestamp


class EnrolledCourse(CourseSummary):
    enrolled_at: UTCTimestamp
    last_activity_at: UTCTimestamp
    lessons_total: int
    lessons_completed: int
    progress_percent: float


class StudentProgressRow(Schema):
    """One student in one course, with progress."""

    student_id: uuid.UUID
    email: str
    username: str | None
    full_name: str
    course_id: uuid.UUID
    course_code: str
    course_title: str
    enrolled_at: UTCTimestamp
    last_activity_at: UTCTimestamp
    lessons_total: int
    lessons_completed: int
    progress_percent: float


class ProgressUpdate(InputSchema):
    completed: bool | None = None
    video_position_s: float | None = Field(
        default=None, ge=0, le=1_000_000, description="Current playback position"
    )
    video_watched_s: float | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Total seconds of this video watched so far (the server keeps the largest)",
    )


class LessonProgressOut(Schema):
    lesson_id: uuid.UUID
    course_id: uuid.UUID
    completed: bool
    completed_at: UTCTimestamp | None
    video_position_s: float
    video_watched_s: float
    updated_at: UTCTimestamp


class ProgressUpdateOut(LessonProgressOut):
    course_progress_percent: float


class LessonProgressRow(Schema):
    lesson_id: uuid.UUID
    module_id: uuid.UUID | None
    title: str
    position: int
    completed: bool
    completed_at: UTCTimestamp | None
    video_position_s: float
    video_watched_s: float
    updated_at: UTCTimestamp | None
    best_quiz_percent: float | None = Field(
        description="The student's best score (percent) at this lesson's quizzes; null when the "
        "lesson has no quiz or none was attempted"
    )


class CourseProgressOut(Schema):
    course_id: uuid.UUID
    lessons_total: int
    lessons_completed: int
    progress_percent: float
    lessons: list[LessonProgressRow]


class DropOffBucket(Schema):
    from_percent: int
    to_percent: int
    viewers: int = Field(description="Viewers whose last position falls in this part of the video")


class VideoAnalyticsOut(Schema):
    lesson_id: uuid.UUID
    duration_s: float | None = Field(description="Lesson duration, or the furthest position seen")
    views: int = Field(description="Distinct (viewer, UTC day) pairs with a watch report")
    unique_viewers: int
    watch_events: int
    completions: int = Field(description="Viewers who completed the lesson")
    completion_rate: float = Field(description="completions / unique_viewers (0..1)")
    average_watch_time_s: float
    drop_off: list[DropOffBucket] = Field(description="Histogram of last positions in 10% buckets")


CoursePage = Page[CourseSummary]


class EnrollIn(InputSchema):
    join_code: str | None = Field(
        default=None,
        max_length=16,
        description="Required to join a course whose visibility is invite",
    )


class CourseCheckoutOut(Schema):
    """A started payment for a seat: confirm it with Stripe.js; the webhook then enrolls."""

    payment_id: str = Field(description="The provider's PaymentIntent id")
    client_secret: str
    publishable_key: str
    course_id: uuid.UUID
    amount: int = Field(description="In the currency's minor unit (cents)")
    currency: str


class JoinCodeOut(Schema):
    course_id: uuid.UUID
    join_code: str


# ---------------------------------------------------------------- roster


class RosterAdd(InputSchema):
    email: str = Field(min_length=3, max_length=320)
    full_name: str | None = Field(
        default=None, max_length=200, description="Used when the account has to be created"
    )


RosterStatus = Literal["created", "enrolled", "already_enrolled", "invalid"]


class RosterRowOut(Schema):
    """What happened to one student: `created` means an invited account was made and mailed."""

    line: int | None = Field(description="Line of the CSV file (null for a single add)")
    email: str
    status: RosterStatus
    user_id: uuid.UUID | None
    detail: str | None


class RosterImportOut(Schema):
    rows: list[RosterRowOut]
    created: int
    enrolled: int
    already_enrolled: int
    invalid: int


class AssistantAdd(InputSchema):
    email: Annotated[str, Field(min_length=3, max_length=320)] = Field(
        description="Email address of an existing teacher account"
    )


class CourseTeacherOut(Schema):
    """One of the course's teachers: its owner or an assistant."""

    user_id: uuid.UUID
    email: str
    full_name: str
    role: Literal["owner", "assistant"]
    added_at: UTCTimestamp | None = Field(description="When an assistant was added (null: owner)")
