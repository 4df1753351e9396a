"""Chat / prompts / quota dialect: document 002, served under /compat/chat-prompts.

The document's paths keep their `/api/v1` prefix and trailing slashes; `GET /user_id` in it
stands for `GET /{user_id}`. Its errors are FastAPI's `{"detail": "..."}` (validation: 422 list).
Users are StudyHall accounts (`user` is StudyHall's student), chat sessions are tutor sessions,
prompts are prompt records in a session, system prompts are the tutor's, user prompts are saved
prompts, the quota is the wallet's daily limit and audit logs are StudyHall's audit log.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import Field

from studyhall.billing import service as billing
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
    wallet_view,
)
from studyhall.core.clock import utcnow
from studyhall.core.db import SessionDep
from studyhall.identity import service as identity
from studyhall.identity.dependencies import (
    AdminUser,
    CurrentUser,
    LimiterDep,
    SettingsDep,
)
from studyhall.identity.models import Role, User
from studyhall.identity.schemas import (
    CLIENT_AUDIT_PREFIX,
    AdminUserCreate,
    ClientAuditIn,
    PromptIn,
    PromptUpdate,
)
from studyhall.tutor import prompt_records, system_prompts
from studyhall.tutor import service as tutor
from studyhall.tutor.schemas import (
    ChatSessionCreate,
    PromptRecordIn,
    PromptRecordUpdate,
    SystemPromptCreate,
)

DESCRIPTION = """
The chat / prompts / quota API (document 002) served by StudyHall: give its client (the
Next.js BFF) the base URL `<studyhall>/compat/chat-prompts`. Paths keep their `/api/v1` prefix.

Users are StudyHall accounts (the document's `user` role is StudyHall's student; `teacher` and
`admin` keep their names). Tokens are StudyHall's, so one account works in every dialect and in
the canonical API. Where the document is unsafe or StudyHall's rules differ, StudyHall's apply:

