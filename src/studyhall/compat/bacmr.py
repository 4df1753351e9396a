"""BacMR dialect: document 001, served under /compat/bacmr (part of it so far).

Here: health, auth (signup, signin, logout, reset-password), the profile (/me) and the
caller's wallet (balance, reservations); the administrators' routes are in bacmr_admin.py. The document's envelope `{"success": true, "data": …}`
is kept where it shows one; errors are `{"success": false, "detail": "..."}` (the document shows
none; its clients read `success`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from studyhall.billing import service as billing
from studyhall.billing.models import ReservationStatus
from studyhall.billing.schemas import ReservationOut
from studyhall.compat.base import (
    DialectIn,
    OwnProfileDep,
    SignInDep,
    SignUpDep,
    error_docs,
    new_dialect_app,
    tutor_events,
    tutor_reply,
    wallet_view,
)
from studyhall.core.db import SessionDep
from studyhall.identity import service as identity
from studyhall.identity.dependencies import (
    CallerInOwnSession,
    CurrentUser,
    LimiterDep,
    SettingsDep,
)

DESCRIPTION = """
The BacMR API (document 001) served by StudyHall: give its front-end the base URL
`<studyhall>/compat/bacmr`. Tokens are StudyHall's (not Supabase's); one account works in
every dialect and in `/api/v1`.

Served: `/health`, `/auth/*`, `GET`/`PATCH /me`, the wallet (`/wallet/balance`,
`/wallet/reservations`, and for administrators `/wallet/topup`, `/wallet/transactions`,
`/wallet/transactions/expense`, `/wallet/internal/reserve` and `/finalize`), and the
administrators' `/admin/test-role`, `/admin/users*`, `/admin/stats` and `/admin/jobs*`
(every job kind; `?kind=knowledge.ingest` for ingestion only), `/admin/documents/{id}` (PATCH, DELETE), `/admin/references`,
`/admin/ingest/{reference_id}`, `/admin/vector-embedding`, `/admin/upload-curriculum`,
`/admin/jobs/dispatch`, `/admin/scrape-runs`, `/scraping/*` and the public `/curriculum/*` (a
`grade` is a textbook's level).

`POST /chat` takes `{"message", "session_id"?, "course_id"?, "stream"?}` (`question` is read
as `message`): without `course_id` or `session_id` the tutor answers from the curriculum
library, in a new session. It answers `{"answer", "sources", "session_id", "usage"}`, or with
`"stream": true` (or `Accept: text/event-stream`) StudyHall's events `delta` {text},
`sources`, `usage`, `done` (the stored message) or `error`. Each answer is paid from the
wallet by reserve/finalize (402 when the wallet cannot cover it), rate limited, and a quiz's
answers are withheld until the student passed it.

Scraping: a `{source}` is a registered curriculum source's name (or id); the first
registered wins when two share a name. `POST /scraping/{source}/sync` queues the crawl and
answers its run at once (`status` `queued`; a finished run is `success`, counts filled in:
`GET /scraping/{source}/runs`); 409 while one is pending. The public reads show what was
found, not the crawl's settings, skipped links or errors (`/admin/scrape-runs` shows those).
`/admin/upload-curriculum` takes `file`, `grade`, `subject`, `language` (and `title`);
`namespace` and `pdf_source` are accepted and ignored (StudyHall keeps one index); the same
file twice is a 409. `/admin/jobs/dispatch` makes the oldest queued ingestion job (an upload's
or a reference's) due now, ahead of any retry backoff, and the workers start it at their next
poll; 404 when none waits.

A document's `major`, `weight` and `category` are not kept by StudyHall (its textbooks have a
title, subject, level and language): those fields are ignored. `force` on ingest is accepted
and changes nothing (StudyHall keeps one ingestion job per reference).

Administrator routes take an admin token or `X-Admin-Key`. Bodies the document leaves out are
StudyHall's own fields: top-up `{"user_id", "amount", "reason"?, "reference"?}` (tokens; a
negative amount is an adjustment), expense `{"category", "amount" (cents), "currency",
"description"}`, reserve `{"user_id", "amount", "purpose"?, "course_id"?, "ttl_s"?}`,
finalize `{"reservation_id", "actual"}`. Writes without a documented answer answer
`{"success": true, "data": …}`; reads answer the object. `/admin/jobs/{id}/requeue` requeues
failed jobs only (409 otherwise). Errors are `{"success": false, "detail": "..."}`.
"""


class Failure(BaseModel):
    success: Literal[False] = False
    detail: str


class _Style:
    def error(self, status: int, message: str, code: str) -> dict[str, Any]:
        return {"success": False, "detail": message}

    def validation(self, errors: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        return 422, {"success": False, "detail": errors}


errors = error_docs(Failure)


def ok(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data}


def dump(schema: Any, row: Any) -> dict[str, Any]:
    """A row in StudyHall's own output schema, as JSON."""
    out: dict[str, Any] = schema.model_validate(row).model_dump(mode="json")
    return out


class Window:
    """A list's `limit` (1-100, default 50) and `offset` query parameters."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset

    def listing(self, name: str, items: list[Any], total: int, **extra: Any) -> dict[str, Any]:
        """The document's list: `{<name>: [...], "total", "limit", "offset"}` and any extra."""
        return {name: items, **extra, "total": total, "limit": self.limit, "offset": self.offset}


