"""Answering one message: retrieve → prompt → reserve → model → check → finalize → store.

Why several units of work instead of the request's one: a model call takes seconds to a minute,
and no database transaction may stay open that long (on SQLite a write transaction holds the
database's only write lock; on PostgreSQL the wallet row would stay locked). So:

1. read  — the session, course, guide, system prompt, history, quiz keys, retrieved passages;
2. write — the reservation (prompt estimate × 1.25 + max_tokens), committed before the model
   is called, so concurrent requests see the hold; not enough tokens → 402 and the model is
   never called; daily limit → 429;
3. the model call, outside any transaction;
4. write — finalize with the real usage (capped by the hold) and store the question and the
   answer with its sources, usage and the system prompt version; or, when the model failed
   (503/504/502), release the hold: nothing is charged and nothing is stored.

A client that leaves mid-stream is charged the prompt plus the text generated until then (the
model call is stopped); a crash between 2 and 4 leaves the hold to expire.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.billing import service as billing
from studyhall.config import Settings
from studyhall.core import idempotency
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.ids import new_id
from studyhall.core.metrics import LLM_TOKENS
from studyhall.core.ratelimit import RateLimiter
from studyhall.courses import service as courses
from studyhall.identity.models import Role, User
from studyhall.knowledge import service as knowledge
from studyhall.tutor import repository, service
from studyhall.tutor.citations import Renumbering, renumber, renumbered_passages
from studyhall.tutor.leakcheck import OPEN, Guard, Leak, guard_for, refusal
from studyhall.tutor.models import Message, MessageRole
from studyhall.tutor.prompts import BuiltPrompt, build_prompt
from studyhall.tutor.providers.base import (
    ChatMessage,
    Completion,
    Delta,
    Grounding,
    Provider,
    SourcePassage,
    estimate_prompt_tokens,
    estimate_tokens,
)
from studyhall.tutor.schemas import MessageOut, SourceOut
from studyhall.tutor.system_prompts import GLOBAL_SCOPE, ActivePrompt, active_for, prompt_by_id
from studyhall.tutor.text import collapse_spaces

log = structlog.get_logger(__name__)

IDEMPOTENCY_ROUTE = "tutor.message"
# Messages read back for the history (then trimmed to the token budget).
HISTORY_MESSAGES = 40
# The prompt estimate may undercount scripts the estimate knows less well.
PROMPT_ESTIMATE_MARGIN = 1.25
EXCERPT_CHARS = 300
_CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass
class Turn:
    """Everything one answer needs, gathered before the model is called."""

    user: User
    chat_id: uuid.UUID
    course_id: uuid.UUID | None
    question: str
    hint_level: int
    history: list[ChatMessage]
    passages: list[SourcePassage]
    guide: str | None
    system_prompt: ActivePrompt | None
    guard: Guard
    prompt: BuiltPrompt
    max_tokens: int
    settings: Settings
    create_chat: bool = False
    chat_title: str | None = None
    idempotency_key: str | None = None
    reservation_id: uuid.UUID | None = None
    reserved: int = 0

    @property
    def guarded(self) -> bool:
        """Whether replies must be checked against quiz answers before any of it is sent."""
        return self.guard.active

    def without_idempotency(self) -> Turn:
        """The same turn, not recorded under its Idempotency-Key (partial answers)."""
        return replace(self, idempotency_key=None)

    def idempotency_request(self) -> dict[str, Any]:
        """What identifies a retry of this request."""
        return _idempotency_request(self.chat_id, self.question)


def _idempotency_request(chat_id: uuid.UUID, content: str) -> dict[str, Any]:
    return {"session_id": str(chat_id), "content": content}


@dataclass
class Outcome:
    """The answer to store: its text and what producing it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    provider: str
    model: str
    hint_level: int
    grounded: bool | None
    leak_regenerations: int = 0
    usage_estimated: bool = False
    # Prompt passage number -> the number the answer shows (citations.renumber).
    citations: dict[int, int] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        """Tokens the model used (charged unless the answer is a refusal)."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def refused(self) -> bool:
        """An answer that gives nothing: no relevant material (or none at all), or withheld."""
        return self.finish_reason == "refused" or self.grounded is False


@dataclass
class Progress:
    """Usage so far, for charging a client that leaves before the end."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    current_messages: list[ChatMessage] = field(default_factory=list)
    current_text: list[str] = field(default_factory=list)
    provider: str = ""
    model: str = ""

    def finish_attempt(self, completion: Completion) -> None:
        """Count a finished model call."""
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.current_messages = []
        self.current_text = []

    def partial(self) -> tuple[int, int]:
        """(prompt, completion) tokens used so far, the call in flight estimated."""
        prompt = self.prompt_tokens
        completion = self.completion_tokens
        if self.current_messages:
            prompt += estimate_prompt_tokens(self.current_messages)
            completion += estimate_tokens("".join(self.current_text))
        return prompt, completion