* **Registration** creates users (students) only: a `role` other than `user` is refused with 403.
* **POST /users/** creates accounts of any role and is for administrators only.
* A user reads, updates and deletes only their own account (an admin any): anyone else's is 404.
  Nobody changes their own role (403); an admin changes another user's `name` and `role` but
  not their `email` (400).
* Bodies that name a `user_id` (chat sessions, prompts, user prompts, audit logs) must name the
  caller: another user's id is 403. Lists of another user's sessions, prompts or logs are 404.
* **Quota**: `daily_limit` is the wallet's daily token limit; `used_today` and `last_reset` are
  derived from the ledger and are read-only (values sent in `PUT` are ignored). Changing a quota
  is for administrators only.
* **System prompts** are for administrators and versioned: `PUT` with a new `prompt_text` adds
  the next version of that prompt (a new `prompt_id`; it is active if the old one was), and the
  old version stays in the list.
* **Audit logs** written by a client are stored as `client.<action>` (shown here without the
  prefix) and rate-limited; a user reads the entries of their own actions, an admin any.
* Chat sessions created here are not tied to a course (the tutor then uses the shared library).
* Lists return at most 100 items.
"""

errors = error_docs(Detail)
_ROLE_OUT = {Role.student: "user", Role.teacher: "teacher", Role.admin: "admin"}
_ROLE_IN = {
    "user": Role.student,
    "student": Role.student,
    "teacher": Role.teacher,
    "admin": Role.admin,
}
_LIST_CAP = 100


def _role_in(name: str) -> Role:
    role = _ROLE_IN.get(name.strip().lower())
    if role is None:
        raise DialectError(400, {"detail": f"Invalid role: {name}"})
    return role


def _not_found(what: str) -> DialectError:
    return DialectError(404, {"detail": f"{what} not found"})


def _for_caller(user: User, user_id: uuid.UUID) -> None:
    """A body naming a user must name the caller."""
    if user_id != user.id:
        raise DialectError(403, {"detail": "Not allowed to act for another user"})


def _own_list(user: User, user_id: uuid.UUID, what: str) -> None:
    """Lists of another user's things are not the caller's to see."""
    if user_id != user.id:
        raise _not_found(what)


def _message(text: str) -> dict[str, str]:
    return {"message": text}


# Bodies (the document's schemas; unknown fields are ignored as its pydantic models did)


_Text = Annotated[str, Field(min_length=1, max_length=20_000)]


class UserCreate(DialectIn):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(min_length=3, max_length=320)]
    role: str | None = "user"
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class UserBase(DialectIn):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(min_length=3, max_length=320)]
    role: str | None = "user"


class QuotaBase(DialectIn):
    daily_limit: Annotated[int, Field(ge=0, le=10**12)] = 10000
    used_today: int = Field(default=0, description="Read-only in StudyHall (ignored)")
    last_reset: str | None = Field(default=None, description="Read-only in StudyHall (ignored)")


class ChatSessionBase(DialectIn):
    title: Annotated[str, Field(min_length=1, max_length=200)]


class ChatSessionCreateBody(ChatSessionBase):
    user_id: uuid.UUID


class PromptBase(DialectIn):
    prompt_text: _Text
    llm_responses: list[str] | None = []


class PromptCreate(PromptBase):
    user_id: uuid.UUID
    session_id: uuid.UUID


class SystemPromptBase(DialectIn):
    prompt_text: _Text


class UserPromptBase(DialectIn):
    prompt_text: _Text


class UserPromptCreate(UserPromptBase):
    user_id: uuid.UUID


class AuditLogBase(DialectIn):
    action: Annotated[str, Field(min_length=1, max_length=64)]
    details: dict[str, Any] | None = None


class AuditLogCreate(AuditLogBase):
    user_id: uuid.UUID


# Shapes


def _user(user: Any) -> dict[str, Any]:
    return {
        "user_id": str(user.id),
        "name": user.full_name,
        "email": user.email,
        "role": _ROLE_OUT[user.role],
        "created_at": iso(user.created_at),
    }


def _session(chat: Any, user_id: uuid.UUID | None = None) -> dict[str, Any]:
    """A chat session (`user_id`: its owner's, where the listed summary does not name it)."""
    return {
        "title": chat.title,
        "session_id": str(chat.id),
        "user_id": str(chat.user_id if user_id is None else user_id),
        "created_at": iso(chat.created_at),
    }


def _prompt(record: Any) -> dict[str, Any]:
    return {
        "prompt_text": record.prompt_text,
        "llm_responses": list(record.llm_responses),
        "prompt_id": str(record.id),
        "user_id": str(record.user_id),
        "session_id": str(record.session_id),
        "timestamp": iso(record.created_at),
    }


def _system_prompt(prompt: Any) -> dict[str, Any]:
    return {"prompt_text": prompt.content, "prompt_id": str(prompt.id)}


def _user_prompt(prompt: Any, user: User) -> dict[str, Any]:
    return {"prompt_text": prompt.prompt_text, "prompt_id": str(prompt.id), "user_id": str(user.id)}


def _audit(row: Any) -> dict[str, Any]:
    action = row.action
    if action.startswith(CLIENT_AUDIT_PREFIX):  # the client's own words
        action = action[len(CLIENT_AUDIT_PREFIX) :]
    return {
        "action": action,
        "details": row.details or None,
        "log_id": str(row.id),
        "user_id": str(row.actor_id),
        "timestamp": iso(row.created_at),
    }


# Routes

router = APIRouter(prefix="/api/v1")


# Authentication


@router.post("/auth/register", responses=errors(400, 403, 409, 429), summary="Register (users)")
async def register(body: UserCreate, sign_up: SignUpDep) -> dict[str, Any]:
    role = (body.role or "user").strip().lower()
    user = await sign_up(
        email=body.email,
        password=body.password,
        full_name=body.name,
        # The domain refuses any role but student (403).
        role="student" if role in ("user", "student") else role,
    )
    return _user(user)


@router.post("/auth/login", responses=errors(401, 429), summary="Log in (form)")
async def login(form: Annotated[TokenForm, Depends()], sign_in: SignInDep) -> dict[str, str]:
    pair = await sign_in.form(form, refused="Incorrect email or password")
    return {"access_token": pair.access_token, "token_type": "bearer"}


# Users


async def _visible_user(session: SessionDep, viewer: User, user_id: uuid.UUID) -> User:
    """The caller themselves, or any account for an admin; 404 otherwise."""
    if user_id == viewer.id:
        return viewer
    if viewer.role != Role.admin:
        raise _not_found("User")
    return await identity.admin_get_user(session, user_id=user_id)


# The loaders of the routes without a body: the path's object, or its 404. (Routes with a body
# load in their own code, so that a body that does not validate stays a 422 for any path.)


async def _user_in_path(user_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> User:
    return await _visible_user(session, user, user_id)


async def _chat_in_path(session_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Any:
    return await tutor.owned_session(session, user=user, chat_id=session_id)


async def _prompt_in_path(prompt_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Any:
    return await prompt_records.owned(session, user=user, record_id=prompt_id)


async def _system_prompt_in_path(
    prompt_id: uuid.UUID, _admin: AdminUser, session: SessionDep
) -> Any:
    return await system_prompts.get(session, prompt_id)


VisibleUser = Annotated[User, Depends(_user_in_path)]
OwnedChat = Annotated[Any, Depends(_chat_in_path)]
OwnedPrompt = Annotated[Any, Depends(_prompt_in_path)]
SystemPrompt = Annotated[Any, Depends(_system_prompt_in_path)]


@router.post(
    "/users/",
    responses=errors(400, 401, 403, 409, 422),
    summary="Create a user (admins)",
)
async def create_user(
    body: UserCreate, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    data = parse(
        AdminUserCreate,
        {
            "email": body.email,
            "password": body.password,
            "full_name": body.name,
            "role": _role_in(body.role or "user"),
        },
    )
    user = await identity.admin_create_user(session, settings=settings, actor=admin, data=data)
    return _user(user)


@router.get("/users/{user_id}", responses=errors(401, 404), summary="A user")
async def get_user(target: VisibleUser) -> dict[str, Any]:
    return _user(target)


@router.put(
    "/users/{user_id}",
    responses=errors(400, 401, 403, 404, 409),
    summary="Update a user (oneself; an admin anyone)",
)
async def update_user(
    user_id: uuid.UUID,
    body: UserBase,
    user: CurrentUser,
    session: SessionDep,
    me: OwnProfileDep,
) -> dict[str, Any]:
    target = await _visible_user(session, user, user_id)
    role = _role_in(body.role or "user")
    if target.id == user.id:
        if role != user.role:
            raise DialectError(403, {"detail": "You cannot change your own role"})
        return _user(await me.change(full_name=body.name, email=body.email))
    if body.email.strip().lower() != target.email:
        raise DialectError(400, {"detail": "An administrator cannot change another user's email"})
    updated = await admin_change(
        session, admin=user, user_id=target.id, full_name=body.name, role=role
    )
    return _user(updated)


@router.delete(
    "/users/{user_id}",
    responses=errors(401, 403, 404),
    summary="Delete a user (oneself; an admin anyone)",
)
async def delete_user(
    target: VisibleUser, user: CurrentUser, session: SessionDep
) -> dict[str, str]:
    if target.id == user.id:
        await identity.delete_me(session, user=user)
    else:
        await identity.admin_delete_user(session, actor=user, user_id=target.id)
    return _message("User deleted successfully")


def _quota(view: Any, settings: Any) -> dict[str, Any]:
    start, _ = billing.day_window(utcnow(), settings.billing)
    return {
        "daily_limit": view.daily_limit,
        "used_today": view.used_today,
        "last_reset": iso(start),
        "user_id": str(view.user_id),
    }


@router.get("/users/{user_id}/quota", responses=errors(401, 404), summary="A user's quota")
async def get_quota(
    target: VisibleUser, request: Request, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    view = await wallet_view(request, session, user_id=target.id, settings=settings)
    return _quota(view, settings)


@router.put(
    "/users/{user_id}/quota",
    responses=errors(401, 403, 404, 422),
    summary="Set a user's daily limit (admins)",
)
async def set_quota(
    user_id: uuid.UUID,
    body: QuotaBase,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    target = await identity.admin_get_user(session, user_id=user_id)
    view = await billing.set_limits(
        session,
        user_id=target.id,
        actor_id=admin.id,
        daily_limit=body.daily_limit,
        change_daily_limit=True,
        settings=settings.billing,
    )
    return _quota(view, settings)


# Chat sessions


@router.post("/chat_sessions/", responses=errors(401, 403, 422), summary="Start a chat session")
async def create_session(
    body: ChatSessionCreateBody, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    _for_caller(user, body.user_id)
    chat = await tutor.create_session(
        session, user=user, data=ChatSessionCreate(course_id=None, title=body.title)
    )
    return _session(chat)


@router.get(
    "/chat_sessions/user/{user_id}",
    responses=errors(401, 404),
    summary="A user's chat sessions (one's own)",
)
async def list_sessions(
    user_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[dict[str, Any]]:
    _own_list(user, user_id, "User")
    found = await tutor.list_sessions(session, user=user, course_id=None, limit=_LIST_CAP, offset=0)
    # The listed summaries name no user: they are all the caller's.
    return [_session(c, user_id=user.id) for c in found.items]


@router.get("/chat_sessions/{session_id}", responses=errors(401, 404), summary="A chat session")
async def get_session(chat: OwnedChat) -> dict[str, Any]:
    return _session(chat)


@router.put(
    "/chat_sessions/{session_id}",
    responses=errors(401, 404, 422),
    summary="Rename a chat session",
)
async def rename_session(
    session_id: uuid.UUID, body: ChatSessionBase, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    chat = await tutor.owned_session(session, user=user, chat_id=session_id)
    return _session(await tutor.rename_session(session, chat=chat, title=body.title))


@router.delete(
    "/chat_sessions/{session_id}",
    responses=errors(401, 404),
    summary="Delete a chat session",
)
async def delete_session(chat: OwnedChat, session: SessionDep) -> dict[str, str]:
    await tutor.delete_session(session, chat=chat)
    return _message("Chat session deleted successfully")


# Prompts (records of a session's prompts with the responses the client got)


def _record_fields(body: PromptBase) -> dict[str, Any]:
    return {"prompt_text": body.prompt_text, "llm_responses": body.llm_responses or []}


@router.post("/prompts/", responses=errors(401, 403, 404, 422), summary="Store a prompt")
async def create_prompt(
    body: PromptCreate, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    _for_caller(user, body.user_id)
    chat = await tutor.owned_session(session, user=user, chat_id=body.session_id)
    data = parse(PromptRecordIn, _record_fields(body))
    return _prompt(await prompt_records.create(session, chat=chat, data=data))


@router.get("/prompts/{prompt_id}", responses=errors(401, 404), summary="A prompt")
async def get_prompt(record: OwnedPrompt) -> dict[str, Any]:
    return _prompt(record)


@router.get(
    "/prompts/session/{session_id}",
    responses=errors(401, 404),
    summary="A session's prompts",
)
async def list_prompts(chat: OwnedChat, session: SessionDep) -> list[dict[str, Any]]:
    found = await prompt_records.list_for_session(session, chat=chat, limit=_LIST_CAP, offset=0)
    return [_prompt(r) for r in found.items]


@router.put("/prompts/{prompt_id}", responses=errors(401, 404, 422), summary="Update a prompt")
async def update_prompt(
    prompt_id: uuid.UUID, body: PromptBase, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    record = await prompt_records.owned(session, user=user, record_id=prompt_id)
    data = parse(PromptRecordUpdate, _record_fields(body))
    return _prompt(await prompt_records.update(session, record=record, data=data))


@router.delete("/prompts/{prompt_id}", responses=errors(401, 404), summary="Delete a prompt")
async def delete_prompt(record: OwnedPrompt, session: SessionDep) -> dict[str, str]:
    await prompt_records.delete(session, record=record)
    return _message("Prompt deleted successfully")


# System prompts (the tutor's; administrators)


def _prompt_name(text: str) -> str:
    return tutor.title_from(text)


@router.post(
    "/system_prompts/",
    responses=errors(401, 403, 422),
    summary="Add a system prompt (admins)",
)
async def create_system_prompt(
    body: SystemPromptBase, admin: AdminUser, session: SessionDep
) -> dict[str, Any]:
    data = SystemPromptCreate(
        course_id=None, name=_prompt_name(body.prompt_text), content=body.prompt_text
    )
    return _system_prompt(await system_prompts.create(session, actor=admin, data=data))


@router.get("/system_prompts/", responses=errors(401, 403), summary="System prompts (admins)")
async def list_system_prompts(admin: AdminUser, session: SessionDep) -> list[dict[str, Any]]:
    found = await system_prompts.list_prompts(
        session, scope=None, course_id=None, active=None, limit=_LIST_CAP, offset=0
    )
    return [_system_prompt(p) for p in found.items]


@router.put(
    "/system_prompts/{prompt_id}",
    responses=errors(401, 403, 404, 409, 422),
    summary="Change a system prompt's text: its next version (admins)",
)
async def update_system_prompt(
    prompt_id: uuid.UUID, body: SystemPromptBase, admin: AdminUser, session: SessionDep
) -> dict[str, Any]:
    prompt = await system_prompts.get(session, prompt_id)
    if prompt.content == body.prompt_text:
        return _system_prompt(prompt)
    data = SystemPromptCreate(
        course_id=prompt.course_id,
        name=prompt.name,
        content=body.prompt_text,
        activate=prompt.is_active,
    )
    return _system_prompt(await system_prompts.create(session, actor=admin, data=data))


@router.delete(
    "/system_prompts/{prompt_id}",
    responses=errors(401, 403, 404),
    summary="Delete a system prompt (admins)",
)
async def delete_system_prompt(
    prompt: SystemPrompt, admin: AdminUser, session: SessionDep
) -> dict[str, str]:
    await system_prompts.delete(session, actor=admin, prompt=prompt)
    return _message("Prompt deleted successfully")


# User prompts (saved prompts)


@router.post("/user_prompts/", responses=errors(401, 403, 422), summary="Save a prompt")
async def create_user_prompt(
    body: UserPromptCreate, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    _for_caller(user, body.user_id)
    data = parse(
        PromptIn, {"title": _prompt_name(body.prompt_text), "prompt_text": body.prompt_text}
    )
    return _user_prompt(await identity.create_prompt(session, user=user, data=data), user)


@router.get(
    "/user_prompts/user/{user_id}",
    responses=errors(401, 404),
    summary="A user's saved prompts (one's own)",
)
async def list_user_prompts(
    user_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[dict[str, Any]]:
    _own_list(user, user_id, "User")
    rows, _ = await identity.list_prompts(session, user=user, limit=_LIST_CAP, offset=0)
    return [_user_prompt(p, user) for p in rows]


@router.put(
    "/user_prompts/{prompt_id}",
    responses=errors(401, 404, 422),
    summary="Change a saved prompt",
)
async def update_user_prompt(
    prompt_id: uuid.UUID, body: UserPromptBase, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    data = parse(PromptUpdate, {"prompt_text": body.prompt_text})
    prompt = await identity.update_prompt(session, user=user, prompt_id=prompt_id, data=data)
    return _user_prompt(prompt, user)


@router.delete(
    "/user_prompts/{prompt_id}",
    responses=errors(401, 404),
    summary="Delete a saved prompt",
)
async def delete_user_prompt(
    prompt_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> dict[str, str]:
    await identity.delete_prompt(session, user=user, prompt_id=prompt_id)
    return _message("Prompt deleted successfully")


# Audit logs


@router.post(
    "/audit_logs/",
    responses=errors(401, 403, 422, 429),
    summary="Record an action of the caller",
)
async def create_audit_log(
    body: AuditLogCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> dict[str, Any]:
    _for_caller(user, body.user_id)
    data = parse(ClientAuditIn, {"action": body.action, "details": body.details})
    row = await identity.record_client_event(
        session, settings=settings, limiter=limiter, user=user, data=data
    )
    return _audit(row)


@router.get("/audit_logs/{log_id}", responses=errors(401, 404), summary="An audit log entry")
async def get_audit_log(
    log_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    if user.role == Role.admin:
        return _audit(await identity.admin_get_audit_log(session, log_id=log_id))
    return _audit(await identity.own_audit_log(session, user=user, log_id=log_id))


@router.get(
    "/audit_logs/user/{user_id}",
    responses=errors(401, 404),
    summary="The entries of a user's actions (one's own; an admin anyone's)",
)
async def list_audit_logs(
    target: VisibleUser, user: CurrentUser, session: SessionDep
) -> list[dict[str, Any]]:
    if target.id == user.id:
        rows, _ = await identity.own_audit_logs(session, user=user, limit=_LIST_CAP, offset=0)
    else:
        rows, _ = await identity.list_audit_logs(
            session, actor_id=target.id, limit=_LIST_CAP, offset=0
        )
    return [_audit(r) for r in rows]


def build() -> FastAPI:
    """The chat-prompts sub-app."""
    app = new_dialect_app(
        name="chat-prompts",
        title="Chat, prompts and quota",
        description=DESCRIPTION,
        style=FastAPIStyle(),
    )
    app.include_router(router)
    return app
