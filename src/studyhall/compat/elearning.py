"""E-learning gateway dialect: document 003, served under /compat/elearning.

The gateway's base URL is `<host>/api/v1`; auth routes sit there, content routes under
`/content`. Courses are StudyHall courses (the document's `modules`), lessons are lessons,
`first_name`/`last_name` are the user's given and family name. Errors are the document's
`{"detail", "error_code", "status_code", "timestamp"}`; validation is 422 with a
`[{"field", "message"}]` list.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from studyhall.assessments import service as assessments
from studyhall.assessments.models import Quiz
from studyhall.assessments.schemas import AssignmentCreate, AttemptSubmit
from studyhall.compat.base import (
    DialectError,
    DialectIn,
    OwnProfileDep,
    SignInDep,
    SignUpDep,
    admin_change,
    error_docs,
    field_path,
    iso,
    new_dialect_app,
    parse,
)
from studyhall.core.clock import utcnow
from studyhall.core.db import SessionDep
from studyhall.core.openapi import OPTIONAL_CREDENTIALS
from studyhall.courses import service as courses
from studyhall.courses.dependencies import (
    CatalogCourse,
    CatalogViewer,
    EnrolledCourse,
    OwnedCourse,
    OwnedLesson,
    ReadableCourse,
    ReadableLesson,
    StudentCourse,
    StudentLesson,
    course_by_id,
    course_for_owner,
    course_for_reader,
    lesson_by_id,
    lesson_for_enrolled_student,
    lesson_for_owner,
)
from studyhall.courses.models import Course
from studyhall.courses.schemas import (
    CourseCreate,
    CourseUpdate,
    LessonCreate,
    LessonUpdate,
    ProgressUpdate,
)
from studyhall.identity import service as identity
from studyhall.identity.dependencies import (
    AdminUser,
    CurrentUser,
    DatabaseDep,
    LimiterDep,
    SettingsDep,
    StudentUser,
    TeacherOrAdmin,
)
from studyhall.identity.models import Role, User
from studyhall.identity.oauth import service as external_sign_in
from studyhall.identity.oauth.providers import configured_providers
from studyhall.identity.schemas import PasswordChangeIn
from studyhall.video import service as videos
from studyhall.video.dependencies import (
    OwnedVideo,
    StorageDep,
    video_for_student,
    video_for_teacher,
)
from studyhall.video.errors import VideoNotFound
from studyhall.video.models import Video, VideoHostName, VideoPrivacy
from studyhall.video.schemas import HeartbeatIn, VideoCreate, VideoOut, VideoUpdate

DESCRIPTION = """
The e-learning gateway API (document 003) served by StudyHall: give its front-end the base URL
`<studyhall>/compat/elearning/api/v1` (the gateway's `API_BASE`).

Courses are StudyHall courses (the document's `modules`), `first_name`/`last_name` are the
account's given and family name, lessons keep their order (`order` 1 is the first). Tokens are
StudyHall's (they carry `email`, `role` and `roles`), so one account works in every dialect and in
the canonical API. Where the document is unsafe or StudyHall's rules differ, StudyHall's apply:

* **Registration** creates students only (the body has no role).
* **Course catalog** (`GET /content/modules`, `GET /content/modules/{course_id}`) is public, as
  documented: without a token it shows StudyHall's public catalog (`GET /api/v1/catalog/courses`:
  published courses that are not private); with one, what that user sees (drafts to their
  teacher and admins only).
* **Course writes**: a teacher manages their own courses, an admin any (`DELETE` too);
  `instructor_id` is for admins only.
* **Logout** ends the session whose refresh token is sent (`{"refresh_token"}` in the body, or
  as the bearer token); without one, the access token simply expires.
* **Videos** are StudyHall's hosted videos (its own tus server, or Vimeo where configured):
  `POST /content/vimeo/upload` needs the `course_id` of a course one manages and answers the
  tus `upload_link`; `ticket_id`, `upload_id` and the tail of `complete_uri` are the video's id,
  the `video_id` of the other video routes. `privacy` `nobody` shows the video to the course's
  staff only, any other Vimeo value to the course's readers (never publicly).
  `GET /content/videos/course/{id}` shows `views` and `completion_rate` to the course's
  teachers and admins (`null` for students). The analytics and watch-progress routes also take
  a lesson's id (a lesson that links a Vimeo page without an upload keeps its own figures);
  watch progress is the player's position (`progress_seconds`): the video's own duration
  decides completion (90%), the client's `total_duration` and `completed` are not needed.
* **Per-lesson `score`** is the student's best percent at the lesson's quiz (`null` without
  one); a score sent with progress is ignored (scores come from graded attempts).
* **Quizzes**: `GET /content/quiz/{lesson_id}` is the lesson's first quiz; `correct_answer` is
  shown to the course's teachers and admins only (`null` for students).
* **Lessons** (`GET /content/lessons`) are those of the courses one may read (`?course_id=`
  narrows to one course). **Progress records** (`GET /content/users_progress`) are keyed by
  (lesson, student): their `id` is the lesson's (students only, like StudyHall's progress).
