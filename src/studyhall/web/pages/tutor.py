"""The tutor in the browser: conversations, answers streamed in over SSE (the API's own event
stream), citations that open the cited document at the cited page, the hint level; and the
wallet the answers are paid from.

Answers run like the API's: the caller is read in a short read-only unit of work and
`orchestration` holds the tokens, calls the model and settles in units of work of its own.
"""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import PlainTextResponse, Response

from studyhall.billing import service as billing
from studyhall.core.errors import AppError
from studyhall.courses import service as courses
from studyhall.identity.models import Role, User
from studyhall.knowledge import router as knowledge_api
from studyhall.knowledge.dependencies import readable_document
from studyhall.tutor import orchestration
from studyhall.tutor import service as tutor
from studyhall.tutor.providers.factory import provider_for
from studyhall.tutor.schemas import ChatSessionCreate, MessageCreate, MessageOut, SourceOut
from studyhall.tutor.streaming import answer_json, event_response
from studyhall.web.forms import problems, status_of, validate
from studyhall.web.pages.answers import FRESH, REFUSED, Form, form_page, refused, submitted, viewed
from studyhall.web.pages.common import Ctx, Posted, SignedIn, as_uuid, markdown
from studyhall.web.render import env, page, redirect

router = APIRouter(include_in_schema=False)
SESSIONS_SHOWN = 50
LEDGER_SHOWN = 30
_CITATION = re.compile(r"\[(\d{1,3})\]")


def source_href(source: SourceOut) -> str:
    """The cited document, opened at the cited page (PDF viewers honour #page=N)."""
    url = f"/documents/{source.document_id}/file"
    return f"{url}#page={source.page}" if source.page else url


def answer_html(message: MessageOut) -> Markup:
    """The answer's Markdown as HTML, each [n] a link to its source."""
    html = str(markdown(message.content))
    by_index = {s.index: s for s in message.sources}

    def link(match: re.Match[str]) -> str:
        source = by_index.get(int(match.group(1)))
        if source is None:
            return match.group(0)
        return f'<a class="cite" href="{source_href(source)}">[{source.index}]</a>'

    return Markup(_CITATION.sub(link, html))  # noqa: S704  (escaped markdown, our own links)


env.globals["source_href"] = source_href
env.globals["answer_html"] = answer_html


async def _course_choices(ctx: Ctx, user: User) -> list[Any]:
    """The courses whose tutor the user may open from the chat page."""
    async with ctx.db.session(write=False) as session:
        if user.role == Role.student:
            return list(
                (await courses.list_enrolled(session, student=user, limit=100, offset=0)).items
            )
        teacher_id = user.id if user.role == Role.teacher else None
        found = await courses.list_courses(session, viewer=user, limit=100, teacher_id=teacher_id)
        return list(found.items)


async def _chats_page(
    ctx: Ctx,
    user: User,
    *,
    chats: list[Any] | None = None,
    total: int = 0,
    course_id: uuid.UUID | None = None,
    form: Form = FRESH,
) -> Response:
    """My conversations (none listed after a refused start) and where to start another."""
    return form_page(
        ctx,
        "tutor/chats.html",
        form,
        chats=chats or [],
        total=total,
        courses=await _course_choices(ctx, user),
        course_id=course_id,
    )


@router.get("/tutor")
async def chats(ctx: Ctx, user: SignedIn, course_id: str = "") -> Response:
    wanted = as_uuid(course_id) if course_id else None
    async with ctx.db.session(write=False) as session:
        found = await tutor.list_sessions(
            session, user=user, course_id=wanted, limit=SESSIONS_SHOWN, offset=0
        )
    return await _chats_page(
        ctx, user, chats=list(found.items), total=found.total, course_id=wanted
    )


