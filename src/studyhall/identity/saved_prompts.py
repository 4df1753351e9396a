"""The caller's saved prompts."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.errors import NotFound
from studyhall.identity import repository
from studyhall.identity.models import (
    SavedPrompt,
    User,
)
from studyhall.identity.schemas import (
    PromptIn,
    PromptUpdate,
)


async def list_prompts(
    session: AsyncSession, *, user: User, limit: int, offset: int
) -> tuple[list[SavedPrompt], int]:
    """The caller's saved prompts, newest first."""
    return await repository.list_prompts(session, user.id, limit=limit, offset=offset)


async def get_prompt(session: AsyncSession, *, user: User, prompt_id: uuid.UUID) -> SavedPrompt:
    """One of the caller's prompts; another user's is 404."""
    prompt = await repository.get_prompt(session, user.id, prompt_id)
    if prompt is None:
        raise NotFound("Prompt not found")
    return prompt


async def create_prompt(session: AsyncSession, *, user: User, data: PromptIn) -> SavedPrompt:
    """Save a prompt."""
    prompt = SavedPrompt(user_id=user.id, title=data.title, prompt_text=data.prompt_text)
    session.add(prompt)
    await session.flush()
    return prompt


async def update_prompt(
    session: AsyncSession, *, user: User, prompt_id: uuid.UUID, data: PromptUpdate
) -> SavedPrompt:
    """Edit a saved prompt."""
    prompt = await get_prompt(session, user=user, prompt_id=prompt_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "title" in changes:
        prompt.title = changes["title"]
    if "prompt_text" in changes:
        prompt.prompt_text = changes["prompt_text"]
    await session.flush()
    return prompt


async def delete_prompt(session: AsyncSession, *, user: User, prompt_id: uuid.UUID) -> None:
    """Delete a saved prompt."""
    prompt = await get_prompt(session, user=user, prompt_id=prompt_id)
    await session.delete(prompt)
    await session.flush()
