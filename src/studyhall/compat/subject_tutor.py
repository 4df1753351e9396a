"""University subject tutor dialect: document 000, served under /compat/subject-tutor.

Subjects are StudyHall courses (`_id` is the course code), professors are teachers, users are
named by username. Errors are FastAPI's `{"detail": "..."}` (validation: FastAPI's 422 list).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status
from pydantic import ConfigDict, Field

from studyhall import __version__, system
from studyhall.analytics import service as analytics
from studyhall.compat.base import (
    Detail,
    DialectError,
    DialectIn,
    FastAPIStyle,
    OwnProfileDep,
    SignInDep,
    SignUpDep,
    TokenForm,
    admin_change,
    error_docs,
    iso,
    new_dialect_app,
    parse,
    tutor_reply,
)
from studyhall.core.db import SessionDep
from studyhall.core.errors import Conflict, NotFound
from studyhall.courses import service as courses
from studyhall.courses.errors import AlreadyEnrolled
from studyhall.courses.schemas import CourseCreate, CourseUpdate
from studyhall.identity import service as identity
from studyhall.identity.dependencies import (
    AdminUser,
    CallerInOwnSession,
    CurrentUser,
    DatabaseDep,
    SettingsDep,
    StudentUser,
    TeacherOrAdmin,
)
from studyhall.identity.models import Role, User
from studyhall.tutor import quiz_chat
from studyhall.tutor import service as tutor
from studyhall.tutor.schemas import ChatAnswerIn

DESCRIPTION = """
The university subject tutor API (document 000) served by StudyHall: give its front-end the
base URL `<studyhall>/compat/subject-tutor`.

Subjects are StudyHall courses (`_id` is the course code), `PROFESSOR` is StudyHall's teacher.
Where the document is unsafe or StudyHall's rules differ, StudyHall's apply:

* **Registration** creates students only: a `role` other than `STUDENT` is refused with 403.
* Token `sub` is the user's StudyHall id (a UUID); the token also carries `username`, `role`
  (as this document writes it) and `subjects`.
* **DELETE /subjects/{id}** and **PUT /subjects/{id}**: the subject's professor or an admin.
* **POST /subjects/{id}/enroll** by a non-student is 403 (not 400).
* A subject's `guide` is shown to its professor and admins only (empty for students).
* **GET /users/{username}**: an admin, or a professor of a subject the user is enrolled in
  (404 otherwise).
* **A session that is not the caller's** (`GET`/`DELETE /sessions/{id}`,
  `POST /sessions/{id}/resume_chat`) answers 404 like an unknown one (not 403): StudyHall does
  not tell whether another user's object exists.
