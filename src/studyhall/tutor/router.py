"""HTTP routes of the tutor: chat sessions, answers (JSON or SSE), in-chat tests, teachers'
transcripts and the admins' system prompts.

The two answering routes (POST /chat/sessions/{id}/messages and POST /chat) do not use the
request-wide unit of work: the caller is authenticated in a read-only session, and
`orchestration` runs its own short units of work around the model call, so no transaction (and on
SQLite no write lock) stays open while the model thinks.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse, Response

from studyhall.core.db import Database, SessionDep
from studyhall.core.idempotency import IdempotencyKeyHeader
from studyhall.core.openapi import DocumentedRoute, error_response, errors
from studyhall.core.pagination import PageParams
from studyhall.core.schemas import Page
from studyhall.identity.dependencies import (
    AdminUser,
    CallerInOwnSession,
    CurrentUser,
    SettingsDep,
)
from studyhall.tutor import (
    orchestration,
    prompt_records,
    quiz_chat,
    service,
    streaming,
    system_prompts,
)
from studyhall.tutor.providers.base import Provider
from studyhall.tutor.providers.factory import provider_for
from studyhall.tutor.schemas import (
    ChatAnswerIn,
    ChatAnswerOut,
    ChatCreate,
    ChatQuizOut,
    ChatQuizStart,
    ChatReply,
    ChatSessionCreate,
    ChatSessionDetail,
    ChatSessionOut,
    ChatSessionUpdate,
    MessageCreate,
    MessageOut,
    PromptRecordIn,
    PromptRecordOut,
    PromptRecordUpdate,
    SystemPromptCreate,
    SystemPromptOut,
    SystemPromptUpdate,
    TranscriptSessionOut,
)

router = APIRouter(tags=["tutor"], route_class=DocumentedRoute)


_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The assistant message (JSON), or with `Accept: text/event-stream` the "
        "events `delta` {text}, `sources` [...], `usage` {...}, `done` (the message) or "
        "`error` {detail, code, status}",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **errors(403, 404, 409, 429, 502, 503, 504),
    402: error_response(
        402,
        "Not enough tokens in the wallet (`insufficient_tokens`), or the course's token budget "
        "is spent (`course_budget_exhausted`)",
    ),
}


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


# Read in its own short unit of work: answering waits on the model (see the module doc).
TutorCaller = CallerInOwnSession


def _provider(request: Request) -> Provider:
    return provider_for(request.app)


ProviderDep = Annotated[Provider, Depends(_provider)]


def _wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "").lower()


async def _answer(
    request: Request,
    provider: Provider,
    question: orchestration.Question,
    *,
    idempotency_key: str | None,
) -> Response | MessageOut:
    result = await streaming.answer(
        _db(request),
        request.app.state.settings,
        request.app.state.limiter,
        provider,
        question,
        stream=_wants_stream(request),
        idempotency_key=idempotency_key,
    )
    if isinstance(result, orchestration.Replay):
        return _replayed(result)
    return result


def _replayed(replay: orchestration.Replay) -> JSONResponse:
    return JSONResponse(replay.body, headers={"Idempotent-Replayed": "true"})


# ---------------------------------------------------------------- sessions


@router.post("/chat/sessions", status_code=status.HTTP_201_CREATED, responses=errors(403, 404))
async def create_chat_session(
    body: ChatSessionCreate, user: CurrentUser, session: SessionDep
) -> ChatSessionOut:
    """Start a conversation: in a course the caller may use (a student must be enrolled), or
    without a course over the shared library."""
    chat = await service.create_session(session, user=user, data=body)
    return ChatSessionOut.model_validate(chat)


@router.get("/chat/sessions")
async def list_chat_sessions(
    user: CurrentUser,
    session: SessionDep,
    page: PageParams,
    course_id: Annotated[uuid.UUID | None, Query()] = None,
    library: Annotated[bool, Query(description="Only sessions without a course")] = False,
    search: Annotated[str | None, Query(max_length=200, description="In titles")] = None,
) -> Page[ChatSessionOut]:
    """My sessions, most recently active first, with their message counts."""
    return await service.list_sessions(
        session,
        user=user,
        course_id=course_id,
        library_only=library,
        search=search,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/chat/sessions/{session_id}")
async def get_chat_session(
    session_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> ChatSessionDetail:
    """One of my sessions with its messages (404 for anyone else's)."""
    chat = await service.owned_session(session, user=user, chat_id=session_id)
    return await service.session_detail(session, chat=chat)


@router.patch("/chat/sessions/{session_id}")
async def rename_chat_session(
    session_id: uuid.UUID, body: ChatSessionUpdate, user: CurrentUser, session: SessionDep
) -> ChatSessionOut:
    """Rename one of my sessions."""
    chat = await service.owned_session(session, user=user, chat_id=session_id)
    chat = await service.rename_session(session, chat=chat, title=body.title)
    return ChatSessionOut.model_validate(chat)


@router.delete("/chat/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_chat_session(
    session_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    """Delete one of my sessions with its messages."""
    chat = await service.owned_session(session, user=user, chat_id=session_id)
    await service.delete_session(session, chat=chat)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- prompt records


@router.post(
    "/chat/sessions/{session_id}/prompts",
    status_code=status.HTTP_201_CREATED,
    responses=errors(404),
)
async def create_prompt_record(
    session_id: uuid.UUID, body: PromptRecordIn, user: CurrentUser, session: SessionDep
) -> PromptRecordOut:
    """Store a prompt with the model responses the client got (clients that call several
    models themselves keep them here); the tutor is not called."""
    chat = await service.owned_session(session, user=user, chat_id=session_id)
    record = await prompt_records.create(session, chat=chat, data=body)
    return PromptRecordOut.model_validate(record)


@router.get("/chat/sessions/{session_id}/prompts")
async def list_prompt_records(
    session_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageParams
) -> Page[PromptRecordOut]:
    """The prompt records of one of my sessions, in the order they were sent."""
    chat = await service.owned_session(session, user=user, chat_id=session_id)
    return await prompt_records.list_for_session(
        session, chat=chat, limit=page.limit, offset=page.offset
    )


@router.get("/chat/prompts/{prompt_id}")
async def get_prompt_record(
    prompt_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> PromptRecordOut:
    """One of my prompt records (404 for anyone else's)."""
    record = await prompt_records.owned(session, user=user, record_id=prompt_id)
    return PromptRecordOut.model_validate(record)


@router.patch("/chat/prompts/{prompt_id}")
async def update_prompt_record(
    prompt_id: uuid.UUID, body: PromptRecordUpdate, user: CurrentUser, session: SessionDep
) -> PromptRecordOut:
    """Change one of my prompt records' text and/or replace its responses."""
    record = await prompt_records.owned(session, user=user, record_id=prompt_id)
    record = await prompt_records.update(session, record=record, data=body)
    return PromptRecordOut.model_validate(record)


@router.delete("/chat/prompts/{prompt_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_prompt_record(
    prompt_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    """Delete one of my prompt records."""
    record = await prompt_records.owned(session, user=user, record_id=prompt_id)
    await prompt_records.delete(session, record=record)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- answers


# The declared model is the JSON answer; a stream or a replayed answer is returned as a
# Response, which FastAPI passes through as is.
@router.post("/chat/sessions/{session_id}/messages", response_model=MessageOut, responses=_SSE_DOC)
async def post_message(
    session_id: uuid.UUID,
    body: MessageCreate,
    request: Request,
    user: TutorCaller,
    provider: ProviderDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> MessageOut | Response:
    """Ask the tutor: a grounded, cited answer from the course material, paid from the wallet.

    JSON by default; `Accept: text/event-stream` streams it. `Idempotency-Key` (JSON only): a
    retry with the same key and body gets the first answer and is charged once.
    """
    return await _answer(
        request,
        provider,
        orchestration.Question(user=user, chat_id=session_id, course_id=None, content=body.content),
        idempotency_key=idempotency_key,
    )


@router.post("/chat", response_model=ChatReply, responses=_SSE_DOC)
async def chat(
    body: ChatCreate,
    request: Request,
    user: TutorCaller,
    provider: ProviderDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> MessageOut | Response:
    """One call: ask in an existing session, or (no `session_id`) in a new one in `course_id`."""
    return await _answer(
        request,
        provider,
        orchestration.Question(
            user=user, chat_id=body.session_id, course_id=body.course_id, content=body.content
        ),
        idempotency_key=idempotency_key if body.session_id is not None else None,
    )


# ---------------------------------------------------------------- in-chat tests


@router.post("/chat/sessions/{session_id}/quiz", responses=errors(403, 409))
async def start_chat_quiz(
    session_id: uuid.UUID,
    body: ChatQuizStart,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ChatQuizOut:
    """Start a test in the chat: an existing quiz of the course (`quiz_id`) or one generated from
    the course material (`{"generate": {"questions": n}}`); returns the first question."""
    chat = await service.owned_session(session, user=user, chat_id=session_id)
    return await quiz_chat.start(session, _db(request), settings, user=user, chat=chat, data=body)


@router.post("/chat/sessions/{session_id}/answer", responses=errors(409))
async def answer_chat_quiz(
    session_id: uuid.UUID, body: ChatAnswerIn, user: CurrentUser, session: SessionDep
) -> ChatAnswerOut:
    """Answer the current question: feedback, then the next question or the result (recorded as
    a quiz attempt for an existing quiz)."""
    chat = await service.owned_session(session, user=user, chat_id=session_id)
    return await quiz_chat.answer(session, user=user, chat=chat, data=body)


# ---------------------------------------------------------------- teachers' transcripts


@router.get("/courses/{course_id}/chat-sessions")
async def list_course_transcripts(
    course_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    page: PageParams,
    user_id: Annotated[uuid.UUID | None, Query(description="One student's sessions")] = None,
) -> Page[TranscriptSessionOut]:
    """Tutor sessions held in my course (its teacher or an admin; 404 otherwise)."""
    course = await service.course_for_staff(session, user=user, course_id=course_id)
    return await service.course_transcripts(
        session, course=course, user_id=user_id, limit=page.limit, offset=page.offset
    )


@router.get("/courses/{course_id}/chat-sessions/{session_id}")
async def get_course_transcript(
    course_id: uuid.UUID, session_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> ChatSessionDetail:
    """A student's tutor transcript in my course."""
    course = await service.course_for_staff(session, user=user, course_id=course_id)
    return await service.course_transcript(session, course=course, chat_id=session_id)


# ---------------------------------------------------------------- system prompts


@router.get("/admin/system-prompts")
async def list_system_prompts(
    _admin: AdminUser,
    session: SessionDep,
    page: PageParams,
    scope: Annotated[str | None, Query(pattern="^(global|course)$")] = None,
    course_id: Annotated[uuid.UUID | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
) -> Page[SystemPromptOut]:
    """Versions of the tutor's system prompts."""
    return await system_prompts.list_prompts(
        session,
        scope=scope,
        course_id=course_id,
        active=active,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/admin/system-prompts", status_code=status.HTTP_201_CREATED, responses=errors(404, 409)
)
async def create_system_prompt(
    body: SystemPromptCreate, admin: AdminUser, session: SessionDep
) -> SystemPromptOut:
    """Add the next version of the global prompt or of a course's (active by default)."""
    prompt = await system_prompts.create(session, actor=admin, data=body)
    return system_prompts.prompt_out(prompt)


@router.get("/admin/system-prompts/{prompt_id}")
async def get_system_prompt(
    prompt_id: uuid.UUID, _admin: AdminUser, session: SessionDep
) -> SystemPromptOut:
    """One version."""
    return system_prompts.prompt_out(await system_prompts.get(session, prompt_id))


@router.patch("/admin/system-prompts/{prompt_id}", responses=errors(409))
async def update_system_prompt(
    prompt_id: uuid.UUID, body: SystemPromptUpdate, admin: AdminUser, session: SessionDep
) -> SystemPromptOut:
    """Rename or (de)activate a version; its text never changes (post a new version)."""
    prompt = await system_prompts.get(session, prompt_id)
    prompt = await system_prompts.update(session, actor=admin, prompt=prompt, data=body)
    return system_prompts.prompt_out(prompt)


@router.delete("/admin/system-prompts/{prompt_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_system_prompt(
    prompt_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> Response:
    """Delete a version."""
    prompt = await system_prompts.get(session, prompt_id)
    await system_prompts.delete(session, actor=admin, prompt=prompt)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
