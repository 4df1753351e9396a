"""All SQL of the tutor domain."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.pagination import paginate
from studyhall.tutor.models import (
    ChatQuiz,
    ChatQuizStatus,
    ChatSession,
    Message,
    MessageRole,
    PromptRecord,
    SystemPrompt,
)

# ---------------------------------------------------------------- sessions


async def get_session(session: AsyncSession, chat_id: uuid.UUID) -> ChatSession | None:
    """A chat session by id."""
    return await session.get(ChatSession, chat_id, populate_existing=True)


async def lock_session(session: AsyncSession, chat_id: uuid.UUID) -> ChatSession | None:
    """A chat session locked for update (message counts, in-chat tests)."""
    return await session.scalar(
        select(ChatSession)
        .where(ChatSession.id == chat_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _session_filters(
    query: Select[Any],
    *,
    user_id: uuid.UUID | None,
    course_id: uuid.UUID | None,
    library_only: bool,
    search: str | None,
) -> Select[Any]:
    if user_id is not None:
        query = query.where(ChatSession.user_id == user_id)
    if course_id is not None:
        query = query.where(ChatSession.course_id == course_id)
    elif library_only:
        query = query.where(ChatSession.course_id.is_(None))
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(ChatSession.title.ilike(f"%{escaped}%", escape="\\"))
    return query


async def list_sessions(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    course_id: uuid.UUID | None,
    library_only: bool = False,
    search: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[ChatSession], int]:
    """Most recently active first, with the total that matches."""
    query = _session_filters(
        select(ChatSession),
        user_id=user_id,
        course_id=course_id,
        library_only=library_only,
        search=search,
    )
    return await paginate(
        session,
        query,
        order_by=[ChatSession.last_active_at.desc(), ChatSession.id.desc()],
        limit=limit,
        offset=offset,
    )


async def delete_session(session: AsyncSession, chat_id: uuid.UUID) -> None:
    """Delete a session; its messages and tests go with it (ON DELETE CASCADE)."""
    await session.execute(delete(Message).where(Message.session_id == chat_id))
    await session.execute(delete(PromptRecord).where(PromptRecord.session_id == chat_id))
    await session.execute(delete(ChatQuiz).where(ChatQuiz.session_id == chat_id))
    await session.execute(delete(ChatSession).where(ChatSession.id == chat_id))


async def delete_sessions_where(
    session: AsyncSession, *, user_id: uuid.UUID | None = None, course_id: uuid.UUID | None = None
) -> int:
    """Delete every session of a user or of a course, with their messages and tests."""
    condition = (
        ChatSession.user_id == user_id
        if user_id is not None
        else ChatSession.course_id == course_id
    )
    ids = list(await session.scalars(select(ChatSession.id).where(condition)))
    if not ids:
        return 0
    await session.execute(delete(Message).where(Message.session_id.in_(ids)))
    await session.execute(delete(PromptRecord).where(PromptRecord.session_id.in_(ids)))
    await session.execute(delete(ChatQuiz).where(ChatQuiz.session_id.in_(ids)))
    await session.execute(delete(ChatSession).where(ChatSession.id.in_(ids)))
    return len(ids)


# ---------------------------------------------------------------- messages


async def list_messages(session: AsyncSession, chat_id: uuid.UUID) -> list[Message]:
    """Every message of a session, oldest first."""
    rows = await session.scalars(
        select(Message)
        .where(Message.session_id == chat_id)
        .order_by(Message.created_at, Message.id)
    )
    return list(rows)


@dataclass(frozen=True)
class HistoryRow:
    """What the prompt's history needs of a message (not its sources, usage or ids)."""

    role: MessageRole
    content: str
    finish_reason: str | None


@dataclass(frozen=True)
class AnswerContext:
    """What answering in a session reads of the tutor's own tables, in one statement."""

    user_id: uuid.UUID
    course_id: uuid.UUID | None
    title: str
    message_count: int
    # The active system prompt of the session's course, else the global one (None: none).
    prompt_id: uuid.UUID | None
    history: list[HistoryRow]