* Lists are capped at 100 items per call.
"""


errors = error_docs(Detail)
_ROLE_OUT = {Role.student: "STUDENT", Role.teacher: "PROFESSOR", Role.admin: "ADMIN"}
_ROLE_IN = {name: role for role, name in _ROLE_OUT.items()}


def _bad_request(message: str) -> DialectError:
    return DialectError(400, {"detail": message})


async def _subjects(session: SessionDep, users: list[User]) -> dict[uuid.UUID, list[str]]:
    return await courses.course_codes_by_user(session, user_ids=[u.id for u in users])


def _user_out(user: User, subjects: list[str]) -> dict[str, Any]:
    return {
        "username": user.username or user.email,
        "email": user.email,
        "full_name": user.full_name,
        "role": _ROLE_OUT[user.role],
        "subjects": subjects,
    }


def _me(user: User, subjects: list[str]) -> dict[str, Any]:
    prefs = user.preferences or {}
    return {
        **_user_out(user, subjects),
        "preferences": {
            "theme": prefs.get("theme", "system"),
            "notifications": prefs.get("notifications", True),
        },
    }


async def _professor_names(
    session: SessionDep, teacher_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    return await identity.usernames_by_id(session, user_ids=teacher_ids)


async def _professor_id(session: SessionDep, username: str | None) -> uuid.UUID | None:
    if username is None:
        return None
    try:
        return (await identity.admin_get_user_by_login(session, login=username)).id
    except NotFound:  # an unknown professor is a bad request body, not a missing resource
        raise _bad_request(f"Professor {username} not found") from None


# Bodies


class _In(DialectIn):
    model_config = ConfigDict(extra="forbid")


class RegisterBody(_In):
    username: Annotated[str, Field(min_length=3, max_length=64)]
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    full_name: Annotated[str, Field(min_length=1, max_length=200)]
    role: str = "STUDENT"


class Preferences(_In):
    theme: Literal["light", "dark", "system"] | None = None
    notifications: bool | None = None


class MeUpdate(_In):
    full_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=320)] | None = None
    preferences: Preferences | None = None


class SubjectCreate(_In):
    subject_id: Annotated[str, Field(min_length=1, max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=20_000)] = ""
    professor_id: Annotated[str, Field(min_length=1, max_length=320)] | None = None


class SubjectUpdate(_In):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=20_000)] | None = None
    guide: Annotated[str, Field(max_length=100_000)] | None = None


class RoleBody(_In):
    role: str


# Routes

router = APIRouter()


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 403, 429),
    summary="Register (students only)",
)
async def register(body: RegisterBody, sign_up: SignUpDep) -> dict[str, Any]:
    try:
        user = await sign_up(
            username=body.username,
            email=body.email,
            password=body.password,
            full_name=body.full_name,
            # The domain refuses any role but student (403).
            role=body.role.strip().lower() if body.role.upper() != "STUDENT" else "student",
        )
    except Conflict:
        raise _bad_request("Username or email already registered") from None
    return _user_out(user, [])


@router.post("/token", responses=errors(401, 429), summary="Log in (form)")
async def token(form: Annotated[TokenForm, Depends()], sign_in: SignInDep) -> dict[str, str]:
    pair = await sign_in.form(form, refused="Incorrect username or password")
    async with sign_in.db.session(write=False) as session:
        codes = await courses.course_codes_by_user(session, user_ids=[pair.user.id])
        access = await identity.access_token_with_claims(
            session,
            settings=sign_in.settings,
            user_id=pair.user.id,
            claims={
                "username": pair.user.username or pair.user.email,
                "role": _ROLE_OUT[pair.user.role],
                "subjects": codes.get(pair.user.id, []),
            },
        )
    return {"access_token": access, "token_type": "bearer"}


@router.get("/users/me", responses=errors(401), summary="Own profile")
async def get_me(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    subjects = await _subjects(session, [user])
    return _me(user, subjects[user.id])


@router.put("/users/me", responses=errors(400, 401, 403), summary="Update profile")
async def put_me(body: MeUpdate, me: OwnProfileDep) -> dict[str, Any]:
    try:
        updated = await me.change(**body.model_dump(exclude_none=True))
    except Conflict:
        raise _bad_request("Email already in use") from None
    subjects = await _subjects(me.session, [updated])
    return _me(updated, subjects[updated.id])


@router.get(
    "/users/{username}",
    responses=errors(401, 403, 404),
    summary="Another user's profile (professors and admins)",
)
async def get_user(username: str, viewer: TeacherOrAdmin, session: SessionDep) -> dict[str, Any]:
    user = await identity.admin_get_user_by_login(session, login=username)
    # The canonical object-level check: admins, or a teacher of one of the user's courses.
    await courses.public_profile(session, viewer=viewer, user_id=user.id)
    subjects = await _subjects(session, [user])
    return _user_out(user, subjects[user.id])


def _subject(course: Any, professors: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "_id": course.code,
        "name": course.title,
        "description": course.description,
        "professor_id": professors.get(course.teacher_id),
    }


@router.get("/subjects", responses=errors(401), summary="List subjects")
async def list_subjects(
    user: CurrentUser,
    session: SessionDep,
    professor_id: Annotated[str | None, Query(max_length=320)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[dict[str, Any]]:
    teacher_id = None
    if professor_id is not None:
        try:
            teacher_id = (await identity.admin_get_user_by_login(session, login=professor_id)).id
        except NotFound:
            return []
    found = await courses.list_courses(
        session, viewer=user, teacher_id=teacher_id, limit=limit, offset=(page - 1) * limit
    )
    professors = await _professor_names(session, [c.teacher_id for c in found.items])
    return [{**_subject(c, professors), "student_count": c.student_count} for c in found.items]


@router.post(
    "/subjects",
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 403),
    summary="Create a subject (admins)",
)
async def create_subject(
    body: SubjectCreate, admin: AdminUser, session: SessionDep
) -> dict[str, Any]:
    teacher_id = await _professor_id(session, body.professor_id)
    data = parse(
        CourseCreate,
        {
            "code": body.subject_id,
            "title": body.name,
            "description": body.description,
            # The document has no drafts: a subject is open for enrollment once created.
            "is_published": True,
            "teacher_id": teacher_id,
        },
    )
    try:
        course = await courses.create_course(session, actor=admin, data=data)
    except Conflict:
        raise _bad_request("Subject already exists") from None
    professors = await _professor_names(session, [course.teacher_id])
    return {**_subject(course, professors), "created_at": iso(course.created_at)}


@router.put(
    "/subjects/{subject_id}",
    responses=errors(401, 403, 404),
    summary="Update a subject (its professor or an admin)",
)
async def update_subject(
    subject_id: str, body: SubjectUpdate, user: TeacherOrAdmin, session: SessionDep
) -> dict[str, Any]:
    course = await courses.managed_course_by_code(session, user=user, code=subject_id)
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["title"] = body.name
    if body.description is not None:
        changes["description"] = body.description
    if body.guide is not None:
        changes["guide"] = body.guide
    detail = await courses.update_course(
        session, actor=user, course=course, data=parse(CourseUpdate, changes)
    )
    professors = await _professor_names(session, [detail.teacher_id])
    return {**_subject(detail, professors), "guide": detail.guide}


@router.delete(
    "/subjects/{subject_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
    summary="Delete a subject (its professor or an admin)",
)
async def delete_subject(subject_id: str, user: TeacherOrAdmin, session: SessionDep) -> Response:
    course = await courses.managed_course_by_code(session, user=user, code=subject_id)
    await courses.delete_course(session, actor=user, course=course)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/subjects/enrolled",
    responses=errors(401, 403),
    summary="The calling student's subjects",
)
async def enrolled_subjects(user: StudentUser, session: SessionDep) -> list[dict[str, Any]]:
    found = await courses.list_enrolled(session, student=user, limit=100, offset=0)
    professors = await _professor_names(session, [c.teacher_id for c in found.items])
    # The guide is the tutor's instructions: StudyHall shows it to the course's staff only.
    return [{**_subject(c, professors), "guide": ""} for c in found.items]


@router.post(
    "/subjects/{subject_id}/enroll",
    responses=errors(401, 403, 404),
    summary="Enroll the calling student",
)
async def enroll(subject_id: str, user: StudentUser, session: SessionDep) -> dict[str, Any]:
    course = await courses.visible_course_by_code(session, user=user, code=subject_id)
    if not course.is_published:
        raise DialectError(404, {"detail": "Subject not found"})
    try:
        await courses.enroll(session, student=user, course=course)
    except AlreadyEnrolled:
        raise DialectError(403, {"detail": "Student already enrolled"}) from None
    professors = await _professor_names(session, [course.teacher_id])
    return {
        "message": f"Successfully enrolled in {course.code}",
        "subject": {
            "_id": course.code,
            "name": course.title,
            "professor_id": professors.get(course.teacher_id),
        },
    }


@router.get(
    "/professor/students",
    responses=errors(401, 403, 404),
    summary="Students of the professor's subjects",
)
async def professor_students(
    user: TeacherOrAdmin,
    session: SessionDep,
    subject_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    course_id = None
    if subject_id is not None:
        course_id = (await courses.managed_course_by_code(session, user=user, code=subject_id)).id
    # One row per (student, course): grouped per student, a page of the rows at a time.
    rows = await courses.teacher_students(
        session, teacher=user, course_id=course_id, limit=100, offset=0
    )
    students: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows.items:
        entry = students.setdefault(
            row.student_id,
            {
                "username": row.username or row.email,
                "full_name": row.full_name,
                "email": row.email,
                "enrolled_subjects": [],
            },
        )
        entry["enrolled_subjects"].append(row.course_code)
    return list(students.values())[skip : skip + limit]


@router.get(
    "/professor/subjects/{subject_id}/analytics",
    responses=errors(401, 403, 404),
    summary="A subject's analytics",
)
async def subject_analytics(
    subject_id: str, user: TeacherOrAdmin, session: SessionDep
) -> dict[str, Any]:
    course = await courses.managed_course_by_code(session, user=user, code=subject_id)
    report = await analytics.course_analytics(session, course=course, limit=100, offset=0)
    names = await identity.usernames_by_id(
        session, user_ids=[row.student_id for row in report.students.items]
    )
    return {
        "subject_id": course.code,
        "name": course.title,
        "total_students": report.total_students,
        "active_students": report.active_students,
        "average_test_score": report.average_quiz_score,
        "student_progress": [
            {
                "username": names.get(row.student_id, row.email),
                "test_count": row.quiz_attempts,
                "average_score": row.average_score,
                "last_activity": iso(row.last_activity_at),
            }
            for row in report.students.items
        ],
    }


@router.get("/admin/users", responses=errors(401, 403), summary="List users")
async def admin_users(
    admin: AdminUser,
    session: SessionDep,
    role: Annotated[Literal["STUDENT", "PROFESSOR", "ADMIN"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    users, _ = await identity.admin_list_users(
        session,
        role=_ROLE_IN[role] if role else None,
        search=None,
        is_active=None,
        limit=limit,
        offset=skip,
    )
    subjects = await _subjects(session, users)
    return [{**_user_out(u, subjects[u.id]), "created_at": iso(u.created_at)} for u in users]


@router.post(
    "/admin/users/{username}/role",
    responses=errors(400, 401, 403, 404),
    summary="Change a user's role",
)
async def change_role(
    username: str, body: RoleBody, admin: AdminUser, session: SessionDep
) -> dict[str, Any]:
    role = _ROLE_IN.get(body.role.strip().upper())
    if role is None:
        raise _bad_request("Invalid role")
    user = await identity.admin_get_user_by_login(session, login=username)
    updated = await admin_change(session, admin=admin, user_id=user.id, role=role)
    return {
        "username": updated.username or updated.email,
        "role": _ROLE_OUT[updated.role],
        "message": "User role updated",
    }


# Chat and sessions: the tutor. Session ids are UUIDs the client picks (its first message creates
# the session); StudyHall keeps the history itself, so the `messages` a client sends are ignored.


class ChatMessage(DialectIn):
    role: Literal["user", "assistant", "system"]
    content: Annotated[str, Field(max_length=20_000)]


class ChatBody(DialectIn):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID = Field(description="The session id (a UUID the client picks)")
    asignatura: Annotated[str, Field(min_length=1, max_length=32)]
    content: Annotated[str, Field(min_length=1, max_length=8000)]
    messages: Annotated[list[ChatMessage], Field(max_length=200)] = []


class ResumeBody(_In):
    answer: Any
    current_question_index: Annotated[int, Field(ge=0)]


@router.post(
    "/chat",
    responses=errors(401, 402, 403, 404, 429, 503, 504),
    summary="Ask the tutor in a session (created on its first message)",
)
async def chat(
    body: ChatBody, request: Request, user: CallerInOwnSession, db: DatabaseDep
) -> dict[str, Any]:
    async with db.session(write=False) as session:
        course = await courses.visible_course_by_code(session, user=user, code=body.asignatura)
        existing = await tutor.own_session_or_none(session, user=user, chat_id=body.id)
    if existing is not None and existing.course_id != course.id:
        raise DialectError(403, {"detail": "Session belongs to another subject"})
    reply = await tutor_reply(
        request,
        user,
        chat_id=existing.id if existing is not None else None,
        course_id=course.id,
        content=body.content,
        new_chat_id=body.id,
    )
    return {"response": reply.content, "session_id": str(body.id), "asignatura": course.code}


def _session_row(chat: Any, codes: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "_id": str(chat.id),
        "title": chat.title,
        "subject": codes.get(chat.course_id) if chat.course_id else None,
        "created_at": iso(chat.created_at),
        "last_active": iso(chat.last_active_at),
    }


@router.get("/sessions", responses=errors(401), summary="The caller's chat sessions")
async def list_sessions(
    user: CurrentUser,
    session: SessionDep,
    subject: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    course_id = None
    if subject is not None:
        try:
            course_id = (await courses.visible_course_by_code(session, user=user, code=subject)).id
        except NotFound:
            return []
    found = await tutor.list_sessions(
        session, user=user, course_id=course_id, limit=limit, offset=skip
    )
    codes = await courses.codes_by_id(
        session, course_ids=[c.course_id for c in found.items if c.course_id]
    )
    return [{**_session_row(c, codes), "message_count": c.message_count} for c in found.items]


async def _own_session(session: SessionDep, user: User, session_id: str) -> Any:
    try:
        chat_id = uuid.UUID(session_id)
    except ValueError:
        raise DialectError(404, {"detail": "Session not found"}) from None
    return await tutor.owned_session(session, user=user, chat_id=chat_id)


@router.get(
    "/sessions/{session_id}",
    responses=errors(401, 404),
    summary="A session with its history",
)
async def get_session(session_id: str, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    chat = await _own_session(session, user, session_id)
    detail = await tutor.session_detail(session, chat=chat)
    codes = await courses.codes_by_id(
        session, course_ids=[chat.course_id] if chat.course_id else []
    )
    return {
        **_session_row(chat, codes),
        "user_id": user.username or user.email,
        "messages": [{"role": m.role, "content": m.content} for m in detail.messages],
    }


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 404),
    summary="Delete a session",
)
async def delete_session(session_id: str, user: CurrentUser, session: SessionDep) -> Response:
    chat = await _own_session(session, user, session_id)
    await tutor.delete_session(session, chat=chat)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/sessions/{session_id}/resume_chat",
    responses=errors(400, 401, 404),
    summary="Answer the current question of the session's test",
)
async def resume_chat(
    session_id: str, body: ResumeBody, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    chat = await _own_session(session, user, session_id)
    data = parse(
        ChatAnswerIn, {"answer": body.answer, "question_index": body.current_question_index}
    )
    try:
        graded = await quiz_chat.answer(session, user=user, chat=chat, data=data)
    except Conflict as exc:  # no test in progress, or not at this question
        raise _bad_request(exc.message) from None
    return graded.model_dump(mode="json")


@router.get("/health", summary="Health check")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/system/info", summary="Version and the language model in use")
async def system_info(settings: SettingsDep) -> dict[str, str]:
    return {
        "version": __version__,
        "llm_provider": settings.llm.provider,
        "llm_model": settings.llm.model,
        "status": "ok",
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **errors(403)},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    return await system.metrics_response(request)


def build() -> FastAPI:
    """The subject-tutor sub-app."""
    app = new_dialect_app(
        name="subject-tutor", title="Subject tutor", description=DESCRIPTION, style=FastAPIStyle()
    )
    app.include_router(router)
    return app