@router.post("/tutor")
async def new_chat(ctx: Ctx, user: SignedIn, data: Posted) -> Response:
    """Start a conversation in one of my courses (or over the shared library)."""
    fields = {"course_id": data["course_id"]} if data.get("course_id") else {}

    async def start(session: AsyncSession) -> str:
        body = validate(ChatSessionCreate, fields)
        chat = await tutor.create_session(session, user=user, data=body)
        return f"/tutor/{chat.id}"

    return await submitted(ctx, start, again=partial(_chats_page, ctx, user))


@router.get("/tutor/{chat_id}")
async def chat_page(ctx: Ctx, chat_id: uuid.UUID, user: SignedIn) -> Response:
    async def load(session: AsyncSession) -> dict[str, Any]:
        chat = await tutor.owned_session(session, user=user, chat_id=chat_id)
        detail = await tutor.session_detail(session, chat=chat)
        course = await courses.find_course(session, chat.course_id) if chat.course_id else None
        return {"chat": detail, "course": course, "hint_level": user.hint_level}

    return await viewed(ctx, "tutor/chat.html", load)


@router.get("/tutor/{chat_id}/messages/{message_id}")
async def message_fragment(
    ctx: Ctx, chat_id: uuid.UUID, message_id: uuid.UUID, user: SignedIn
) -> Response:
    """One message as the chat shows it: the stream's last step swaps the raw text for it."""

    async def load(session: AsyncSession) -> dict[str, Any]:
        chat = await tutor.owned_session(session, user=user, chat_id=chat_id)
        detail = await tutor.session_detail(session, chat=chat)
        message = next((m for m in detail.messages if m.id == message_id), None)
        if message is None:
            raise tutor.ChatSessionNotFound()
        return {"message": message}

    return await viewed(ctx, "tutor/_message.html", load)


@router.post("/tutor/{chat_id}/ask")
async def ask(
    ctx: Ctx, chat_id: uuid.UUID, request: Request, user: SignedIn, data: Posted
) -> Response:
    """Ask in a conversation. The chat's script asks for `text/event-stream` and reads the
    answer as it comes; a browser without script gets the page again with the answer."""
    stream = "text/event-stream" in request.headers.get("accept", "")
    try:
        body = validate(MessageCreate, {"content": data.get("content", "")})
        await orchestration.rate_limit(request.app.state.limiter, ctx.settings, user)
        turn = await orchestration.prepare(
            ctx.db, ctx.settings, user=user, chat_id=chat_id, course_id=None, content=body.content
        )
        provider = provider_for(request.app)
        if stream:
            return await event_response(ctx.db, provider, turn)
        await answer_json(ctx.db, provider, turn)
    except REFUSED as exc:
        status = status_of(exc)
        text = " ".join(problems(exc, ctx.t))
        if stream:
            return PlainTextResponse(text, status_code=status)
        return page(
            ctx,
            "message.html",
            status_code=status,
            title=ctx.t("The tutor could not answer"),
            message=text,
        )
    return redirect(ctx, f"/tutor/{chat_id}#latest")


@router.get("/documents/{document_id}/file")
async def document_file(
    ctx: Ctx, document_id: uuid.UUID, request: Request, user: SignedIn
) -> Response:
    """A cited document for whoever may read its course (the API's file answer: PDFs inline,
    so the viewer opens at #page=N; every other kind as a download)."""
    try:
        async with ctx.db.session(write=False) as session:
            document = await readable_document(document_id, user, session)
        return await knowledge_api.document_file(request, document)
    except AppError as exc:
        return refused(ctx, exc)


@router.get("/wallet")
async def wallet(ctx: Ctx, user: SignedIn) -> Response:
    """My tokens: balance, held, today's use against the daily limit, and the ledger."""
    async with ctx.db.session() as session:  # a first visit creates the wallet
        view = await billing.get_wallet(session, user_id=user.id, settings=ctx.settings.billing)
        ledger = await billing.list_transactions(session, user_id=user.id, limit=LEDGER_SHOWN)
    return page(ctx, "account/wallet.html", wallet=view, entries=ledger.entries)
