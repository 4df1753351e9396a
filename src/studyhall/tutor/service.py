"""Tutor use cases besides answering: sessions, transcripts, figures, and clean-up hooks.

Answering a message (retrieve → prompt → reserve → model → finalize → store) lives in
`orchestration.py`, because it spans several short units of work around the model call.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.core.errors import Forbidden, NotFound
from studyhall.core.ids import new_id
from studyhall.core.pagination import page_of, window
from studyhall.core.schemas import Page
from studyhall.courses import service as courses
from studyhall.courses.errors import CourseNotFound, EnrollmentRequired
from studyhall.courses.models import Course
from studyhall.identity.models import Role, User
from studyhall.tutor import repository
from studyhall.tutor.models import ChatSession, Message, MessageRole
from studyhall.tutor.schemas import (
    ChatSessionCreate,
    ChatSessionDetail,
    ChatSessionOut,
    MessageOut,
    SourceOut,
    TopicCount,
    TranscriptSessionOut,
    TutorCourseStats,
    TutorTotals,
    UsageOut,
)
from studyhall.tutor.text import collapse_spaces, top_terms

DEFAULT_TITLE = "New chat"


class ChatSessionNotFound(NotFound):
    code = "chat_session_not_found"

    def __init__(self) -> None:
        super().__init__("Chat session not found")


# ---------------------------------------------------------------- access


async def course_for_tutor(session: AsyncSession, *, user: User, course_id: uuid.UUID) -> Course:
    """The course if the user may use its tutor: enrolled student, its teacher, or an admin.

    404 when the user may not even see the course; 403 `enrollment_required` for a student who
    sees it but is not enrolled.
    """
    if user.role == Role.student:
        seen, readable = await courses.student_course(session, student=user, course_id=course_id)
        if seen is None:
            raise CourseNotFound()
        if readable:
            return seen
        raise EnrollmentRequired("Enroll in this course to use its tutor")
    course = await courses.find_course(session, course_id)
    if course is None or not await courses.sees(session, user=user, course=course):
        raise CourseNotFound()
    if await courses.reads(session, user=user, course=course):
        return course
    if user.role == Role.student:
        raise EnrollmentRequired("Enroll in this course to use its tutor")
    raise Forbidden("Only the course's students, its teacher and admins can use its tutor")


async def owned_session(session: AsyncSession, *, user: User, chat_id: uuid.UUID) -> ChatSession:
    """The user's own session; 404 for anyone else's (whoever they are)."""
    chat = await own_session_or_none(session, user=user, chat_id=chat_id)
    if chat is None:
        raise ChatSessionNotFound()
    return chat


async def own_session_or_none(
    session: AsyncSession, *, user: User, chat_id: uuid.UUID
) -> ChatSession | None:
    """The user's own session, None when no session has this id; 404 for anyone else's."""
    chat = await repository.get_session(session, chat_id)
    if chat is not None and chat.user_id != user.id:
        raise ChatSessionNotFound()
    return chat


def title_from(content: str) -> str:
    """A session title from its first question."""
    text = collapse_spaces(content)
    return text if len(text) <= 80 else text[:79].rstrip() + "…"


# ---------------------------------------------------------------- sessions


def new_session(user: User, *, course_id: uuid.UUID | None, title: str | None) -> ChatSession:
    """A session object (not yet added)."""
    now = utcnow()
    return ChatSession(
        id=new_id(),
        user_id=user.id,
        course_id=course_id,
        title=title or DEFAULT_TITLE,
        message_count=0,
        created_at=now,
        updated_at=now,
        last_active_at=now,
    )


async def create_session(
    session: AsyncSession, *, user: User, data: ChatSessionCreate
) -> ChatSession:
    """Start a conversation in a course the user may use, or over the library."""
    if data.course_id is not None:
        await course_for_tutor(session, user=user, course_id=data.course_id)
    chat = new_session(user, course_id=data.course_id, title=data.title)
    session.add(chat)
    await session.flush()
    return chat


async def list_sessions(
    session: AsyncSession,
    *,
    user: User,
    course_id: uuid.UUID | None,
    library_only: bool = False,
    search: str | None = None,
    limit: int,
    offset: int,
) -> Page[ChatSessionOut]:
    """The user's sessions, most recently active first."""
    rows, total = await repository.list_sessions(
        session,
        user_id=user.id,
        course_id=course_id,
        library_only=library_only,
        search=search,
        limit=limit,
        offset=offset,
    )
    return page_of(rows, total, window(limit, offset), ChatSessionOut.model_validate)