@dataclass(frozen=True)
class Replay:
    """A retry of an already answered request (same Idempotency-Key): its first answer."""

    body: Any


# ---------------------------------------------------------------- 1-2: prepare and reserve


async def earlier_answer(
    db: Database, *, user: User, chat_id: uuid.UUID, content: str, idempotency_key: str
) -> Replay | None:
    """The first answer to a retried message (same Idempotency-Key and body), so that a retry
    neither calls the model nor holds tokens again; 409 for the same key with another body."""
    async with db.session(write=False) as session:
        stored = await idempotency.lookup(
            session,
            key=idempotency_key,
            user_id=user.id,
            route=IDEMPOTENCY_ROUTE,
            request=_idempotency_request(chat_id, content),
        )
    return Replay(stored.body) if stored is not None else None


# Replies of a guarded turn: the first and at most two regenerations after a leak.
GUARDED_ATTEMPTS = 3


def reservation_size(messages: list[ChatMessage], max_tokens: int) -> int:
    """Tokens held before the call: the prompt estimate with a margin, plus the longest answer."""
    return math.ceil(estimate_prompt_tokens(messages) * PROMPT_ESTIMATE_MARGIN) + max_tokens


def distinct_passages(found: list[knowledge.Passage]) -> list[SourcePassage]:
    """Retrieved passages numbered from 1, each text once.

    The same file uploaded twice (before duplicates were refused, or once in the course and once
    in a linked library document) yields the same passage twice; citing it as [1] and [2] would
    only look like two sources.
    """
    seen: set[str] = set()
    out: list[SourcePassage] = []
    for p in found:
        key = collapse_spaces(p.text).casefold()
        if key in seen:
            continue
        seen.add(key)
        out.append(SourcePassage(len(out) + 1, p))
    return out


async def retrieve(
    db: Database, settings: Settings, *, course_id: uuid.UUID | None, query: str, k: int
) -> list[SourcePassage]:
    """Passages of the course (or the library) for a query, numbered from 1."""
    async with db.session(write=False) as session:
        found = await knowledge.retrieve(
            session, course_id=course_id, query=query, k=k, settings=settings
        )
    return distinct_passages(found)


def _build(turn: Turn, *, hint_level: int) -> BuiltPrompt:
    llm = turn.settings.llm
    return build_prompt(
        question=turn.question,
        passages=turn.passages,
        history=turn.history,
        system_prompt=turn.system_prompt.content if turn.system_prompt else None,
        guide=turn.guide,
        hint_level=hint_level,
        quiz_rule=turn.guarded,
        passages_budget=llm.passages_token_budget,
        history_budget=llm.history_token_budget,
    )


async def rate_limit(limiter: RateLimiter, settings: Settings, user: User) -> None:
    """The per-user tutor limit, counted before each question (429 when exceeded)."""
    await limiter.hit(
        settings.rate_limits.tutor_per_user,
        "tutor",
        str(user.id),
        message="Too many tutor requests; wait a moment before asking again",
    )


