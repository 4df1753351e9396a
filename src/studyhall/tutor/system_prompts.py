"""Admins' versioned tutor system prompts: one active version per scope (global, or a course).

Each POST adds the next version of its scope (1, 2, 3 … per scope). A version's text never
changes, so the version stored on every assistant message names exactly what the model was told;
PATCH renames a version or (de)activates it, and activating one deactivates the scope's other
version in the same transaction (a partial unique index guarantees one active even under races).
The tutor uses the course's active prompt, else the global one, else the built-in default.
Every change is written to the audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.service import record_on
from studyhall.core.clock import utcnow
from studyhall.core.errors import Conflict, NotFound
from studyhall.core.pagination import page_of, window
from studyhall.core.schemas import Page
from studyhall.courses import service as courses
from studyhall.courses.errors import CourseNotFound
from studyhall.identity.models import User
from studyhall.tutor import repository
from studyhall.tutor.models import SystemPrompt
from studyhall.tutor.schemas import SystemPromptCreate, SystemPromptOut, SystemPromptUpdate

GLOBAL_SCOPE = "global"


class SystemPromptNotFound(NotFound):
    code = "system_prompt_not_found"

    def __init__(self) -> None:
        super().__init__("System prompt not found")


def scope_key(course_id: uuid.UUID | None) -> str:
    """The scope a prompt belongs to."""
    return GLOBAL_SCOPE if course_id is None else str(course_id)


def prompt_out(prompt: SystemPrompt) -> SystemPromptOut:
    """A version as the API shows it."""
    return SystemPromptOut.model_validate(prompt)


@dataclass(frozen=True)
class ActivePrompt:
    """What the tutor uses for one answer."""

    id: uuid.UUID
    version: int
    content: str


async def active_for(session: AsyncSession, *, course_id: uuid.UUID | None) -> ActivePrompt | None:
    """The course's active prompt, else the global one; None: use the built-in default."""
    keys = [GLOBAL_SCOPE] if course_id is None else [scope_key(course_id), GLOBAL_SCOPE]
    active = await repository.active_system_prompts(session, keys)
    prompt = next((active[k] for k in keys if k in active), None)
    if prompt is None:
        return None
    return ActivePrompt(prompt.id, prompt.version, prompt.content)


# Versions by id. A version's content and number never change (an edit is a new version), so
# an entry never goes stale: which version is active is read with every answer
# (repository.answer_context), only its text comes from here. Bounded: cleared when full.
_BY_ID: dict[uuid.UUID, ActivePrompt] = {}
_BY_ID_MAX = 1024


async def prompt_by_id(session: AsyncSession, prompt_id: uuid.UUID | None) -> ActivePrompt | None:
    """The active version an answer context named (None: the built-in default), its text
    read once per process."""
    if prompt_id is None:
        return None
    cached = _BY_ID.get(prompt_id)
    if cached is not None:
        return cached
    prompt = await repository.get_system_prompt(session, prompt_id)
    if prompt is None:  # deleted since the context was read: as if none were active
        return None
    if len(_BY_ID) >= _BY_ID_MAX:
        _BY_ID.clear()
    _BY_ID[prompt_id] = found = ActivePrompt(prompt.id, prompt.version, prompt.content)
    return found


async def _flush_unless_raced(session: AsyncSession, *, done: str) -> None:
    """Flush; the scope's unique rules (one number per version, one active version) turn a
    concurrent change of the same scope into a 409 to retry."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            f"Another version of this scope was {done} at the same time; try again",
            code="system_prompt_conflict",
        ) from None


async def _audit(
    session: AsyncSession, action: str, *, actor: User, prompt: SystemPrompt, **details: object
) -> None:
    """The audit row of a change to a version: its scope and number, and what changed."""
    about = {"scope": prompt.scope_key, "version": prompt.version, **details}
    await record_on(session, actor, "system_prompt", prompt, action, about)


async def _activate(session: AsyncSession, prompt: SystemPrompt) -> None:
    await repository.deactivate_scope(session, prompt.scope_key, except_id=prompt.id)
    prompt.is_active = True
    await _flush_unless_raced(session, done="activated")


async def create(session: AsyncSession, *, actor: User, data: SystemPromptCreate) -> SystemPrompt:
    """Add the next version of a scope (active unless `activate` is false)."""
    if data.course_id is not None and await courses.find_course(session, data.course_id) is None:
        raise CourseNotFound()
    key = scope_key(data.course_id)
    now = utcnow()
    prompt = SystemPrompt(
        scope_key=key,
        course_id=data.course_id,
        name=data.name,
        content=data.content,
        version=await repository.next_version(session, key),
        is_active=False,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(prompt)
    await _flush_unless_raced(session, done="created")
    if data.activate:
        await _activate(session, prompt)
    await _audit(
        session,
        "tutor.system_prompt_created",
        actor=actor,
        prompt=prompt,
        active=prompt.is_active,
    )
    return prompt


async def get(session: AsyncSession, prompt_id: uuid.UUID) -> SystemPrompt:
    """A version by id (404 when unknown)."""
    prompt = await repository.get_system_prompt(session, prompt_id)
    if prompt is None:
        raise SystemPromptNotFound()
    return prompt


async def list_prompts(
    session: AsyncSession,
    *,
    scope: str | None,
    course_id: uuid.UUID | None,
    active: bool | None,
    limit: int,
    offset: int,
) -> Page[SystemPromptOut]:
    """Versions filtered by scope ("global" / "course"), course and activity."""
    key = scope_key(course_id) if course_id is not None else None
    if scope == "global" and key is None:
        key = GLOBAL_SCOPE
    rows, total = await repository.list_system_prompts(
        session,
        scope_key=key,
        course_scoped=True if scope == "course" else None,
        active=active,
        limit=limit,
        offset=offset,
    )
    return page_of(rows, total, window(limit, offset), prompt_out)


async def update(
    session: AsyncSession, *, actor: User, prompt: SystemPrompt, data: SystemPromptUpdate
) -> SystemPrompt:
    """Rename, activate or deactivate a version."""
    changes: dict[str, object] = {}
    if data.name is not None and data.name != prompt.name:
        prompt.name = data.name
        changes["name"] = data.name
    if data.is_active is True and not prompt.is_active:
        await _activate(session, prompt)
        changes["is_active"] = True
    elif data.is_active is False and prompt.is_active:
        prompt.is_active = False
        changes["is_active"] = False
    if changes:
        prompt.updated_at = utcnow()
        await session.flush()
        await _audit(session, "tutor.system_prompt_updated", actor=actor, prompt=prompt, **changes)
    return prompt


async def delete(session: AsyncSession, *, actor: User, prompt: SystemPrompt) -> None:
    """Remove a version (its scope falls back to the global prompt, then to the default)."""
    await repository.delete_system_prompt(session, prompt.id)
    await _audit(session, "tutor.system_prompt_deleted", actor=actor, prompt=prompt)
