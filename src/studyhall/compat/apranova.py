"""ApraNova (bootcamp LMS) dialect: document 004, served under /compat/apranova.

Its paths keep their `/api` prefix and their trailing slashes. Errors are
`{"error", "message"}` (and `details` where the document shows it); a request that does not
match its schema is a 400 of `{"field": ["message"]}`, Django REST framework's shape.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request, Response, status
from pydantic import BaseModel, Field, ValidationError

from studyhall.billing import payments
from studyhall.compat.base import (
    DialectError,
    DialectIn,
    SignInDep,
    admin_change,
    error_docs,
    field_path,
    iso,
    new_dialect_app,
)
from studyhall.core.db import SessionDep
from studyhall.core.errors import AppError
from studyhall.identity import service as identity
from studyhall.identity.dependencies import (
    AdminUser,
    CallerInOwnSession,
    CurrentUser,
    DatabaseDep,
    LimiterDep,
    SettingsDep,
)
from studyhall.identity.errors import EmailTaken, WeakPassword
from studyhall.identity.models import Role, User
from studyhall.identity.schemas import RegisterIn, UserOut
from studyhall.workspaces import service as workspaces
from studyhall.workspaces.dependencies import BackendDep, limit_creation
from studyhall.workspaces.errors import BackendUnavailable

DESCRIPTION = """
The ApraNova API (document 004) served by StudyHall: give its front-end the base URL
`<studyhall>/compat/apranova/api`.

Where the document is unsafe, StudyHall's rules apply and answer in the document's error shape:

* **Registration** creates students only: a `role` other than `student` is refused with 403.
* **Login** never chooses a role: a `role` that is not the account's is refused with 403
  `Unauthorized role access` (no session is opened).
* **update-role** is for administrators only and names the account to change (`user_id` or
  `email`); nobody changes their own role (403).