@dataclass
class _Material:
    """What the read phase of an answer found."""

    course_id: uuid.UUID | None
    history: list[ChatMessage]
    first_message: bool
    guide: str | None
    system_prompt: ActivePrompt | None
    guard: Guard
    passages: list[SourcePassage]


@dataclass(frozen=True)
class Question:
    """A question as it arrives: who asks, in which session (None: a new one, in `course_id`)
    and what. Built once where the request comes in and passed down to the read phase."""

    user: User
    chat_id: uuid.UUID | None
    course_id: uuid.UUID | None
    content: str


async def prepare(
    db: Database,
    settings: Settings,
    *,
    user: User,
    chat_id: uuid.UUID | None,
    course_id: uuid.UUID | None,
    content: str,
    idempotency_key: str | None = None,
    new_chat_id: uuid.UUID | None = None,
) -> Turn:
    """`prepare_question` for the question given by its parts (the pages, the dialects)."""
    return await prepare_question(
        db,
        settings,
        Question(user, chat_id, course_id, content),
        idempotency_key=idempotency_key,
        new_chat_id=new_chat_id,
    )


async def prepare_question(
    db: Database,
    settings: Settings,
    question: Question,
    *,
    idempotency_key: str | None = None,
    new_chat_id: uuid.UUID | None = None,
) -> Turn:
    """Gather the material and hold the tokens; raises 404/403/402/429 before any model call.

    `chat_id` None starts a new session in `course_id` (the one-call form); it is created in
    the same unit of work as the hold, so a refused request leaves nothing behind. Its id is
    `new_chat_id` when a client names its sessions itself.
    """
    async with db.session(write=False) as session:
        material = await _read_material(session, settings, question)
    user, content = question.user, question.content
    turn = Turn(
        user=user,
        chat_id=question.chat_id or new_chat_id or new_id(),
        course_id=material.course_id,
        question=content,
        hint_level=max(1, min(5, user.hint_level)),
        history=material.history,
        passages=material.passages,
        guide=material.guide,
        system_prompt=material.system_prompt,
        guard=material.guard,
        prompt=None,  # type: ignore[arg-type]  # built just below
        max_tokens=settings.llm.max_tokens,
        settings=settings,
        create_chat=question.chat_id is None,
        chat_title=service.title_from(content) if material.first_message else None,
        idempotency_key=idempotency_key,
    )
    turn.prompt = _build(turn, hint_level=turn.hint_level)
    turn.passages = turn.prompt.passages
    await _hold(db, turn)
    return turn


async def _read_material(
    session: AsyncSession, settings: Settings, question: Question
) -> _Material:
    """The read phase: the session (its history and system prompt with it), the course and
    its guide, the quiz guard and the retrieved passages; 404/403 on the way."""
    user, chat_id, course_id = question.user, question.chat_id, question.course_id
    prompt_id: uuid.UUID | None = None
    if chat_id is not None:
        context = await repository.answer_context(
            session, chat_id, limit=HISTORY_MESSAGES, global_scope=GLOBAL_SCOPE
        )
        if context is None or context.user_id != user.id:
            raise service.ChatSessionNotFound()
        if course_id is not None and course_id != context.course_id:
            raise service.ChatSessionNotFound()
        course_id, prompt_id = context.course_id, context.prompt_id
        history = [
            ChatMessage("user" if m.role == MessageRole.user else "assistant", m.content)
            for m in context.history
            if m.finish_reason not in ("interrupted",)
        ]
        first_message = context.message_count == 0 and context.title == service.DEFAULT_TITLE
    else:
        history = []
        first_message = True
    guide = None
    if course_id is not None:
        course = await service.course_for_tutor(session, user=user, course_id=course_id)
        guide = course.guide
    if chat_id is not None:
        system_prompt = await prompt_by_id(session, prompt_id)
    else:
        system_prompt = await active_for(session, course_id=course_id)
    guard = await guard_for(session, user=user, course_id=course_id)
    found = await knowledge.retrieve(
        session,
        course_id=course_id,
        query=question.content,
        k=settings.llm.retrieval_k,
        settings=settings,
    )
    return _Material(
        course_id=course_id,
        history=history,
        first_message=first_message,
        guide=guide,
        system_prompt=system_prompt,
        guard=guard,
        passages=distinct_passages(found),
    )


