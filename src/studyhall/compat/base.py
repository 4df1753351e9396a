"""What every dialect shares: its own FastAPI sub-app (own OpenAPI and docs) and its error shape.

A dialect renders StudyHall's errors in its document's shape by re-rendering what the core
handlers answer: statuses, headers (`WWW-Authenticate`, `Retry-After`) and logging stay the
core's, only the body changes. No dialect decides a status on its own except where its
document says so (a route then raises `DialectError` with the document's body).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from studyhall import __version__
from studyhall.billing import service as billing
from studyhall.core import errors as core_errors
from studyhall.core.db import SessionDep
from studyhall.core.errors import Unauthorized
from studyhall.core.openapi import NUL_REFUSAL
from studyhall.core.routes import allowed_methods
from studyhall.core.schemas import InputSchema, StorableText, declare_nul_free
from studyhall.identity import service as identity
from studyhall.identity.dependencies import CurrentUser, DatabaseDep, LimiterDep, SettingsDep
from studyhall.identity.models import User
from studyhall.identity.schemas import AdminUserUpdate, RegisterIn, TokenPair, UserUpdate
from studyhall.tutor import orchestration
from studyhall.tutor.providers.factory import provider_for
from studyhall.tutor.schemas import MessageOut
from studyhall.tutor.streaming import answer_json, event_response
from studyhall.web.docs import swagger_page


class ErrorStyle(Protocol):
    """How a document writes its errors."""

    def error(self, status: int, message: str, code: str) -> dict[str, Any]:
        """The body of a non-validation error."""
        ...

    def validation(self, errors: list[dict[str, Any]]) -> tuple[int, dict[str, Any] | list[Any]]:
        """The status and body of a request that does not match its schema (FastAPI's list)."""
        ...


def _refuse_nul(value: Any) -> Any:
    """No NUL character in text (PostgreSQL cannot store one): a ValueError, the request's 422
    in the dialect's shape. Only the NUL: every other rule of the text is the domain's."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise ValueError("text must not contain NUL characters")
    return value


class DialectIn(BaseModel):
    """A document's request body: fields it does not know are ignored, as its clients expect
    (a field that must not be set is refused by the domain's own input schema). Its text (and
    lists of text) holds no NUL character, and its JSON schema says so, as an InputSchema's."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _refuse_nul(value)

    # The canonical bodies' own declaration (`declare_nul_free` on the model's schema).
    __get_pydantic_json_schema__ = InputSchema.__dict__["__get_pydantic_json_schema__"]


def field_path(error: dict[str, Any]) -> list[str]:
    """Where a validation error sits, without FastAPI's `body`/`query`/`path` prefix."""
    return [str(p) for p in error.get("loc", []) if p not in ("body", "query", "path")]


class Detail(BaseModel):
    """FastAPI's own error body, which documents written for FastAPI backends show."""

    detail: str


class FastAPIStyle:
    """FastAPI's `{"detail": "..."}`; validation: FastAPI's 422 list."""

    def error(self, status: int, message: str, code: str) -> dict[str, Any]:
        return {"detail": message}

    def validation(self, errors: list[dict[str, Any]]) -> tuple[int, list[Any] | dict[str, Any]]:
        return 422, {"detail": errors}


def iso(value: datetime | None) -> str | None:
    """A timestamp in ISO 8601 UTC with `Z` (naive values are UTC, as SQLite returns them)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DialectError(Exception):
    """An answer a document spells out itself (status and body as written there)."""

    def __init__(
        self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(str(body))
        self.status_code = status_code
        self.body = body
        self.headers = headers or {}


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _restyled(style: ErrorStyle, core_handler: Handler) -> Handler:
    """The core handler's answer, with the body written in the dialect's shape."""

    async def handler(request: Request, exc: Exception) -> Response:
        response = await core_handler(request, exc)
        body = json.loads(bytes(response.body))
        headers = {
            k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
        }
        detail = body.get("detail")
        if isinstance(detail, list):  # FastAPI's validation list
            status, styled = style.validation(detail)
            return JSONResponse(styled, status_code=status, headers=headers)
        styled_body = style.error(response.status_code, str(detail), str(body.get("code", "")))
        return JSONResponse(styled_body, status_code=response.status_code, headers=headers)

    return handler


async def _http_error(request: Request, exc: Exception) -> Response:
    response = await core_errors._http_error(request, exc)
    if response.status_code == 405:
        # The core looks the resource up by full path; a dialect's routes are relative to its mount.
        root = request.scope.get("root_path", "")
        path = request.scope["path"][len(root) :] if root else request.scope["path"]
        response.headers["Allow"] = ", ".join(allowed_methods(request.app, path))
    return response


async def _dialect_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DialectError)
    return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)


def new_dialect_app(*, name: str, title: str, description: str, style: ErrorStyle) -> FastAPI:
    """A sub-app for one document: its OpenAPI at /compat/<name>/openapi.json, docs beside."""
    app = FastAPI(
        title=f"StudyHall compatibility: {title}",
        version=__version__,
        description=description,
        openapi_url="/openapi.json",
        # Served below from the packaged Swagger UI files (no CDN), like the canonical /docs.
        docs_url=None,
        redoc_url=None,
    )
    app.add_api_route("/docs", _swagger_ui, include_in_schema=False)
    app.add_exception_handler(DialectError, _dialect_error)
    app.add_exception_handler(core_errors.AppError, _restyled(style, core_errors._app_error))
    app.add_exception_handler(StarletteHTTPException, _restyled(style, _http_error))
    app.add_exception_handler(DBAPIError, _restyled(style, core_errors._database_error))
    app.add_exception_handler(PoolTimeout, _restyled(style, core_errors._database_error))
    app.add_exception_handler(OSError, _restyled(style, core_errors._database_error))
    app.add_exception_handler(Exception, _restyled(style, core_errors._unhandled))
    app.add_exception_handler(
        RequestValidationError, _restyled(style, core_errors._validation_error)
    )
    _install_refusals(app, style)
    return app


# The error a NUL in the query string is (the request middleware leaves /compat to its dialect).
_NUL_QUERY_ERROR = {
    "type": "string_nul",
    "loc": ["query"],
    "msg": "Query parameters must not contain NUL characters",
    "input": None,
}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


async def refuse_nul_query(request: Request) -> None:
    """A NUL anywhere in the query string is the request's validation error, in the dialect's
    shape (the canonical API's middleware answers it in the canonical shape)."""
    query = request.scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        raise RequestValidationError([_NUL_QUERY_ERROR])


def _schema_of(example: Any) -> dict[str, Any]:
    """A JSON schema of an example body's shape (the dialect's validation error)."""
    if isinstance(example, dict):
        return {
            "type": "object",
            "properties": {k: _schema_of(v) for k, v in example.items()},
            "required": list(example),
        }
    if isinstance(example, list):
        return {"type": "array", "items": _schema_of(example[0]) if example else {}}
    if example is None:
        return {}
    return {"type": _JSON_TYPES.get(type(example), "string")}


def declare_dialect_refusals(document: dict[str, Any], style: ErrorStyle) -> dict[str, Any]:
    """The canonical schema's post-processing for a dialect's document, in place: every text
    query parameter declares `NUL_FREE`, and every operation its validation answer (422, or
    the status the document gives it) in the dialect's own error shape, NUL included."""
    status, body = style.validation([_NUL_QUERY_ERROR])
    declared = {
        "description": f"Validation error. {NUL_REFUSAL}",
        "content": {"application/json": {"schema": _schema_of(body), "example": body}},
    }
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    declare_nul_free(parameter.get("schema"))
            responses = operation["responses"]
            entry = responses.get(str(status))
            if entry is None:
                responses[str(status)] = declared
            elif NUL_REFUSAL not in entry.get("description", ""):
                described = entry.get("description", "").rstrip(". ")
                entry["description"] = f"{described}. {NUL_REFUSAL}".lstrip(". ")
    return document


def _install_refusals(app: FastAPI, style: ErrorStyle) -> None:
    app.router.dependencies.append(Depends(refuse_nul_query))
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_dialect_refusals(generate(), style)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _swagger_ui(request: Request) -> HTMLResponse:
    """The dialect's docs: its own schema, under its mount (`root_path`)."""
    root = request.scope.get("root_path", "")
    return swagger_page(
        openapi_url=f"{root}/openapi.json",
        title=f"{request.app.title} · API",
        # The canonical redirect page is generic: it hands the code back to the opener.
        oauth2_redirect_url="/docs/oauth2-redirect",
    )


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict[str, Any]) -> M:
    """A domain input schema from what the dialect translated; its refusals are the request's
    validation errors (rendered in the dialect's shape), not a server error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def error_docs(model: Any) -> Callable[..., dict[int | str, dict[str, Any]]]:
    """A dialect's `responses=` helper: `errors(401, 404)` documents its error body (`model`)
    for those statuses."""

    def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
        return {status: {"model": model, "description": "Error"} for status in statuses}

    return errors


class TokenForm:
    """The OAuth2 password form (`username`, `password`) that FastAPI clients post to log in."""

    def __init__(
        self,
        username: Annotated[str, Form(max_length=320), StorableText],
        password: Annotated[
            str, Form(max_length=1024, json_schema_extra={"format": "password"}), StorableText
        ],
    ) -> None:
        self.username = username
        self.password = password


class SignUp:
    """The canonical sign-up (POST /auth/register) a dialect's registration translates to,
    bound to the request's unit of work, the settings and the rate limiter."""

    def __init__(self, session: SessionDep, settings: SettingsDep, limiter: LimiterDep) -> None:
        self.session = session
        self.settings = settings
        self.limiter = limiter

    async def __call__(self, **fields: Any) -> User:
        """An account made from the `RegisterIn` fields the dialect translated (its refusals
        are the request's 422; a role above student is the domain's 403)."""
        data = parse(RegisterIn, fields)
        return await identity.register(
            self.session, settings=self.settings, limiter=self.limiter, data=data
        )


class SignIn:
    """The canonical password login a dialect's login translates to: it runs its own units of
    work on the app's database (kept here for the route's own reads), with the settings and
    the rate limiter."""

    def __init__(self, db: DatabaseDep, settings: SettingsDep, limiter: LimiterDep) -> None:
        self.db = db
        self.settings = settings
        self.limiter = limiter

    async def __call__(self, login: str, password: str) -> TokenPair:
        return await identity.login(
            self.db, settings=self.settings, limiter=self.limiter, login=login, password=password
        )

    async def form(self, form: TokenForm, *, refused: str) -> TokenPair:
        """The password form's login (the canonical token route's); wrong credentials answer
        FastAPI's 401 with `refused` as the detail."""
        try:
            return await self(form.username, form.password)
        except Unauthorized:
            raise DialectError(
                401, {"detail": refused}, headers={"WWW-Authenticate": "Bearer"}
            ) from None


SignUpDep = Annotated[SignUp, Depends()]
SignInDep = Annotated[SignIn, Depends()]


class OwnProfile:
    """The caller's own account, changed as the canonical PATCH /users/me changes it, in the
    request's unit of work."""

    def __init__(self, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> None:
        self.user = user
        self.session = session
        self.settings = settings

    async def change(self, **changes: Any) -> User:
        """The account after the `UserUpdate` fields the dialect translated (their refusals are
        the request's 422)."""
        data = parse(UserUpdate, changes)
        return await identity.update_me(
            self.session, settings=self.settings, user=self.user, data=data
        )


OwnProfileDep = Annotated[OwnProfile, Depends()]


async def admin_change(session: Any, *, admin: User, user_id: Any, **changes: Any) -> User:
    """An account changed by an administrator as PATCH /admin/users/{id} changes it, from the
    `AdminUserUpdate` fields the dialect translated (their refusals are the request's 422)."""
    data = parse(AdminUserUpdate, changes)
    return await identity.admin_update_user(session, actor=admin, user_id=user_id, data=data)


async def wallet_view(request: Request, session: Any, *, user_id: Any, settings: Any) -> Any:
    """A user's wallet; a first visit creates it in its own write unit of work (a GET's session
    is read-only)."""
    view = await billing.find_wallet(session, user_id=user_id, settings=settings.billing)
    if view is not None:
        return view
    async with request.app.state.db.session() as write_session:
        return await billing.get_wallet(write_session, user_id=user_id, settings=settings.billing)


async def _tutor_turn(
    request: Request,
    user: User,
    *,
    chat_id: Any,
    course_id: Any,
    content: str,
    new_chat_id: Any = None,
) -> orchestration.Turn:
    """A question prepared as the canonical POST /chat prepares it: the tutor's rate limit,
    wallet hold, quiz-answer guard and grounding (nothing of it decided here)."""
    await orchestration.rate_limit(request.app.state.limiter, request.app.state.settings, user)
    return await orchestration.prepare(
        request.app.state.db,
        request.app.state.settings,
        user=user,
        chat_id=chat_id,
        course_id=course_id,
        content=content,
        new_chat_id=new_chat_id,
    )


async def tutor_reply(request: Request, user: User, **question: Any) -> MessageOut:
    """The tutor's stored answer (JSON), as the canonical POST /chat gives it; `question`:
    `chat_id`, `course_id`, `content` and, for a client naming its sessions, `new_chat_id`."""
    turn = await _tutor_turn(request, user, **question)
    result = await answer_json(request.app.state.db, provider_for(request.app), turn)
    if isinstance(result, orchestration.Replay):
        return MessageOut.model_validate(result.body)
    return result


async def tutor_events(request: Request, user: User, **question: Any) -> Response:
    """The tutor's answer as the canonical stream (SSE `delta`, `sources`, `usage`, `done`)."""
    turn = await _tutor_turn(request, user, **question)
    return await event_response(request.app.state.db, provider_for(request.app), turn)