* Ids are StudyHall's UUIDs (strings), not integers.
* `trainer` is StudyHall's `teacher`.
* **workspace/create/** starts the caller's own workspace on StudyHall's workspace backend:
  `url` is StudyHall's authenticating proxy (`/workspaces/<id>/`, the caller's session
  required) and `port` is that URL's port; the workspace's own port is never exposed. Without
  a container engine it is the document's 503 (with `Retry-After` when the engine is down).
* **Google/GitHub login** answer 503 with the document's body until StudyHall serves them.
* **create-payment** needs a signed-in user (the payment credits their wallet) and an
  amount equal to one of StudyHall's token packages (400 otherwise).
"""


class ApraError(BaseModel):
    error: str
    message: str | None = None
    details: str | None = None


class _Style:
    """The document's `{"error", "message"}` body; validation as DRF's per-field lists."""

    _TITLES = {
        400: "Bad request",
        401: "Authentication failed",
        403: "Permission denied",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        413: "Request too large",
        422: "Invalid request",
        429: "Too many requests",
        500: "Internal server error",
        503: "Service unavailable",
    }

    def error(self, status: int, message: str, code: str) -> dict[str, Any]:
        # The document's standard format: `details` carries StudyHall's error code.
        title = self._TITLES.get(status, "Error")
        return {"error": title, "message": message, "details": code or title.lower()}

    def validation(self, errors: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        fields: dict[str, list[str]] = {}
        for item in errors:
            loc = field_path(item)
            name = loc[0] if loc else "non_field_errors"
            message = str(item.get("msg", "Invalid value"))
            if item.get("type") == "missing":
                message = "This field is required."
            fields.setdefault(name, []).append(message)
        return 400, fields


errors = error_docs(ApraError)
_ROLE_IN = {"student": Role.student, "trainer": Role.teacher, "admin": Role.admin}
_ROLE_OUT = {Role.student: "student", Role.teacher: "trainer", Role.admin: "admin"}


def _role_name(role: Role) -> str:
    return _ROLE_OUT[role]


def _user(user: User | UserOut, *, track: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(user.id),
        "email": user.email,
        "name": user.full_name,
        "role": _role_name(user.role),
    }
    if track:
        body["track"] = user.track
    return body


def _field_error(field: str, message: str) -> DialectError:
    return DialectError(400, {field: [message]})


# Bodies


class RegistrationIn(DialectIn):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password1: Annotated[str, Field(min_length=1, max_length=1024)]
    password2: Annotated[str, Field(min_length=1, max_length=1024)]
    role: str | None = "student"
    track: Annotated[str, Field(max_length=32)] | None = None


class LoginBody(DialectIn):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    role: str | None = None


class RefreshBody(DialectIn):
    refresh: Annotated[str, Field(min_length=1, max_length=512)]


class EmailBody(DialectIn):
    email: Annotated[str, Field(min_length=1, max_length=320)]


class RoleBody(DialectIn):
    role: str
    user_id: uuid.UUID | None = Field(
        default=None, description="StudyHall: the account to change (or give `email`)"
    )
    email: str | None = None


class PaymentBody(DialectIn):
    amount: float = Field(gt=0, description="In the currency's major unit, e.g. 999.00")
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "usd"


class OAuthBody(DialectIn):
    code: Annotated[str, Field(min_length=1, max_length=2048)]
    redirect_uri: Annotated[str, Field(max_length=2048)] | None = None


# Routes

router = APIRouter(prefix="/api")


def _tokens(pair: Any) -> dict[str, str]:
    return {"access": pair.access_token, "refresh": pair.refresh_token}


@router.post(
    "/auth/registration/",
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 403, 429),
    summary="Register (students only)",
)
async def register(body: RegistrationIn, sign_in: SignInDep) -> dict[str, Any]:
    if body.password1 != body.password2:
        raise _field_error("non_field_errors", "The two password fields didn't match.")
    if body.role is not None and body.role.strip().lower() != "student":
        raise DialectError(
            403,
            {
                "error": "Unauthorized role access",
                "message": "Only students can register; staff accounts are created by an admin.",
            },
        )
    try:
        data = RegisterIn.model_validate(
            {
                "email": body.email,
                "password": body.password1,
                "full_name": body.name,
                "track": body.track,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        sent = str(first["loc"][0]) if first["loc"] else "non_field_errors"
        field = {"password": "password1", "full_name": "name"}.get(sent, sent)
        raise _field_error(field, str(first["msg"])) from None
    try:
        # Its own unit of work: the login below must see the account.
        async with sign_in.db.session() as session:
            await identity.register(
                session, settings=sign_in.settings, limiter=sign_in.limiter, data=data
            )
    except EmailTaken:
        raise _field_error(
            "email", "A user is already registered with this e-mail address."
        ) from None
    except WeakPassword as exc:
        raise _field_error("password1", exc.message) from None
    pair = await sign_in(data.email, body.password1)
    return {**_tokens(pair), "user": _user(pair.user, track=True)}


@router.post("/users/login/", responses=errors(400, 401, 403, 429), summary="Log in")
async def login(body: LoginBody, sign_in: SignInDep) -> dict[str, Any]:
    try:
        pair = await sign_in(body.email, body.password)
    except AppError as exc:
        if exc.status_code == 401:
            raise DialectError(
                401, {"error": "Invalid credentials", "message": "Email or password is incorrect"}
            ) from None
        raise
    actual = _role_name(pair.user.role)
    wanted = (body.role or "").strip().lower()
    if wanted and wanted != actual:
        # The login never chooses a role: the session just opened is closed again.
        async with sign_in.db.session() as session:
            user = await identity.admin_get_user(session, user_id=pair.user.id)
            await identity.logout(session, user=user, refresh_token=pair.refresh_token)
        raise DialectError(
            403,
            {
                "error": "Unauthorized role access",
                "detail": f"You are registered as '{actual}' but tried to login as '{wanted}'",
                "actual_role": actual,
            },
        )
    return {**_tokens(pair), "user": _user(pair.user), "redirect_url": f"/{actual}/dashboard"}


@router.post("/auth/token/refresh/", responses=errors(400, 401), summary="Refresh tokens")
async def refresh(body: RefreshBody, db: DatabaseDep, settings: SettingsDep) -> dict[str, str]:
    pair = await identity.refresh(db, settings=settings, refresh_token=body.refresh)
    return _tokens(pair)


@router.post("/users/logout/", responses=errors(400, 401), summary="Log out")
async def logout(body: RefreshBody, user: CurrentUser, session: SessionDep) -> dict[str, str]:
    await identity.logout(session, user=user, refresh_token=body.refresh)
    return {"message": "Logout successful"}


@router.post("/users/check-email/", responses=errors(400, 429), summary="Is an email taken")
async def check_email(
    body: EmailBody, session: SessionDep, settings: SettingsDep, limiter: LimiterDep
) -> dict[str, bool]:
    found = await identity.check_email(
        session, settings=settings, limiter=limiter, email=body.email.strip().lower()
    )
    return {"exists": found.exists}


@router.get("/users/profile/", responses=errors(401), summary="Own profile")
async def profile(user: CurrentUser) -> dict[str, Any]:
    return {
        **_user(user, track=True),
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


@router.post(
    "/users/update-role/",
    responses=errors(400, 401, 403, 404),
    summary="Change an account's role (admins only)",
)
async def update_role(body: RoleBody, admin: AdminUser, session: SessionDep) -> dict[str, Any]:
    role = _ROLE_IN.get(body.role.strip().lower())
    if role is None:
        raise _field_error("role", f'"{body.role}" is not a valid choice.')
    if body.user_id is not None:
        target_id = body.user_id
    elif body.email:
        target_id = (await identity.admin_get_user_by_login(session, login=body.email)).id
    else:
        target_id = admin.id
    if target_id == admin.id:
        raise DialectError(
            403,
            {"error": "Permission denied", "message": "You cannot change your own role"},
        )
    user = await admin_change(session, admin=admin, user_id=target_id, role=role)
    return {
        "message": "Role updated successfully",
        "user": {"id": str(user.id), "role": _role_name(user.role)},
    }


WORKSPACE_UNAVAILABLE = {
    "error": "Workspace feature not available",
    "message": "Docker is not accessible from the backend container.",
    "details": "Please contact your administrator to enable workspace provisioning.",
}


@router.post(
    "/users/workspace/create/",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 429, 502, 503),
    summary="Create or get one's workspace",
)
async def create_workspace(
    request: Request,
    response: Response,
    user: CallerInOwnSession,
    db: DatabaseDep,
    backend: BackendDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    await limit_creation(request, user)
    try:
        started = await workspaces.start(db, backend, settings, user=user, course_id=None)
    except BackendUnavailable as exc:
        raise DialectError(
            503, {**WORKSPACE_UNAVAILABLE, "message": exc.message}, headers=exc.headers
        ) from None
    url = started.workspace.url
    if not started.created:
        response.status_code = status.HTTP_200_OK
        return {"url": url}
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"url": url, "port": port, "msg": "Workspace created successfully."}


@router.post(
    "/payments/create-payment/",
    responses=errors(400, 401, 502, 503),
    summary="Start a card payment for a token package",
)
async def create_payment(
    body: PaymentBody, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> dict[str, str]:
    package = payments.package_for_price(
        settings.billing, amount=body.amount, currency=body.currency
    )
    if package is None:
        raise _field_error("amount", "No token package has this price.")
    checkout = await payments.start_checkout(
        session, user_id=user.id, package_id=package.id, settings=settings.billing
    )
    return {"clientSecret": checkout.client_secret, "publishableKey": checkout.publishable_key}


def _oauth_unavailable(provider: str) -> DialectError:
    return DialectError(
        503,
        {
            "error": f"{provider} login not available",
            "message": f"{provider} sign-in is not configured on this server.",
            "details": "Log in with email and password.",
        },
    )


@router.post("/auth/google/", responses=errors(400, 503), summary="Google login")
async def google_login(body: OAuthBody) -> dict[str, Any]:
    raise _oauth_unavailable("Google")


@router.post("/auth/github/", responses=errors(400, 503), summary="GitHub login")
async def github_login(body: OAuthBody) -> dict[str, Any]:
    raise _oauth_unavailable("GitHub")


def build() -> FastAPI:
    """The ApraNova sub-app."""
    app = new_dialect_app(
        name="apranova", title="ApraNova", description=DESCRIPTION, style=_Style()
    )
    app.include_router(router)
    return app