async def _hold(db: Database, turn: Turn) -> None:
    """Reserve the turn's tokens (creating its session first when it is new), committed
    before the model is called."""
    amount = reservation_size(turn.prompt.messages, turn.max_tokens)
    if turn.guarded:
        # A leaking reply is regenerated (twice at most): the hold covers every attempt, so
        # the charge never has to exceed it. What is not used is released at once.
        amount *= GUARDED_ATTEMPTS
    async with db.session() as session:
        if turn.create_chat:
            chat = service.new_session(turn.user, course_id=turn.course_id, title=turn.chat_title)
            chat.id = turn.chat_id
            session.add(chat)
            await session.flush()
            turn.chat_title = None
        reservation = await billing.reserve(
            session,
            user_id=turn.user.id,
            amount=amount,
            purpose="tutor answer",
            course_id=turn.course_id,
            settings=turn.settings.billing,
        )
    turn.reservation_id = reservation.id
    turn.reserved = amount


# ---------------------------------------------------------------- 3: the model


async def begin(
    db: Database,
    settings: Settings,
    limiter: RateLimiter,
    question: Question,
    *,
    idempotency_key: str | None,
) -> Turn | Replay:
    """A question's first steps: the first answer again for a retried key (neither counted nor
    held again), else the per-user limit, then `prepare_question`."""
    if idempotency_key is not None and question.chat_id is not None:
        replay = await earlier_answer(
            db,
            user=question.user,
            chat_id=question.chat_id,
            content=question.content,
            idempotency_key=idempotency_key,
        )
        if replay is not None:
            return replay
    await rate_limit(limiter, settings, question.user)
    return await prepare_question(db, settings, question, idempotency_key=idempotency_key)


def _lower_level(level: int, attempt: int) -> int:
    """The hint level of a regenerated reply: at most 2, then 1."""
    return 1 if attempt >= 2 else max(1, min(level - 1, 2))


async def run_model(
    provider: Provider, turn: Turn, *, stream: bool, progress: Progress
) -> AsyncGenerator[Delta | Outcome, None]:
    """Deltas (when streaming and unguarded) then the Outcome.

    Guarded turns (a student with quizzes not yet passed in the course) are checked against the
    quiz answers before any text leaves: a leaking reply is regenerated at a lower hint level,
    twice at most, then replaced by a refusal. Their deltas are sent once the text is approved.
    """
    level = turn.hint_level
    messages = turn.prompt.messages
    regenerations = 0
    leaks: list[Leak] = []
    for attempt in range(GUARDED_ATTEMPTS):
        grounding = Grounding(
            question=turn.question,
            passages=turn.passages,
            hint_level=level,
            refuse_answers=attempt > 0,
            min_coverage=turn.settings.llm.min_coverage,
        )
        completion: Completion | None = None
        items = _attempt(provider, turn, messages, grounding, stream, progress)
        try:
            async for item in items:
                if isinstance(item, Delta):
                    yield item
                else:
                    completion = item
        finally:
            # A client that leaves closes this generator: the model call stops with it.
            await items.aclose()
        assert completion is not None
        leaks = turn.guard.leaks(completion.text, question=turn.question)
        if not leaks:
            outcome = _approved(
                turn, completion, progress, level=level, regenerations=regenerations
            )
            if stream and turn.guarded:
                for piece in _pieces(outcome.text):
                    yield Delta(piece)
            yield outcome
            return
        log.info("tutor_quiz_leak", chat_id=str(turn.chat_id), attempt=attempt, leaks=len(leaks))
        retry = _regeneration(turn, progress, attempt)
        if retry is None:
            break
        regenerations += 1
        level, messages = retry
    outcome = _withheld(progress, leaks, regenerations)
    if stream:
        for piece in _pieces(outcome.text):
            yield Delta(piece)
    yield outcome