@functools.cache
def _answer_context_statement(limit: int, global_scope: str) -> Select[Any]:
    """`answer_context`'s statement, built once per shape: building a select with a subquery
    costs more CPU than running it (the session's id is a bound parameter)."""
    chat_id = bindparam("chat_id", type_=ChatSession.__table__.c.id.type)
    prompt_id = (
        select(SystemPrompt.id)
        .where(
            SystemPrompt.is_active,
            or_(
                SystemPrompt.scope_key == global_scope,
                and_(
                    SystemPrompt.course_id == ChatSession.course_id,
                    SystemPrompt.scope_key != global_scope,
                ),
            ),
        )
        .order_by(case((SystemPrompt.scope_key == global_scope, 1), else_=0))
        .limit(1)
        .correlate(ChatSession)
        .scalar_subquery()
    )
    recent = (
        select(Message.role, Message.content, Message.finish_reason, Message.created_at, Message.id)
        .where(Message.session_id == chat_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
        .subquery()
    )
    return (
        select(
            ChatSession.user_id,
            ChatSession.course_id,
            ChatSession.title,
            ChatSession.message_count,
            prompt_id,
            recent.c.role,
            recent.c.content,
            recent.c.finish_reason,
        )
        .select_from(ChatSession)
        .outerjoin(recent, true())
        .where(ChatSession.id == chat_id)
        .order_by(recent.c.created_at, recent.c.id)
    )


async def answer_context(
    session: AsyncSession, chat_id: uuid.UUID, *, limit: int, global_scope: str
) -> AnswerContext | None:
    """The session, the id of the system prompt it answers with and its last `limit` messages
    (oldest first), in one statement instead of three; None when no session has this id.

    Only the prompt's id is read: a version's content never changes, so the caller keeps it
    in a cache (system_prompts.prompt_by_id) and a newly activated version is seen at once.
    """
    statement = _answer_context_statement(limit, global_scope)
    rows = (await session.execute(statement, {"chat_id": chat_id})).all()
    if not rows:
        return None
    first = rows[0]
    return AnswerContext(
        user_id=first[0],
        course_id=first[1],
        title=first[2],
        message_count=first[3],
        prompt_id=first[4],
        history=[HistoryRow(r[5], r[6], r[7]) for r in rows if r[5] is not None],
    )


async def recent_messages(
    session: AsyncSession, chat_id: uuid.UUID, limit: int
) -> list[HistoryRow]:
    """The last `limit` messages of a session, oldest first: only the columns a prompt uses
    (a whole row would decode every answer's sources, JSON, for nothing)."""
    rows = await session.execute(
        select(Message.role, Message.content, Message.finish_reason)
        .where(Message.session_id == chat_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return [HistoryRow(role, content, finish) for role, content, finish in reversed(rows.all())]


async def touch_session(
    session: AsyncSession,
    chat_id: uuid.UUID,
    *,
    added: int,
    at: datetime,
    title: str | None,
    default_title: str,
) -> SessionTouched | None:
    """Count `added` messages in a session and, on its first exchange, title it; one UPDATE
    that also locks the row (the settlement's first statement). None when it was deleted."""
    values: dict[str, Any] = {
        "message_count": ChatSession.message_count + added,
        "last_active_at": at,
    }
    if title is not None:
        # Only a session still untitled and empty takes the question's title (SET reads the
        # row as it was before this UPDATE).
        values["title"] = case(
            (and_(ChatSession.message_count == 0, ChatSession.title == default_title), title),
            else_=ChatSession.title,
        )
    row = (
        await session.execute(
            update(ChatSession)
            .where(ChatSession.id == chat_id)
            .values(**values)
            .returning(ChatSession.course_id)
        )
    ).first()
    return None if row is None else SessionTouched(course_id=row[0])


@dataclass(frozen=True)
class SessionTouched:
    """A session the settlement updated."""

    course_id: uuid.UUID | None


async def insert_messages(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Insert messages in one INSERT (their session is counted by `touch_session`)."""
    for message in messages:
        _set_every_column(message)
    session.add_all(messages)
    await session.flush()


async def add_messages(
    session: AsyncSession, messages: Sequence[Message], *, title: str | None = None
) -> None:
    """Insert messages and bump their session's count and activity time (and set its title).

    One INSERT for all the messages and one UPDATE of the session, whatever they hold.
    """
    if not messages:
        return
    for message in messages:
        _set_every_column(message)
    session.add_all(messages)
    chat_id = messages[0].session_id
    values: dict[str, Any] = {
        "message_count": ChatSession.message_count + len(messages),
        "last_active_at": max(m.created_at for m in messages),
    }
    if title is not None:
        values["title"] = title
    await session.execute(update(ChatSession).where(ChatSession.id == chat_id).values(**values))
    await session.flush()


def _set_every_column(message: Message) -> None:
    """Give every column a value of its own (the value it would get anyway).

    The ORM sends rows in one INSERT only when they set the same columns: a question that
    leaves the usage columns unset would otherwise cost a statement of its own.
    """
    state = message.__dict__
    for column in Message.__table__.columns:
        if column.key in state:
            continue
        default = column.default
        if default is None and column.server_default is None and column.nullable:
            setattr(message, column.key, None)
        elif default is not None and default.is_scalar:
            setattr(message, column.key, default.arg)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- in-chat tests


async def active_quiz(session: AsyncSession, chat_id: uuid.UUID) -> ChatQuiz | None:
    """The session's test in progress, locked (answers of one test serialize)."""
    return await session.scalar(
        select(ChatQuiz)
        .where(ChatQuiz.session_id == chat_id, ChatQuiz.status == ChatQuizStatus.active)
        .order_by(ChatQuiz.started_at.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def abandon_active_quizzes(session: AsyncSession, chat_id: uuid.UUID, now: datetime) -> None:
    """Close the session's unfinished tests (a new one starts)."""
    await session.execute(
        update(ChatQuiz)
        .where(ChatQuiz.session_id == chat_id, ChatQuiz.status == ChatQuizStatus.active)
        .values(status=ChatQuizStatus.abandoned, finished_at=now)
    )


# ---------------------------------------------------------------- system prompts


async def get_system_prompt(session: AsyncSession, prompt_id: uuid.UUID) -> SystemPrompt | None:
    """A system prompt version by id."""
    return await session.get(SystemPrompt, prompt_id, populate_existing=True)


async def active_system_prompts(
    session: AsyncSession, scope_keys: Sequence[str]
) -> dict[str, SystemPrompt]:
    """The active versions of several scopes, by scope (one query)."""
    rows = await session.scalars(
        select(SystemPrompt).where(
            SystemPrompt.scope_key.in_(list(scope_keys)), SystemPrompt.is_active
        )
    )
    return {row.scope_key: row for row in rows}


async def next_version(session: AsyncSession, scope_key: str) -> int:
    """1 + the highest version of the scope."""
    value = await session.scalar(
        select(func.max(SystemPrompt.version)).where(SystemPrompt.scope_key == scope_key)
    )
    return int(value or 0) + 1


async def deactivate_scope(session: AsyncSession, scope_key: str, *, except_id: uuid.UUID) -> None:
    """Turn off every other active version of a scope."""
    await session.execute(
        update(SystemPrompt)
        .where(
            SystemPrompt.scope_key == scope_key,
            SystemPrompt.is_active,
            SystemPrompt.id != except_id,
        )
        .values(is_active=False)
    )
    await session.flush()


async def list_system_prompts(
    session: AsyncSession,
    *,
    scope_key: str | None,
    course_scoped: bool | None,
    active: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[SystemPrompt], int]:
    """Versions, scope then newest version first."""
    query = select(SystemPrompt)
    if scope_key is not None:
        query = query.where(SystemPrompt.scope_key == scope_key)
    if course_scoped is True:
        query = query.where(SystemPrompt.course_id.is_not(None))
    elif course_scoped is False:
        query = query.where(SystemPrompt.course_id.is_(None))
    if active is not None:
        query = query.where(SystemPrompt.is_active.is_(active))
    return await paginate(
        session,
        query,
        order_by=[SystemPrompt.scope_key, SystemPrompt.version.desc()],
        limit=limit,
        offset=offset,
    )


async def delete_system_prompt(session: AsyncSession, prompt_id: uuid.UUID) -> None:
    """Remove a version (messages keep its id and number as plain values)."""
    await session.execute(delete(SystemPrompt).where(SystemPrompt.id == prompt_id))


async def delete_course_system_prompts(session: AsyncSession, course_id: uuid.UUID) -> None:
    """Remove a deleted course's prompts."""
    await session.execute(delete(SystemPrompt).where(SystemPrompt.course_id == course_id))


async def forget_prompt_author(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A deleted admin's prompts stay, without the author."""
    await session.execute(
        update(SystemPrompt).where(SystemPrompt.created_by == user_id).values(created_by=None)
    )


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class CourseTutorCounts:
    messages: int
    questions: int
    answers: int
    active_users: int
    ungrounded_answers: int
    refused_answers: int
    leak_regenerations: int
    tokens_charged: int


# In-chat tests write the student's answers as user messages (finish_reason "quiz"): they are
# answers to the tutor's questions, not questions to the tutor.
QUIZ_EXCHANGE = "quiz"


def _asked() -> ColumnElement[bool]:
    """A question a user asked the tutor."""
    return and_(
        Message.role == MessageRole.user,
        or_(Message.finish_reason.is_(None), Message.finish_reason != QUIZ_EXCHANGE),
    )


async def course_counts(
    session: AsyncSession, *, course_id: uuid.UUID, since: datetime | None
) -> CourseTutorCounts:
    """Message figures of a course's tutor since a time."""
    is_user = _asked()
    is_answer = and_(
        Message.role == MessageRole.assistant,
        or_(Message.finish_reason.is_(None), Message.finish_reason != QUIZ_EXCHANGE),
    )
    query = select(
        func.count(),
        func.count().filter(is_user),
        func.count().filter(is_answer),
        func.count(func.distinct(Message.user_id)),
        func.count().filter(is_answer, Message.grounded.is_(False)),
        func.count().filter(is_answer, Message.finish_reason == "refused"),
        func.coalesce(func.sum(Message.leak_regenerations), 0),
        func.coalesce(func.sum(Message.charged_tokens), 0),
    ).where(Message.course_id == course_id)
    if since is not None:
        query = query.where(Message.created_at >= since)
    row = (await session.execute(query)).one()
    return CourseTutorCounts(*(int(v or 0) for v in row))


async def course_questions(
    session: AsyncSession, *, course_id: uuid.UUID, since: datetime | None, limit: int
) -> list[str]:
    """The newest questions students asked the tutor in a course."""
    query = select(Message.content).where(Message.course_id == course_id, _asked())
    if since is not None:
        query = query.where(Message.created_at >= since)
    rows = await session.scalars(query.order_by(Message.created_at.desc()).limit(limit))
    return list(rows)


async def per_user_message_counts(
    session: AsyncSession, *, course_id: uuid.UUID, since: datetime | None
) -> dict[uuid.UUID, int]:
    """Questions asked per user in a course."""
    query = select(Message.user_id, func.count()).where(Message.course_id == course_id, _asked())
    if since is not None:
        query = query.where(Message.created_at >= since)
    rows = await session.execute(query.group_by(Message.user_id))
    return {uid: int(n) for uid, n in rows}


async def chat_quiz_counts(
    session: AsyncSession, *, course_id: uuid.UUID, since: datetime | None
) -> tuple[int, int]:
    """Finished in-chat tests of a course and how many were passed."""
    query = select(func.count(), func.count().filter(ChatQuiz.passed.is_(True))).where(
        ChatQuiz.course_id == course_id, ChatQuiz.status == ChatQuizStatus.finished
    )
    if since is not None:
        query = query.where(ChatQuiz.finished_at >= since)
    row = (await session.execute(query)).one()
    return int(row[0] or 0), int(row[1] or 0)


async def totals(session: AsyncSession, *, since: datetime | None) -> tuple[int, int]:
    """Sessions and messages (created since a time when given)."""
    sessions_query = select(func.count()).select_from(ChatSession)
    messages_query = select(func.count()).select_from(Message)
    if since is not None:
        sessions_query = sessions_query.where(ChatSession.created_at >= since)
        messages_query = messages_query.where(Message.created_at >= since)
    return int(await session.scalar(sessions_query) or 0), int(
        await session.scalar(messages_query) or 0
    )


# ---------------------------------------------------------------- prompt records


async def get_prompt_record(session: AsyncSession, record_id: uuid.UUID) -> PromptRecord | None:
    """A prompt record by id."""
    return await session.get(PromptRecord, record_id)


async def list_prompt_records(
    session: AsyncSession, chat_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[PromptRecord], int]:
    """A session's prompt records, oldest first (the order they were sent)."""
    condition = PromptRecord.session_id == chat_id
    return await paginate(
        session,
        select(PromptRecord).where(condition),
        order_by=[PromptRecord.created_at, PromptRecord.id],
        limit=limit,
        offset=offset,
    )