WindowDep = Annotated[Window, Depends()]


def profile(user: Any) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "full_name": user.full_name,
        "role": str(user.role),
    }


class SignupBody(DialectIn):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    full_name: Annotated[str, Field(min_length=1, max_length=200)]


class SigninBody(DialectIn):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class EmailBody(DialectIn):
    email: Annotated[str, Field(min_length=3, max_length=320)]


class MeUpdate(DialectIn):
    model_config = ConfigDict(extra="forbid")

    full_name: Annotated[str, Field(min_length=1, max_length=200)]


router = APIRouter()


@router.get("/health", summary="Is the backend online")
async def health() -> dict[str, str]:
    return {"status": "BacMR Online"}


@router.post("/auth/signup", responses=errors(403, 409, 422, 429), summary="Sign up")
async def signup(body: SignupBody, sign_up: SignUpDep) -> dict[str, Any]:
    user = await sign_up(email=body.email, password=body.password, full_name=body.full_name)
    return ok({"user_id": str(user.id), "email": user.email})


@router.post("/auth/signin", responses=errors(401, 403, 429), summary="Sign in")
async def signin(body: SigninBody, sign_in: SignInDep) -> dict[str, Any]:
    pair = await sign_in(body.email, body.password)
    return ok(
        {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "user": profile(pair.user),
        }
    )


@router.post("/auth/logout", summary="Sign out (the client discards its tokens)")
async def logout() -> dict[str, Any]:
    # The document's logout is client-side; StudyHall's sessions end with their refresh token
    # (POST /api/v1/auth/logout) or expire.
    return ok(None)


@router.post("/auth/reset-password", responses=errors(422, 429), summary="Mail a reset link")
async def reset_password(
    body: EmailBody, session: SessionDep, settings: SettingsDep, limiter: LimiterDep
) -> dict[str, Any]:
    await identity.forgot_password(
        session, settings=settings, limiter=limiter, email=body.email.strip().lower()
    )
    return ok({"message": "If the account exists, a reset link has been sent"})


@router.get("/me", responses=errors(401), summary="Own profile")
async def get_me(user: CurrentUser) -> dict[str, Any]:
    return profile(user)


@router.patch("/me", responses=errors(401, 403, 422), summary="Update own profile")
async def patch_me(body: MeUpdate, me: OwnProfileDep) -> dict[str, Any]:
    return profile(await me.change(**body.model_dump()))


@router.get("/wallet/balance", responses=errors(401), summary="Token balance")
async def balance(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    view = await wallet_view(request, session, user_id=user.id, settings=settings)
    return {
        "balance": view.balance,
        "tier": view.tier,
        "pending_reservations": view.reserved,
        "available": view.available,
        "daily_limit": view.daily_limit,
        "used_today": view.used_today,
    }


@router.get("/wallet/reservations", responses=errors(401, 422), summary="Own reservations")
async def reservations(
    user: CurrentUser,
    session: SessionDep,
    window: WindowDep,
    status: Annotated[ReservationStatus | None, Query()] = None,
) -> dict[str, Any]:
    rows, total = await billing.list_reservations(
        session, user_id=user.id, status=status, limit=window.limit, offset=window.offset
    )
    return window.listing("reservations", [dump(ReservationOut, r) for r in rows], total)


class ChatBody(DialectIn):
    message: Annotated[
        str,
        Field(
            min_length=1,
            max_length=8000,
            validation_alias=AliasChoices("message", "question"),
            description="The student's question (`question` is read too)",
        ),
    ]
    session_id: uuid.UUID | None = Field(default=None, description="Continue this session")
    course_id: uuid.UUID | None = Field(
        default=None, description="Ask within a course's material (else the curriculum library)"
    )
    stream: bool = Field(default=False, description="Answer as Server-Sent Events")


_CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`{answer, sources, session_id, usage}`, or streamed: the events "
        "`delta`, `sources`, `usage`, `done` or `error`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **errors(401, 402, 403, 404, 409, 422, 429, 502, 503, 504),
}


@router.post("/chat", responses=_CHAT_RESPONSES, summary="Ask the AI teacher (JSON or SSE)")
async def chat(body: ChatBody, request: Request, user: CallerInOwnSession) -> Any:
    streamed = body.stream or "text/event-stream" in request.headers.get("accept", "").lower()
    if streamed:
        return await tutor_events(
            request, user, chat_id=body.session_id, course_id=body.course_id, content=body.message
        )
    reply = await tutor_reply(
        request, user, chat_id=body.session_id, course_id=body.course_id, content=body.message
    )
    return {
        "answer": reply.content,
        "sources": [s.model_dump(mode="json") for s in reply.sources],
        "session_id": str(reply.session_id),
        "usage": reply.usage.model_dump(mode="json") if reply.usage else None,
    }


def build() -> FastAPI:
    """The BacMR sub-app."""
    app = new_dialect_app(name="bacmr", title="BacMR", description=DESCRIPTION, style=_Style())
    app.include_router(router)
    # Imported here: the admin routes use this module's error model and shapes.
    from studyhall.compat.bacmr_admin import router as admin_router
    from studyhall.compat.bacmr_library import router as library_router
    from studyhall.compat.bacmr_sources import router as sources_router

    app.include_router(admin_router)
    app.include_router(library_router)
    app.include_router(sources_router)
    return app