async def _attempt(
    provider: Provider,
    turn: Turn,
    messages: list[ChatMessage],
    grounding: Grounding,
    stream: bool,
    progress: Progress,
) -> AsyncGenerator[Delta | Completion, None]:
    """One model call: its deltas renumbered (streamed and unguarded only), then its completion,
    counted in `progress`."""
    progress.current_messages = list(messages)
    progress.current_text = []
    completion: Completion | None = None
    if stream:
        numbers = Renumbering(p.index for p in turn.passages)
        generator = provider.stream(messages, max_tokens=turn.max_tokens, grounding=grounding)
        try:
            async for item in generator:
                if isinstance(item, Delta):
                    progress.current_text.append(item.text)
                    piece = numbers.feed(item.text)
                    if not turn.guarded and piece:
                        yield Delta(piece)
                else:
                    completion = item
        finally:
            await generator.aclose()
        rest = numbers.flush()
        if rest and not turn.guarded:
            yield Delta(rest)
    else:
        completion = await provider.complete(
            messages, max_tokens=turn.max_tokens, grounding=grounding
        )
    assert completion is not None
    progress.provider, progress.model = completion.provider, completion.model
    progress.finish_attempt(completion)
    yield completion


def _approved(
    turn: Turn, completion: Completion, progress: Progress, *, level: int, regenerations: int
) -> Outcome:
    """The outcome of a reply that gives no quiz answer away, its citations renumbered."""
    text, mapping = renumber(completion.text, (p.index for p in turn.passages))
    return Outcome(
        text=text,
        prompt_tokens=progress.prompt_tokens,
        completion_tokens=progress.completion_tokens,
        finish_reason=completion.finish_reason,
        provider=completion.provider,
        model=completion.model,
        hint_level=level,
        grounded=_grounded(completion, turn.passages),
        leak_regenerations=regenerations,
        usage_estimated=completion.usage_estimated,
        citations=mapping,
    )


def _regeneration(
    turn: Turn, progress: Progress, attempt: int
) -> tuple[int, list[ChatMessage]] | None:
    """The hint level and prompt of the next reply after a leak; None when no reply is left or
    the next one would not fit in the hold (refuse now rather than overspend it)."""
    if attempt == GUARDED_ATTEMPTS - 1:
        return None
    next_level = _lower_level(turn.hint_level, attempt + 1)
    next_messages = _build(turn, hint_level=next_level).messages
    used = progress.prompt_tokens + progress.completion_tokens
    if used + reservation_size(next_messages, turn.max_tokens) > turn.reserved:
        return None
    return next_level, next_messages


def _withheld(progress: Progress, leaks: list[Leak], regenerations: int) -> Outcome:
    """The refusal that replaces replies that kept giving quiz answers away."""
    return Outcome(
        text=refusal(leaks),
        prompt_tokens=progress.prompt_tokens,
        completion_tokens=progress.completion_tokens,
        finish_reason="refused",
        provider=progress.provider,
        model=progress.model,
        hint_level=1,
        grounded=True,
        leak_regenerations=regenerations,
    )


def _pieces(text: str, size: int = 24) -> list[str]:
    """Approved text re-cut into stream-sized pieces (at spaces when possible)."""
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start + 1, end)
            if space > start:
                end = space
        out.append(text[start:end])
        start = end
    return out


def _grounded(completion: Completion, passages: list[SourcePassage]) -> bool:
    """Whether the answer rests on relevant material (False feeds "answers with no source")."""
    if not passages:
        return False
    return completion.extra.get("grounded", "true") != "false"