* **Statistics** (`/content/admin/stats*`) are admin-only, like StudyHall's platform figures.
  Money is net of refunds, in major units of the most used payment currency (named in an added
  `currency` field; currencies are never added together). A course's optional `category`
  (create and update, shown on courses; stored lower-case) is StudyHall's course category;
  `courses_by_category` counts the courses of each (uncategorised ones are in the totals
  only). `revenue_by_course` lists the paid courses' seat revenue
  (`enrollments`: seats paid for); token packages belong to no course and count in the totals
  only. `active_students_today` and `active_students` (30 days) count
  students with course activity; `completion_rate` is the percent of enrolled students' lessons
  completed; `new_enrollments_this_week` counts the last 7 days.
* Lists return at most 100 items.
"""


class ElearningError(BaseModel):
    detail: Any
    error_code: str
    status_code: int
    timestamp: str | None = None


_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "PAYMENT_REQUIRED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def _error(status_code: int, message: str, code: str = "") -> dict[str, Any]:
    return {
        "detail": message,
        "error_code": code.upper() if code else _CODES.get(status_code, "ERROR"),
        "status_code": status_code,
        "timestamp": iso(utcnow()),
    }


class _Style:
    def error(self, status: int, message: str, code: str) -> dict[str, Any]:
        return _error(status, message, code)

    def validation(self, errors: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        fields = []
        for item in errors:
            loc = field_path(item)
            fields.append({"field": ".".join(loc) or "body", "message": str(item.get("msg"))})
        return 422, {"detail": fields, "error_code": "VALIDATION_ERROR", "status_code": 422}


errors = error_docs(ElearningError)


def _fail(status_code: int, message: str, code: str = "") -> DialectError:
    return DialectError(status_code, _error(status_code, message, code))


# Shapes


def _user(user: Any) -> dict[str, Any]:
    first, last = identity.name_parts(user)
    return {
        "id": str(user.id),
        "email": user.email,
        "first_name": first,
        "last_name": last,
        "role": str(user.role),
    }


def _profile(user: Any) -> dict[str, Any]:
    return {**_user(user), "is_verified": user.is_verified, "created_at": iso(user.created_at)}


def _admin_user(user: Any) -> dict[str, Any]:
    return {**_profile(user), "is_active": user.is_active}


_VIMEO_ID = re.compile(r"vimeo\.com/(?:video/)?(\d+)")


def _vimeo_id(video_url: str | None) -> str | None:
    found = _VIMEO_ID.search(video_url or "")
    return found.group(1) if found else None


def _lesson(lesson: Any) -> dict[str, Any]:
    """A lesson as the content service shows it (`order` counts from 1)."""
    return {
        "id": str(lesson.id),
        "course_id": str(lesson.course_id),
        "title": lesson.title,
        "description": lesson.content,
        "video_url": lesson.video_url,
        "video_type": lesson.video_provider,
        "vimeo_id": _vimeo_id(lesson.video_url),
        "duration": lesson.duration_s,
        "order": lesson.position + 1,
    }


def _outline_lesson(lesson: Any) -> dict[str, Any]:
    # The course outline holds no lesson text (the lesson's own routes do).
    return {
        "id": str(lesson.id),
        "title": lesson.title,
        "description": None,
        "video_url": lesson.video_url,
        "duration": lesson.duration_s,
        "order": lesson.position + 1,
    }


def _course(detail: Any, instructor_name: str | None) -> dict[str, Any]:
    return {
        "id": str(detail.id),
        "name": detail.title,
        "description": detail.description,
        "image_url": detail.image_url,
        "price": float(detail.price) if detail.price is not None else None,
        "category": detail.category,
        "instructor_id": str(detail.teacher_id),
        "instructor_name": instructor_name,
        "lessons": [_outline_lesson(lesson) for lesson in detail.lessons],
        "total_lessons": detail.lesson_count,
        "total_duration": sum(lesson.duration_s or 0 for lesson in detail.lessons),
        "created_at": iso(detail.created_at),
    }


# Bodies


_Name = Annotated[str, Field(min_length=1, max_length=100)]


class LoginBody(DialectIn):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    mot_de_passe: Annotated[str, Field(min_length=1, max_length=1024)]


class RegisterBody(DialectIn):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    mot_de_passe: Annotated[str, Field(min_length=1, max_length=1024)]
    first_name: _Name
    last_name: _Name


class OAuthBody(DialectIn):
    token: Annotated[str, Field(min_length=1, max_length=8192)]


class VerifyBody(DialectIn):
    token: Annotated[str, Field(min_length=1, max_length=512)]
    email: Annotated[str, Field(max_length=320)] | None = None


class LogoutBody(DialectIn):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)] | None = None


class ProfileBody(DialectIn):
    model_config = ConfigDict(extra="forbid")

    first_name: _Name | None = None
    last_name: _Name | None = None


class PasswordBody(DialectIn):
    current_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: Annotated[str, Field(min_length=1, max_length=1024)]


class RoleBody(DialectIn):
    role: str


class CourseBody(DialectIn):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=20_000)] = ""
    price: float | None = Field(default=None, ge=0)
    image_url: Annotated[str, Field(max_length=500)] | None = None
    instructor_id: uuid.UUID | None = None
    category: Annotated[str, Field(max_length=64)] | None = None


class CourseChanges(DialectIn):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=20_000)] | None = None
    price: float | None = Field(default=None, ge=0)
    image_url: Annotated[str, Field(max_length=500)] | None = None
    category: Annotated[str, Field(max_length=64)] | None = None


class LessonBody(DialectIn):
    course_id: uuid.UUID
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=500_000)] = ""
    video_url: Annotated[str, Field(max_length=500)] | None = None
    video_type: Annotated[str, Field(max_length=32)] | None = None
    vimeo_id: Annotated[str, Field(pattern=r"^\d{1,20}$")] | None = None
    duration: int | None = Field(default=None, ge=0, le=100_000)
    order: int | None = Field(default=None, ge=1, le=100_000)


class LessonChanges(DialectIn):
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=500_000)] | None = None
    video_url: Annotated[str, Field(max_length=500)] | None = None
    video_type: Annotated[str, Field(max_length=32)] | None = None
    vimeo_id: Annotated[str, Field(pattern=r"^\d{1,20}$")] | None = None
    duration: int | None = Field(default=None, ge=0, le=100_000)
    order: int | None = Field(default=None, ge=1, le=100_000)


class ProgressBody(DialectIn):
    completed: bool | None = None
    score: float | None = Field(default=None, description="Not kept by StudyHall (ignored)")
    video_watched: bool | None = None


class WatchBody(DialectIn):
    progress_seconds: float = Field(ge=0, le=1_000_000)
    total_duration: float | None = Field(default=None, ge=0, le=1_000_000)
    completed: bool | None = None


class AssignmentBody(DialectIn):
    course_id: uuid.UUID
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=50_000)] = ""
    due_date: str | None = None
    max_score: float = Field(default=100, gt=0, le=100_000)


class VimeoUpload(DialectIn):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    size: int = Field(ge=1, description="The file's exact size in bytes")
    course_id: uuid.UUID = Field(description="The course the video belongs to (required here)")


class VimeoMetadata(DialectIn):
    name: Annotated[str, Field(max_length=200)] | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    privacy: (
        Literal["nobody", "disable", "anybody", "unlisted", "contacts", "users", "password"] | None
    ) = None


# Routes

router = APIRouter(prefix="/api/v1")


def _created(kind: str, out: dict[str, Any]) -> dict[str, Any]:
    """The document's answer to a creation: the new object's id, a message and the object."""
    return {"id": out["id"], "message": f"{kind.capitalize()} created successfully", kind: out}


async def _managed_course(session: SessionDep, user: User, course_id: uuid.UUID) -> Course:
    """The course a body names, for a teacher of it or an admin (the course loaders' 404/403)."""
    return await course_for_owner(await course_by_id(course_id, user, session), user)


# Lists answer at most this many items (the document's lists have no paging).
LIST_LIMIT = 100


async def _tokens(db: DatabaseDep, settings: SettingsDep, pair: Any) -> dict[str, Any]:
    """The document's login answer: tokens whose access token carries `email` and `roles`."""
    async with db.session(write=False) as session:
        access = await identity.access_token_with_claims(
            session,
            settings=settings,
            user_id=pair.user.id,
            claims={"email": pair.user.email, "roles": [str(pair.user.role)]},
        )
    return {
        "access_token": access,
        "refresh_token": pair.refresh_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
        "user": _user(pair.user),
    }


@router.post("/login", responses=errors(401, 422, 429), summary="Log in")
async def login(body: LoginBody, sign_in: SignInDep) -> dict[str, Any]:
    pair = await sign_in(body.email, body.mot_de_passe)
    return await _tokens(sign_in.db, sign_in.settings, pair)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(409, 422, 429),
    summary="Register (students)",
)
async def register(body: RegisterBody, sign_up: SignUpDep) -> dict[str, Any]:
    user = await sign_up(
        email=body.email,
        password=body.mot_de_passe,
        full_name=identity.join_names(body.first_name, body.last_name),
        given_name=body.first_name,
        family_name=body.last_name,
    )
    return {
        "message": "User created successfully",
        "user_id": str(user.id),
        "verification_required": not user.is_verified,
    }