def message_out(message: Message) -> MessageOut:
    """A stored message as the API shows it."""
    usage = None
    if message.role == MessageRole.assistant and message.prompt_tokens is not None:
        usage = UsageOut(
            prompt_tokens=message.prompt_tokens,
            completion_tokens=message.completion_tokens or 0,
            charged_tokens=message.charged_tokens or 0,
        )
    return MessageOut(
        id=message.id,
        session_id=message.session_id,
        role=message.role.value,  # type: ignore[arg-type]
        content=message.content,
        sources=[SourceOut.model_validate(s) for s in message.sources or []],
        usage=usage,
        hint_level=message.hint_level,
        system_prompt_version=message.system_prompt_version,
        finish_reason=message.finish_reason,
        created_at=message.created_at,
    )


async def session_detail(session: AsyncSession, *, chat: ChatSession) -> ChatSessionDetail:
    """A session with all its messages."""
    messages = await repository.list_messages(session, chat.id)
    return ChatSessionDetail(
        **ChatSessionOut.model_validate(chat).model_dump(),
        messages=[message_out(m) for m in messages],
    )


async def rename_session(session: AsyncSession, *, chat: ChatSession, title: str) -> ChatSession:
    """Change a session's title."""
    chat.title = title
    chat.updated_at = utcnow()
    await session.flush()
    return chat


async def delete_session(session: AsyncSession, *, chat: ChatSession) -> None:
    """Delete a session with its messages and tests."""
    await repository.delete_session(session, chat.id)


# ---------------------------------------------------------------- teachers' transcripts


async def course_for_staff(session: AsyncSession, *, user: User, course_id: uuid.UUID) -> Course:
    """The course if the user teaches it (owner, assistant) or is an admin (404 otherwise)."""
    course = await courses.find_course(session, course_id)
    if course is None or not await courses.teaches(session, user=user, course=course):
        raise CourseNotFound()
    return course


async def course_transcripts(
    session: AsyncSession,
    *,
    course: Course,
    user_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> Page[TranscriptSessionOut]:
    """The tutor sessions held in a course (its teacher's view), newest activity first."""
    rows, total = await repository.list_sessions(
        session, user_id=user_id, course_id=course.id, limit=limit, offset=offset
    )
    return page_of(rows, total, window(limit, offset), TranscriptSessionOut.model_validate)


async def course_transcript(
    session: AsyncSession, *, course: Course, chat_id: uuid.UUID
) -> ChatSessionDetail:
    """One session of the course with its messages."""
    chat = await repository.get_session(session, chat_id)
    if chat is None or chat.course_id != course.id:
        raise ChatSessionNotFound()
    return await session_detail(session, chat=chat)


# ---------------------------------------------------------------- figures


async def tutor_stats_for_course(
    session: AsyncSession, *, course_id: uuid.UUID, since: datetime | None
) -> TutorCourseStats:
    """Tutor figures of a course: messages, active users, top topics and questions, gaps."""
    counts = await repository.course_counts(session, course_id=course_id, since=since)
    questions = await repository.course_questions(
        session, course_id=course_id, since=since, limit=2000
    )
    finished, passed = await repository.chat_quiz_counts(session, course_id=course_id, since=since)
    per_user = await repository.per_user_message_counts(session, course_id=course_id, since=since)
    repeated: dict[str, tuple[str, int]] = {}
    for q in questions:
        key = " ".join(collapse_spaces(q).casefold().rstrip("?!. ").split())
        shown, n = repeated.get(key, (collapse_spaces(q)[:200], 0))
        repeated[key] = (shown, n + 1)
    top_questions = sorted(repeated.values(), key=lambda item: (-item[1], item[0]))[:10]
    return TutorCourseStats(
        **asdict(counts),  # the message figures, one field each
        chat_tests_finished=finished,
        chat_tests_passed=passed,
        top_topics=[TopicCount(topic=t, count=c) for t, c in top_terms(questions, 10)],
        top_questions=[TopicCount(topic=t, count=c) for t, c in top_questions],
        messages_by_user=per_user,
    )


async def tutor_totals(session: AsyncSession, *, since: datetime | None) -> TutorTotals:
    """Chat sessions and messages platform-wide (created since a time when given)."""
    sessions, messages = await repository.totals(session, since=since)
    return TutorTotals(sessions=sessions, messages=messages)


# ---------------------------------------------------------------- reactions to deletions
# Registered by `studyhall.wiring` with identity and courses.


async def forget_user(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """A deleted user's chats go (personal data); prompts they wrote stay, unsigned."""
    await repository.delete_sessions_where(session, user_id=user_id)
    await repository.forget_prompt_author(session, user_id)


async def forget_course(session: AsyncSession, *, course_id: uuid.UUID) -> None:
    """A deleted course takes its tutor sessions and its system prompts with it."""
    await repository.delete_sessions_where(session, course_id=course_id)
    await repository.delete_course_system_prompts(session, course_id)