def sources_for(
    text: str,
    passages: list[SourcePassage],
    grounded: bool | None,
    *,
    guard: Guard = OPEN,
    question: str = "",
) -> list[SourceOut]:
    """The passages the answer cites ([n]); all given ones when it cites none but used them.

    For a guarded student an excerpt that would give away a quiz answer is withheld; the
    pointer (document, page, section) stays, so they can still go and read it.
    """
    if grounded is False:
        return []
    by_index = {p.index: p for p in passages}
    numbers = sorted({int(m) for m in _CITATION.findall(text)})
    cited = [by_index[n] for n in numbers if n in by_index]
    out: list[SourceOut] = []
    for p in cited or list(passages):
        found = p.passage
        excerpt = guard.shown(_excerpt(found.text), question=question)
        out.append(
            SourceOut(
                index=p.index,
                document_id=found.document_id,
                document_title=found.document_title,
                page=found.page,
                page_label=found.page_label,
                heading=found.heading,
                chunk_id=found.chunk_id,
                excerpt=excerpt,
            )
        )
    return out


def _excerpt(text: str) -> str:
    flat = collapse_spaces(text)
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1].rstrip() + "…"


# ---------------------------------------------------------------- 4: settle


async def release(db: Database, turn: Turn) -> None:
    """Give the hold back (the model failed): nothing is charged."""
    if turn.reservation_id is None:
        return
    async with db.session() as session:
        await billing.release(
            session,
            reservation_id=turn.reservation_id,
            user_id=turn.user.id,
            settings=turn.settings.billing,
        )


async def release_shielded(db: Database, turn: Turn) -> None:
    """Release even while the request is being cancelled."""
    with anyio.CancelScope(shield=True):
        try:
            await release(db, turn)
        except Exception:  # the hold then expires on its own; never mask the original error
            log.exception("tutor_release_failed", reservation_id=str(turn.reservation_id))


def _chargeable(turn: Turn, outcome: Outcome) -> int:
    """The tokens to charge: none for a refusal, else the usage, which the hold covers.

    Regenerations only start when the rest of the hold covers them (run_model), so only a
    provider reporting more prompt tokens than the estimate's margin allows can go above: that
    is logged and charged up to the hold, the most the student agreed to spend.
    """
    if outcome.refused:
        # The student got nothing they can use: such answers are free (the tokens used are
        # still reported on the message and counted in the metrics).
        return 0
    if outcome.total_tokens > turn.reserved:
        log.warning(
            "tutor_usage_above_hold",
            chat_id=str(turn.chat_id),
            used=outcome.total_tokens,
            reserved=turn.reserved,
        )
    return min(outcome.total_tokens, turn.reserved)


async def settle(db: Database, turn: Turn, outcome: Outcome) -> MessageOut | Replay | None:
    """Charge the real usage and store the exchange; None when the session vanished meanwhile."""
    assert turn.reservation_id is not None
    async with db.session() as session:
        if turn.idempotency_key is not None:
            replay = await _claim_key(session, turn)
            if replay is not None:
                return replay.body
        now = utcnow()
        # Counting the two messages locks the session's row first (it is the statement that
        # finds a session deleted meanwhile), as the lock of an idempotent retry does above.
        touched = await repository.touch_session(
            session,
            turn.chat_id,
            added=2,
            at=now + timedelta(microseconds=1),
            title=turn.chat_title,
            default_title=service.DEFAULT_TITLE,
        )
        if touched is None:
            await _release_in(session, turn)
            return None
        reservation = await billing.finalize(
            session,
            reservation_id=turn.reservation_id,
            actual=_chargeable(turn, outcome),
            user_id=turn.user.id,
            settings=turn.settings.billing,
        )
        question, answer = _exchange(
            turn, outcome, course_id=touched.course_id, charged=reservation.actual or 0, at=now
        )
        await repository.insert_messages(session, [question, answer])
        if touched.course_id is not None and turn.user.role == Role.student:
            await courses.record_activity(
                session, course_id=touched.course_id, student_id=turn.user.id
            )
        out = service.message_out(answer)
        if turn.idempotency_key is not None:
            await idempotency.complete(
                session,
                key=turn.idempotency_key,
                user_id=turn.user.id,
                route=IDEMPOTENCY_ROUTE,
                status_code=200,
                body=out,
            )
    LLM_TOKENS.labels("prompt", outcome.provider or "unknown").inc(outcome.prompt_tokens)
    LLM_TOKENS.labels("completion", outcome.provider or "unknown").inc(outcome.completion_tokens)
    return out