@router.post(
    "/oauth-login",
    responses=errors(401, 422, 429, 503),
    summary="Log in with a Google ID token",
)
async def oauth_login(
    body: OAuthBody, db: DatabaseDep, settings: SettingsDep, limiter: LimiterDep
) -> dict[str, Any]:
    if "google" not in {p.name for p in configured_providers(settings.auth)}:
        raise _fail(503, "Google sign-in is not configured on this server")
    pair = await external_sign_in.sign_in_with_id_token(
        db, settings=settings, limiter=limiter, provider="google", id_token=body.token
    )
    tokens = await _tokens(db, settings, pair)
    return {k: tokens[k] for k in ("access_token", "refresh_token", "user")}


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise DialectError(
            401,
            _error(401, "Send the refresh token as the bearer token", "not_authenticated"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return value.strip()


@router.post(
    "/refresh",
    responses=errors(401),
    summary="New access token (the refresh token is the bearer token)",
)
async def refresh(request: Request, db: DatabaseDep, settings: SettingsDep) -> dict[str, Any]:
    pair = await identity.refresh(db, settings=settings, refresh_token=_bearer(request))
    # StudyHall rotates refresh tokens: the new one comes along (the old one is spent).
    return {
        "access_token": pair.access_token,
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
    }


@router.post("/verify-email", responses=errors(400, 422), summary="Verify an email")
async def verify_email(body: VerifyBody, session: SessionDep) -> dict[str, str]:
    verified = await identity.verify_email(session, token=body.token)
    if body.email is not None and body.email.strip().lower() != verified.email:
        raise _fail(400, "The token was not sent to this address", "invalid_token")
    return {"message": "Email verified successfully"}


@router.post("/logout", responses=errors(401), summary="Log out")
async def logout(
    user: CurrentUser, session: SessionDep, body: LogoutBody | None = None
) -> dict[str, str]:
    if body is not None and body.refresh_token:
        await identity.logout(session, user=user, refresh_token=body.refresh_token)
    return {"message": "Logged out successfully"}


@router.get("/users/me", responses=errors(401), summary="Own profile")
async def get_me(user: CurrentUser) -> dict[str, Any]:
    return _profile(user)


@router.put("/users/me", responses=errors(401, 403, 422), summary="Update own names")
async def put_me(body: ProfileBody, me: OwnProfileDep) -> dict[str, Any]:
    changes = {"given_name": body.first_name, "family_name": body.last_name}
    updated = await me.change(**{k: v for k, v in changes.items() if v is not None})
    return {"message": "Profile updated successfully", "user": _profile(updated)}


@router.put("/change-password", responses=errors(400, 401, 422, 429), summary="Change password")
async def change_password(
    body: PasswordBody,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> dict[str, str]:
    # The document's change ends every session (no refresh token to keep).
    data = parse(PasswordChangeIn, body.model_dump())
    await identity.change_password(
        session, settings=settings, limiter=limiter, user=user, data=data
    )
    return {"message": "Password changed successfully"}


# Admin user management

_ROLES = {"student": Role.student, "teacher": Role.teacher, "admin": Role.admin}


@router.get("/admin/users", responses=errors(401, 403, 422), summary="List users")
async def admin_users(
    admin: AdminUser,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    role: Annotated[Role | None, Query()] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    users, total = await identity.admin_list_users(
        session, role=role, search=search, is_active=None, limit=limit, offset=(page - 1) * limit
    )
    return {
        "users": [_admin_user(u) for u in users],
        "total": total,
        "page": page,
        "pages": (total + limit - 1) // limit,
    }


@router.get("/admin/users/{user_id}", responses=errors(401, 403, 404), summary="A user")
async def admin_user(user_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    user = await identity.admin_get_user(session, user_id=user_id)
    return {**_admin_user(user), "last_login": iso(user.last_login_at)}


@router.put(
    "/admin/users/{user_id}/role",
    responses=errors(400, 401, 403, 404, 422),
    summary="Change a user's role",
)
async def admin_role(
    user_id: uuid.UUID, body: RoleBody, admin: AdminUser, session: SessionDep
) -> dict[str, Any]:
    role = _ROLES.get(body.role.strip().lower())
    if role is None:
        raise _fail(400, f"Invalid role: {body.role}", "invalid_role")
    user = await admin_change(session, admin=admin, user_id=user_id, role=role)
    return {"message": "User role updated successfully", "user": _admin_user(user)}


@router.delete("/admin/users/{user_id}", responses=errors(401, 403, 404), summary="Delete a user")
async def admin_delete(user_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> dict[str, str]:
    await identity.admin_delete_user(session, actor=admin, user_id=user_id)
    return {"message": "User deleted successfully"}


@router.post(
    "/admin/users/{user_id}/block",
    responses=errors(401, 403, 404),
    summary="Block a user",
)
async def admin_block(user_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> dict[str, str]:
    await admin_change(session, admin=admin, user_id=user_id, is_active=False)
    return {"message": "User blocked successfully"}


@router.post(
    "/admin/users/{user_id}/unblock",
    responses=errors(401, 403, 404),
    summary="Unblock a user",
)
async def admin_unblock(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> dict[str, str]:
    await admin_change(session, admin=admin, user_id=user_id, is_active=True)
    return {"message": "User unblocked successfully"}


# Content: courses ("modules")


async def _catalog(session: SessionDep, user: User | None, *, teacher_id: uuid.UUID | None) -> Any:
    """The courses the caller sees (at most LIST_LIMIT), optionally one teacher's."""
    return await courses.list_courses(
        session, viewer=user, teacher_id=teacher_id, limit=LIST_LIMIT, offset=0
    )


async def _course_out(session: SessionDep, user: User | None, course: Course) -> dict[str, Any]:
    manager = user is not None and courses.manages(user, course)
    detail = await courses.course_detail(session, course=course, for_manager=manager)
    names = await identity.full_names_by_id(session, user_ids=[detail.teacher_id])
    return _course(detail, names.get(detail.teacher_id))


@router.get(
    "/content/modules",
    responses=errors(401),
    summary="The course catalog",
    openapi_extra=OPTIONAL_CREDENTIALS,
)
async def list_modules(user: CatalogViewer, session: SessionDep) -> list[dict[str, Any]]:
    found = await _catalog(session, user, teacher_id=None)
    out = []
    for summary in found.items:
        course = await courses.get_course(session, summary.id)
        out.append(await _course_out(session, user, course))
    return out


@router.get(
    "/content/modules/{course_id}",
    responses=errors(401, 404),
    summary="A course",
    openapi_extra=OPTIONAL_CREDENTIALS,
)
async def get_module(
    user: CatalogViewer, course: CatalogCourse, session: SessionDep
) -> dict[str, Any]:
    body = await _course_out(session, user, course)
    names = await identity.full_names_by_id(session, user_ids=[course.teacher_id])
    return {
        **body,
        "instructor": {"id": str(course.teacher_id), "name": names.get(course.teacher_id)},
    }


@router.post(
    "/content/admin/courses",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 422),
    summary="Create a course (teachers and admins)",
)
async def create_course(
    body: CourseBody, user: TeacherOrAdmin, session: SessionDep
) -> dict[str, Any]:
    data = parse(
        CourseCreate,
        {
            "title": body.name,
            "description": body.description,
            "price": body.price if body.price else None,
            "image_url": body.image_url,
            "teacher_id": body.instructor_id,
            "category": body.category,
            # The document has no drafts: a course is in the catalog once created.
            "is_published": True,
        },
    )
    detail = await courses.create_course(session, actor=user, data=data)
    course = await courses.get_course(session, detail.id)
    out = await _course_out(session, user, course)
    return _created("course", out)


@router.put(
    "/content/admin/courses/{course_id}",
    responses=errors(401, 403, 404, 422),
    summary="Update a course (its teacher or an admin)",
)
async def update_course(
    user: TeacherOrAdmin, body: CourseChanges, course: OwnedCourse, session: SessionDep
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for theirs, ours in (
        ("name", "title"),
        ("description", "description"),
        ("image_url", "image_url"),
        ("category", "category"),
    ):
        value = getattr(body, theirs)
        if value is not None:
            changes[ours] = value
    if body.price is not None:
        changes["price"] = body.price
    await courses.update_course(
        session, actor=user, course=course, data=parse(CourseUpdate, changes)
    )
    out = await _course_out(session, user, await courses.get_course(session, course.id))
    return {"message": "Course updated successfully", "course": out}


@router.delete(
    "/content/admin/courses/{course_id}",
    responses=errors(401, 403, 404),
    summary="Delete a course (its teacher or an admin)",
)
async def delete_course(
    user: TeacherOrAdmin, course: OwnedCourse, session: SessionDep
) -> dict[str, str]:
    await courses.delete_course(session, actor=user, course=course)
    return {"message": "Course deleted successfully"}


# Lessons


def _lesson_fields(body: LessonBody | LessonChanges) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if body.title is not None:
        fields["title"] = body.title
    if body.description is not None:
        fields["content"] = body.description
    video_url = body.video_url
    if video_url is None and body.vimeo_id is not None:
        video_url = f"https://vimeo.com/{body.vimeo_id}"
    if video_url is not None:
        fields["video_url"] = video_url
    video_type = body.video_type or ("vimeo" if body.vimeo_id else None)
    if video_type is not None:
        fields["video_provider"] = video_type
    if body.duration is not None:
        fields["duration_s"] = body.duration
    if body.order is not None:
        fields["position"] = body.order - 1
    return fields


@router.get(
    "/content/lessons",
    responses=errors(401, 403, 404, 422),
    summary="Lessons of the courses one takes or teaches (`?course_id=` for one course)",
)
async def list_lessons(
    user: CurrentUser,
    session: SessionDep,
    course_id: Annotated[uuid.UUID | None, Query()] = None,
) -> list[dict[str, Any]]:
    if course_id is not None:
        chosen = [
            await course_for_reader(await course_by_id(course_id, user, session), user, session)
        ]
    else:
        found = await _catalog(session, user, teacher_id=None)
        chosen = []
        for summary in found.items:
            course = await courses.get_course(session, summary.id)
            # The catalog shows courses one may not open: only readable ones give lessons.
            if await courses.reads(session, user=user, course=course):
                chosen.append(course)
    out: list[dict[str, Any]] = []
    for course in chosen:
        out.extend(_lesson(lesson) for lesson in await courses.course_lessons(session, course.id))
    return out[:LIST_LIMIT]


@router.post(
    "/content/lessons",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
    summary="Add a lesson (the course's teacher or an admin)",
)
async def create_lesson(
    body: LessonBody, user: TeacherOrAdmin, session: SessionDep
) -> dict[str, Any]:
    course = await _managed_course(session, user, body.course_id)
    lesson = await courses.create_lesson(
        session, course=course, data=parse(LessonCreate, _lesson_fields(body))
    )
    out = _lesson(lesson)
    return _created("lesson", out)


@router.put(
    "/content/lessons/{lesson_id}",
    responses=errors(401, 403, 404, 422),
    summary="Update a lesson",
)
async def update_lesson(
    user: TeacherOrAdmin, body: LessonChanges, lesson: OwnedLesson, session: SessionDep
) -> dict[str, Any]:
    updated = await courses.update_lesson(
        session, lesson=lesson, data=parse(LessonUpdate, _lesson_fields(body))
    )
    return {"message": "Lesson updated successfully", "lesson": _lesson(updated)}


@router.delete(
    "/content/lessons/{lesson_id}",
    responses=errors(401, 403, 404),
    summary="Delete a lesson",
)
async def delete_lesson(
    user: TeacherOrAdmin, lesson: OwnedLesson, session: SessionDep
) -> dict[str, str]:
    await courses.delete_lesson(session, lesson=lesson)
    return {"message": "Lesson deleted successfully"}


# Enrollment


@router.post(
    "/content/courses/{course_id}/enroll",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 402, 403, 404, 409),
    summary="Enroll the calling student",
)
async def enroll(user: StudentUser, course: StudentCourse, session: SessionDep) -> dict[str, Any]:
    enrollment = await courses.enroll(session, student=user, course=course)
    return {
        "message": "Enrolled successfully",
        "enrollment": {
            # StudyHall keys an enrollment by (course, student): its id is the course's.
            "id": str(enrollment.course_id),
            "course_id": str(enrollment.course_id),
            "user_id": str(enrollment.student_id),
            "enrolled_at": iso(enrollment.enrolled_at),
        },
    }


@router.get(
    "/content/courses/my-courses",
    responses=errors(401, 403),
    summary="The calling student's courses",
)
async def my_courses(user: StudentUser, session: SessionDep) -> dict[str, Any]:
    found = await courses.list_enrolled(session, student=user, limit=100, offset=0)
    return {
        "enrolled_courses": [
            {
                "id": str(c.id),
                "name": c.title,
                "progress_percentage": c.progress_percent,
                "enrolled_at": iso(c.enrolled_at),
                "last_accessed": iso(c.last_activity_at),
            }
            for c in found.items
        ]
    }


@router.delete(
    "/content/courses/{course_id}/unenroll",
    responses=errors(401, 403, 404),
    summary="Leave a course",
)
async def unenroll(user: StudentUser, course: StudentCourse, session: SessionDep) -> dict[str, str]:
    await courses.unenroll(session, student=user, course=course)
    return {"message": "Unenrolled successfully"}


# Progress


@router.get(
    "/content/users_progress",
    responses=errors(401, 403),
    summary="The calling student's lesson progress records",
)
async def my_progress(user: StudentUser, session: SessionDep) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for course_id in await courses.enrolled_course_ids(session, user_id=user.id):
        course = await courses.get_course(session, course_id)
        progress = await courses.course_progress(session, student=user, course=course)
        out.extend(
            {
                # A record is keyed by (lesson, student): its id is the lesson's.
                "id": str(row.lesson_id),
                "lesson_id": str(row.lesson_id),
                "user_id": str(user.id),
                "completed": row.completed,
                "score": row.best_quiz_percent,
                "video_watched": row.video_watched_s > 0,
                "completed_at": iso(row.completed_at),
            }
            for row in progress.lessons
            if row.updated_at is not None or row.best_quiz_percent is not None
        )
    return out[:LIST_LIMIT]


@router.get(
    "/content/users_progress/course/{course_id}",
    responses=errors(401, 403, 404),
    summary="The calling student's progress in a course",
)
async def course_progress(
    user: StudentUser, course: EnrolledCourse, session: SessionDep
) -> list[dict[str, Any]]:
    progress = await courses.course_progress(session, student=user, course=course)
    return [
        {
            "lesson_id": str(row.lesson_id),
            "completed": row.completed,
            "score": row.best_quiz_percent,
            "video_watched": row.video_watched_s > 0,
        }
        for row in progress.lessons
    ]


@router.put(
    "/content/users_progress/",
    responses=errors(401, 403, 404, 422),
    summary="Record the calling student's progress in a lesson (`?lesson_id=`)",
)
async def put_progress(
    user: StudentUser, body: ProgressBody, lesson: StudentLesson, session: SessionDep
) -> dict[str, Any]:
    result = await courses.update_progress(
        session, student=user, lesson=lesson, data=ProgressUpdate(completed=body.completed)
    )
    return {
        "message": "Progress updated successfully",
        "progress": {
            "lesson_id": str(result.lesson_id),
            "user_id": str(user.id),
            "completed": result.completed,
            "score": None,
            "video_watched": result.video_watched_s > 0,
            "completed_at": iso(result.completed_at),
        },
    }


# Quizzes (a lesson's quiz: the first one bound to the lesson)

_KINDS = {
    "single": "multiple_choice",
    "multiple": "multiple_select",
    "true_false": "true_false",
    "short": "short_answer",
}


async def _lesson_quiz(session: SessionDep, lesson: Any) -> Quiz:
    found = await assessments.list_quizzes(
        session, course_id=lesson.course_id, lesson_id=lesson.id, limit=1, offset=0
    )
    quiz = await assessments.get_quiz(session, found.items[0].id) if found.items else None
    if quiz is None:
        raise _fail(404, "This lesson has no quiz", "quiz_not_found")
    return quiz


@router.get(
    "/content/quiz/{lesson_id}",
    responses=errors(401, 403, 404),
    summary="A lesson's quiz (answers for its teachers only)",
)
async def lesson_quiz(
    user: CurrentUser, lesson: ReadableLesson, session: SessionDep
) -> dict[str, Any]:
    quiz = await _lesson_quiz(session, lesson)
    course = await courses.get_course(session, lesson.course_id)
    view: Any
    if courses.manages(user, course):
        view = await assessments.quiz_for_owner(session, quiz=quiz)
    else:
        view = await assessments.quiz_for_student(session, quiz=quiz, student=user)
    return {
        "id": str(quiz.id),
        "lesson_id": str(lesson.id),
        "questions": [
            {
                "id": str(q.id),
                "question": q.prompt,
                "type": _KINDS.get(str(q.kind), str(q.kind)),
                "options": q.options,
                # StudyHall never gives students the answers before they submit.
                "correct_answer": getattr(q, "answer", None),
            }
            for q in view.questions
        ],
    }


class QuizAnswers(DialectIn):
    answers: list[Any] = Field(max_length=1000)
    time_spent: float | None = Field(default=None, ge=0)


@router.post(
    "/content/quiz/{lesson_id}/submit",
    responses=errors(401, 403, 404, 409, 422),
    summary="Submit answers to a lesson's quiz",
)
async def submit_quiz(
    user: StudentUser, body: QuizAnswers, lesson: StudentLesson, session: SessionDep
) -> dict[str, Any]:
    quiz = await _lesson_quiz(session, lesson)
    data = parse(AttemptSubmit, {"answers": body.answers, "time_spent_s": body.time_spent})
    result = await assessments.submit_attempt(session, quiz=quiz, student=user, data=data)
    return {
        "score": result.percent,
        "total_questions": len(result.results),
        "correct_answers": sum(1 for r in result.results if r.correct),
        "passed": result.passed,
    }


# Videos: StudyHall's video domain (a tus upload on the configured host, local or Vimeo).
# `video_id` is a video's id; the analytics and watch-progress routes also take a lesson id (a
# lesson that points at a Vimeo page without an uploaded video keeps its own figures).

# Vimeo's `privacy.view` values for StudyHall's two: `nobody` hides a video from students, every
# other value shows it to the course's readers (StudyHall never lists videos publicly).
_PRIVACY_IN = {
    "nobody": VideoPrivacy.staff,
    "disable": VideoPrivacy.course,
    "anybody": VideoPrivacy.course,
    "unlisted": VideoPrivacy.course,
    "contacts": VideoPrivacy.course,
    "users": VideoPrivacy.course,
    "password": VideoPrivacy.course,
}
_PRIVACY_OUT = {VideoPrivacy.staff: "nobody", VideoPrivacy.course: "disable"}


def _vimeo_of(video: VideoOut) -> str | None:
    return _vimeo_id(video.player_url) if video.host == VideoHostName.vimeo else None


def _video(video: VideoOut) -> dict[str, Any]:
    return {
        "id": str(video.id),
        "uri": f"/videos/{video.id}",
        "name": video.title,
        "description": video.description,
        "privacy": _PRIVACY_OUT[video.privacy],
        "status": str(video.status),
        "duration": video.duration_s,
        "course_id": str(video.course_id),
        "lesson_id": str(video.lesson_id) if video.lesson_id else None,
        "vimeo_id": _vimeo_of(video),
        "link": video.player_url or video.stream_url,
    }


@router.post(
    "/content/vimeo/upload",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 413, 422, 502, 503),
    summary="Create a video of a course and its tus upload",
)
async def vimeo_upload(
    body: VimeoUpload,
    user: TeacherOrAdmin,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> dict[str, Any]:
    course = await _managed_course(session, user, body.course_id)
    data = parse(
        VideoCreate, {"title": body.name, "description": body.description, "size_bytes": body.size}
    )
    created = await videos.create_upload(
        session, settings, storage, actor=user, course=course, data=data
    )
    return {
        "upload_link": created.upload_link,
        "complete_uri": f"/videos/{created.video_id}",
        # StudyHall's upload is the video itself: one id for the ticket, the upload and the video.
        "ticket_id": str(created.video_id),
        "upload_id": str(created.video_id),
    }


@router.put(
    "/content/vimeo/update-metadata/{video_id}",
    responses=errors(401, 403, 404, 422, 502, 503),
    summary="Change a video's title, description or privacy",
)
async def vimeo_metadata(
    body: VimeoMetadata,
    user: TeacherOrAdmin,
    video: OwnedVideo,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> dict[str, Any]:
    changes: dict[str, Any] = {"title": body.name, "description": body.description}
    if body.privacy is not None:
        changes["privacy"] = _PRIVACY_IN[body.privacy]
    data = parse(VideoUpdate, {k: v for k, v in changes.items() if v is not None})
    out = await videos.update_video(session, settings, storage, actor=user, video=video, data=data)
    return {"message": "Video metadata updated successfully", "video": _video(out)}


@router.delete(
    "/content/vimeo/delete/{video_id}",
    responses=errors(401, 403, 404, 502, 503),
    summary="Delete a video",
)
async def vimeo_delete(
    user: TeacherOrAdmin,
    video: OwnedVideo,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> dict[str, str]:
    await videos.remove(session, settings, storage, actor=user, video=video)
    return {"message": "Video deleted successfully"}


@router.get(
    "/content/videos/course/{course_id}",
    responses=errors(401, 403, 404),
    summary="A course's videos (figures for its teachers and admins)",
)
async def course_videos(
    user: CurrentUser, course: ReadableCourse, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    items, _total = await videos.list_videos(
        session, settings, user=user, course=course, limit=100, offset=0
    )
    return {
        "videos": [
            {
                "id": str(v.id),
                "title": v.title,
                "vimeo_id": _vimeo_of(v),
                "duration": v.duration_s,
                "views": v.figures.views if v.figures else None,
                "completion_rate": v.figures.completion_rate if v.figures else None,
            }
            for v in items
        ]
    }


async def _video_or_none(session: SessionDep, user: User, video_id: uuid.UUID) -> Video | None:
    """The video the caller may watch with this id, or None (the id may be a lesson's)."""
    try:
        return await videos.readable_video(session, user=user, video_id=video_id)
    except VideoNotFound:
        return None


@router.get(
    "/content/videos/{video_id}/analytics",
    responses=errors(401, 403, 404),
    summary="A video's analytics (its course's teachers and admins)",
)
async def video_analytics(
    video_id: uuid.UUID, user: TeacherOrAdmin, session: SessionDep
) -> dict[str, Any]:
    video = await _video_or_none(session, user, video_id)
    if video is not None:
        figures = await videos.analytics(
            session, video=await video_for_teacher(video, user, session)
        )
        return {
            "total_views": figures.views,
            "unique_viewers": figures.unique_viewers,
            "completion_rate": figures.completion_rate,
            "average_watch_time": round(figures.average_watch_time_s),
            "drop_off_points": sorted(round(p.at_s) for p in figures.drop_off_points),
        }
    lesson = await lesson_for_owner(await lesson_by_id(video_id, user, session), user, session)
    report = await courses.video_analytics(session, lesson=lesson)
    duration = report.duration_s or 0
    return {
        "total_views": report.views,
        "unique_viewers": report.unique_viewers,
        "completion_rate": round(report.completion_rate * 100, 1),
        "average_watch_time": round(report.average_watch_time_s),
        # Where viewers stopped: the start of each 10% part that holds last positions.
        "drop_off_points": [
            round(duration * b.from_percent / 100) for b in report.drop_off if b.viewers
        ],
    }


@router.post(
    "/content/videos/{video_id}/watch-progress",
    responses=errors(401, 403, 404, 409, 422),
    summary="Record how far the calling student watched a video",
)
async def watch_progress(
    video_id: uuid.UUID, user: StudentUser, body: WatchBody, session: SessionDep
) -> dict[str, str]:
    video = await _video_or_none(session, user, video_id)
    if video is not None:
        # The video's own duration decides completion (90%), not the client's figures.
        await videos.heartbeat(
            session,
            student=user,
            video=await video_for_student(video, user),
            data=HeartbeatIn(position_s=body.progress_seconds),
        )
        return {"message": "Watch progress recorded"}
    lesson = await lesson_for_enrolled_student(
        user, await lesson_by_id(video_id, user, session), session
    )
    data = ProgressUpdate(
        completed=True if body.completed else None,
        video_position_s=body.progress_seconds,
        video_watched_s=body.progress_seconds,
    )
    await courses.update_progress(session, student=user, lesson=lesson, data=data)
    return {"message": "Watch progress recorded"}


# Teachers


def _assignment(assignment: Any) -> dict[str, Any]:
    return {
        "id": str(assignment.id),
        "course_id": str(assignment.course_id),
        "title": assignment.title,
        "description": assignment.description,
        "due_date": iso(assignment.due_at),
        "max_score": assignment.max_score,
        "submissions_count": assignment.submissions_count,
        "graded_count": assignment.graded_count,
    }


@router.post(
    "/content/teacher/assignments",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
    summary="Create an assignment in one's course",
)
async def create_assignment(
    body: AssignmentBody, user: TeacherOrAdmin, session: SessionDep
) -> dict[str, Any]:
    course = await _managed_course(session, user, body.course_id)
    data = parse(
        AssignmentCreate,
        {
            "title": body.title,
            "description": body.description,
            "due_at": body.due_date,
            "max_score": body.max_score,
        },
    )
    created = await assessments.create_assignment(session, course_id=course.id, data=data)
    out = _assignment(created)
    return _created("assignment", out)


@router.get(
    "/content/teacher/assignments",
    responses=errors(401, 403),
    summary="Assignments of one's courses (an admin: every course's)",
)
async def teacher_assignments(user: TeacherOrAdmin, session: SessionDep) -> dict[str, Any]:
    found = await _catalog(session, user, teacher_id=None if user.role == Role.admin else user.id)
    out: list[dict[str, Any]] = []
    for course in found.items:
        page = await assessments.list_assignments(
            session, course_id=course.id, student_id=None, limit=LIST_LIMIT, offset=0
        )
        out.extend(_assignment(a) for a in page.items)
    return {"assignments": out[:LIST_LIMIT]}


@router.get(
    "/content/teacher/students",
    responses=errors(401, 403),
    summary="Students across one's courses",
)
async def teacher_students(user: TeacherOrAdmin, session: SessionDep) -> dict[str, Any]:
    rows = await courses.teacher_students(
        session, teacher=user, course_id=None, limit=100, offset=0
    )
    students: dict[uuid.UUID, dict[str, Any]] = {}
    progress: dict[uuid.UUID, list[float]] = {}
    for row in rows.items:
        entry = students.setdefault(
            row.student_id,
            {
                "id": str(row.student_id),
                "name": row.full_name,
                "email": row.email,
                "enrolled_courses": 0,
                "total_progress": 0.0,
                "last_activity": iso(row.last_activity_at),
            },
        )
        entry["enrolled_courses"] += 1
        progress.setdefault(row.student_id, []).append(row.progress_percent)
        if (iso(row.last_activity_at) or "") > (entry["last_activity"] or ""):
            entry["last_activity"] = iso(row.last_activity_at)
    for student_id, entry in students.items():
        values = progress[student_id]
        entry["total_progress"] = round(sum(values) / len(values), 1)
    return {"students": list(students.values())}


def build() -> FastAPI:
    """The e-learning sub-app."""
    app = new_dialect_app(
        name="elearning", title="E-learning gateway", description=DESCRIPTION, style=_Style()
    )
    app.include_router(router)
    # Imported here: the statistics module uses this module's error model.
    from studyhall.compat.elearning_stats import router as stats_router

    app.include_router(stats_router)
    return app
