"""Prompt records: prompts a client sent in one of its sessions, with the model responses it keeps.

Some front-ends talk to several models themselves and store each prompt with what the models
answered (document 002's `prompts`). The records live in the owner's chat session: only the
session's owner reads or writes them, and they go when the session (or the account) goes.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.core.errors import NotFound
from studyhall.core.pagination import page_of, window
from studyhall.core.schemas import Page
from studyhall.identity.models import User
from studyhall.tutor import repository
from studyhall.tutor.models import ChatSession, PromptRecord
from studyhall.tutor.schemas import PromptRecordIn, PromptRecordOut, PromptRecordUpdate


class PromptRecordNotFound(NotFound):
    code = "prompt_not_found"

    def __init__(self) -> None:
        super().__init__("Prompt not found")


async def create(session: AsyncSession, *, chat: ChatSession, data: PromptRecordIn) -> PromptRecord:
    """Store a prompt with its responses in a session (the caller checked it owns `chat`)."""
    now = utcnow()
    record = PromptRecord(
        session_id=chat.id,
        user_id=chat.user_id,
        prompt_text=data.prompt_text,
        llm_responses=list(data.llm_responses),
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    chat.last_active_at = now
    await session.flush()
    return record


async def owned(session: AsyncSession, *, user: User, record_id: uuid.UUID) -> PromptRecord:
    """One of the user's records; anyone else's is 404."""
    record = await repository.get_prompt_record(session, record_id)
    if record is None or record.user_id != user.id:
        raise PromptRecordNotFound()
    return record


async def list_for_session(
    session: AsyncSession, *, chat: ChatSession, limit: int, offset: int
) -> Page[PromptRecordOut]:
    """A session's records in the order they were sent."""
    rows, total = await repository.list_prompt_records(session, chat.id, limit=limit, offset=offset)
    return page_of(rows, total, window(limit, offset), PromptRecordOut.model_validate)


async def update(
    session: AsyncSession, *, record: PromptRecord, data: PromptRecordUpdate
) -> PromptRecord:
    """Change a record's text and/or replace its responses."""
    if data.prompt_text is not None:
        record.prompt_text = data.prompt_text
    if data.llm_responses is not None:
        record.llm_responses = list(data.llm_responses)  # a new list: the JSON column changes
    record.updated_at = utcnow()
    await session.flush()
    return record


async def delete(session: AsyncSession, *, record: PromptRecord) -> None:
    """Delete a record."""
    await session.delete(record)
    await session.flush()