@dataclass(frozen=True)
class _Claimed:
    """What settling a keyed request ends with early: None (session gone) or a replay."""

    body: MessageOut | Replay | None


async def _release_in(session: AsyncSession, turn: Turn) -> None:
    assert turn.reservation_id is not None
    await billing.release(
        session, reservation_id=turn.reservation_id, settings=turn.settings.billing
    )


async def _claim_key(session: AsyncSession, turn: Turn) -> _Claimed | None:
    """Lock the session and claim the request's Idempotency-Key; what to return at once when
    the session is gone or a concurrent retry answered first (the hold released: charge once,
    answer alike), else None."""
    assert turn.idempotency_key is not None
    if await repository.lock_session(session, turn.chat_id) is None:
        await _release_in(session, turn)
        return _Claimed(None)
    stored = await idempotency.claim(
        session,
        key=turn.idempotency_key,
        user_id=turn.user.id,
        route=IDEMPOTENCY_ROUTE,
        request=turn.idempotency_request(),
    )
    if stored is None:
        return None
    await _release_in(session, turn)
    return _Claimed(Replay(stored.body))


def _exchange(
    turn: Turn, outcome: Outcome, *, course_id: uuid.UUID | None, charged: int, at: datetime
) -> tuple[Message, Message]:
    """The question and the answer as stored, with the answer's sources, usage and charge."""
    common = {"session_id": turn.chat_id, "user_id": turn.user.id, "course_id": course_id}
    question = Message(
        id=new_id(),
        **common,
        role=MessageRole.user,
        content=turn.question,
        sources=[],
        created_at=at,
    )
    sources = sources_for(
        outcome.text,
        renumbered_passages(turn.passages, outcome.citations),
        outcome.grounded,
        guard=turn.guard,
        question=turn.question,
    )
    prompt = turn.system_prompt
    answer = Message(
        id=new_id(),
        **common,
        role=MessageRole.assistant,
        content=outcome.text,
        sources=[s.model_dump(mode="json") for s in sources],
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        charged_tokens=charged,
        reservation_id=turn.reservation_id,
        hint_level=outcome.hint_level,
        system_prompt_id=prompt.id if prompt else None,
        system_prompt_version=prompt.version if prompt else None,
        provider=outcome.provider[:64] or None,
        model=outcome.model[:200] or None,
        finish_reason=outcome.finish_reason[:32],
        grounded=outcome.grounded,
        leak_regenerations=outcome.leak_regenerations,
        # Ordered after the question even on clocks with coarse resolution.
        created_at=at + timedelta(microseconds=1),
    )
    return question, answer


async def settle_shielded(db: Database, turn: Turn, outcome: Outcome) -> MessageOut | Replay | None:
    """Settle without being interrupted by a client that leaves at that moment."""
    with anyio.CancelScope(shield=True):
        result = await settle(db, turn, outcome)
    return result


async def settle_interrupted(db: Database, turn: Turn, progress: Progress) -> None:
    """The client left mid-answer: charge what was generated, keep the partial exchange."""
    prompt_tokens, completion_tokens = progress.partial()
    outcome = Outcome(
        # A guarded reply in flight was never checked (nor shown): it is not kept either.
        text="" if turn.guarded else "".join(progress.current_text),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason="interrupted",
        provider=progress.provider,
        model=progress.model,
        hint_level=turn.hint_level,
        grounded=None,
        usage_estimated=True,
    )
    with anyio.CancelScope(shield=True):
        try:
            await settle(db, turn.without_idempotency(), outcome)
        except Exception:  # the hold then expires on its own
            log.exception("tutor_interrupted_settle_failed", chat_id=str(turn.chat_id))
