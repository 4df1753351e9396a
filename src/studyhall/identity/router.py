"""HTTP routes of identity: /auth, /users and the admin screens for users, audit logs and keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from studyhall.audit import service as audit
from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute, errors
from studyhall.core.pagination import PageParams, listed, page_of
from studyhall.core.schemas import (
    IsoDatetime,
    Page,
    StorableText,
)
from studyhall.courses import service as courses_service
from studyhall.identity import service
from studyhall.identity.dependencies import (
    AdminUser,
    CurrentUser,
    DatabaseDep,
    LimiterDep,
    SettingsDep,
    TeacherOrAdmin,
)

# The web pages take the limiter from here.
from studyhall.identity.dependencies import get_limiter as get_limiter
from studyhall.identity.models import Role
from studyhall.identity.schemas import (
    Accepted,
    AdminPasswordReset,
    AdminUserCreate,
    AdminUserOut,
    AdminUserUpdate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditLogOut,
    ClientAuditIn,
    EmailExists,
    EmailIn,
    LoginIn,
    PasswordChangeIn,
    PasswordResetIn,
    PromptIn,
    PromptOut,
    PromptUpdate,
    PublicUserOut,
    RefreshIn,
    RegisterIn,
    TokenIn,
    TokenPair,
    UserOut,
    UserUpdate,
    VerifiedOut,
)

auth_router = APIRouter(prefix="/auth", tags=["auth"], route_class=DocumentedRoute)
users_router = APIRouter(prefix="/users", tags=["users"], route_class=DocumentedRoute)
admin_router = APIRouter(prefix="/admin", tags=["admin"], route_class=DocumentedRoute)


class PasswordForm(OAuth2PasswordRequestForm):
    """The OAuth2 password form (what Swagger's Authorize sends); its fields must be text a
    database can hold, like every JSON body's (422 otherwise)."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form(max_length=320), StorableText],
        password: Annotated[
            str,
            Form(max_length=1024, json_schema_extra={"format": "password"}),
            StorableText,
        ],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


def _utc(value: datetime | None) -> datetime | None:
    """Query timestamps without a zone are read as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# /auth


@auth_router.post(
    "/register", status_code=status.HTTP_201_CREATED, responses=errors(403, 409, 429, phrases=True)
)
async def register(
    body: RegisterIn, session: SessionDep, settings: SettingsDep, limiter: LimiterDep
) -> UserOut:
    """Create a student account and send a verification email; other roles are 403."""
    user = await service.register(session, settings=settings, limiter=limiter, data=body)
    return UserOut.model_validate(user)


@auth_router.post("/token", responses=errors(401, 403, 429, phrases=True))
async def token(
    form: Annotated[PasswordForm, Depends()],
    db: DatabaseDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> TokenPair:
    """OAuth2 password flow (`username` = email or username); what Swagger's Authorize uses."""
    return await service.login(
        db, settings=settings, limiter=limiter, login=form.username, password=form.password
    )


@auth_router.post("/login", responses=errors(401, 403, 429, phrases=True))
async def login(
    body: LoginIn, db: DatabaseDep, settings: SettingsDep, limiter: LimiterDep
) -> TokenPair:
    """Log in with email (or username) and password; returns a token pair."""
    return await service.login(
        db, settings=settings, limiter=limiter, login=body.email, password=body.password
    )


@auth_router.post("/refresh", responses=errors(401, phrases=True))
async def refresh(body: RefreshIn, db: DatabaseDep, settings: SettingsDep) -> TokenPair:
    """Trade a refresh token for a new pair; a reused refresh token revokes its session (401)."""
    return await service.refresh(db, settings=settings, refresh_token=body.refresh_token)


@auth_router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, phrases=True),
)
async def logout(body: RefreshIn, session: SessionDep, user: CurrentUser) -> Response:
    """End the session the refresh token belongs to."""
    await service.logout(session, user=user, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post("/verify-email", responses=errors(400, phrases=True))
async def verify_email(body: TokenIn, session: SessionDep) -> VerifiedOut:
    """Confirm an email address with the token from the verification mail."""
    return await service.verify_email(session, token=body.token)


@auth_router.post(
    "/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(401, 409, 429, phrases=True),
)
async def resend_verification(
    session: SessionDep, settings: SettingsDep, limiter: LimiterDep, user: CurrentUser
) -> Accepted:
    """Send a new verification mail to the caller's address."""
    await service.resend_verification(session, settings=settings, limiter=limiter, user=user)
    return Accepted(detail="A verification email is on its way")


@auth_router.post(
    "/password/forgot", status_code=status.HTTP_202_ACCEPTED, responses=errors(429, phrases=True)
)
async def forgot_password(
    body: EmailIn, session: SessionDep, settings: SettingsDep, limiter: LimiterDep
) -> Accepted:
    """Mail a reset link if the account exists; the answer is the same either way."""
    await service.forgot_password(session, settings=settings, limiter=limiter, email=body.email)
    return Accepted(detail="If an account uses this address, a reset link has been sent")


@auth_router.post(
    "/password/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(400, phrases=True),
)
async def reset_password(
    body: PasswordResetIn, session: SessionDep, settings: SettingsDep
) -> Response:
    """Set a new password with the mailed token; every session of the account ends."""
    await service.reset_password(
        session, settings=settings, token=body.token, new_password=body.new_password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post(
    "/password/change",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(400, 401, 429, phrases=True),
)
async def change_password(
    body: PasswordChangeIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    user: CurrentUser,
) -> Response:
    """Change the password. Every other session ends; the session whose `refresh_token` is sent
    is kept. Access tokens issued before the change stop working: get a new one via /auth/refresh
    (or log in again when no refresh token was sent)."""
    await service.change_password(session, settings=settings, limiter=limiter, user=user, data=body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post("/check-email", responses=errors(429, phrases=True))
async def check_email(
    body: EmailIn, session: SessionDep, settings: SettingsDep, limiter: LimiterDep
) -> EmailExists:
    """Whether an account uses this email address (rate-limited per address like login)."""
    return await service.check_email(session, settings=settings, limiter=limiter, email=body.email)


# /users


@users_router.get("/me", responses=errors(401, phrases=True))
async def get_me(user: CurrentUser) -> UserOut:
    """The caller's profile."""
    return UserOut.model_validate(user)


@users_router.patch("/me", responses=errors(401, 403, 409, phrases=True))
async def update_me(
    body: UserUpdate, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> UserOut:
    """Change name, email, username or preferences. A new email must be verified again;
    `role`, `is_active`, `hint_level` and balances are not writable here (403)."""
    updated = await service.update_me(session, settings=settings, user=user, data=body)
    return UserOut.model_validate(updated)


@users_router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, phrases=True),
)
async def delete_me(session: SessionDep, user: CurrentUser) -> Response:
    """Delete the caller's account and personal data."""
    await service.delete_me(session, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.post(
    "/me/audit-logs", status_code=status.HTTP_201_CREATED, responses=errors(401, 429, phrases=True)
)
async def write_audit_log(
    body: ClientAuditIn,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> AuditLogOut:
    """Record an action of the caller in the audit log, as a client saw it; stored as
    `client.<action>` so it never passes for an entry StudyHall wrote. Rate-limited per user."""
    row = await service.record_client_event(
        session, settings=settings, limiter=limiter, user=user, data=body
    )
    return AuditLogOut.model_validate(row)


@users_router.get("/me/audit-logs", responses=errors(401, phrases=True))
async def own_audit_logs(
    session: SessionDep, user: CurrentUser, page: PageParams
) -> Page[AuditLogOut]:
    """The audit entries of the caller's own actions (written by StudyHall or the client)."""
    return await listed(
        page, AuditLogOut.model_validate, service.own_audit_logs, session, user=user
    )


@users_router.get("/me/audit-logs/{log_id}", responses=errors(401, 404, phrases=True))
async def own_audit_log(log_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> AuditLogOut:
    """One entry of the caller's own actions (404 for any other)."""
    return AuditLogOut.model_validate(
        await service.own_audit_log(session, user=user, log_id=log_id)
    )


@users_router.get("/me/prompts", responses=errors(401, phrases=True))
async def list_prompts(session: SessionDep, user: CurrentUser, page: PageParams) -> Page[PromptOut]:
    """The caller's saved prompts, newest first."""
    return await listed(page, PromptOut.model_validate, service.list_prompts, session, user=user)


@users_router.post(
    "/me/prompts", status_code=status.HTTP_201_CREATED, responses=errors(401, phrases=True)
)
async def create_prompt(body: PromptIn, session: SessionDep, user: CurrentUser) -> PromptOut:
    """Save a prompt."""
    return PromptOut.model_validate(await service.create_prompt(session, user=user, data=body))


@users_router.get("/me/prompts/{prompt_id}", responses=errors(401, 404, phrases=True))
async def get_prompt(prompt_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> PromptOut:
    """One of the caller's saved prompts."""
    return PromptOut.model_validate(
        await service.get_prompt(session, user=user, prompt_id=prompt_id)
    )


@users_router.patch("/me/prompts/{prompt_id}", responses=errors(401, 404, phrases=True))
async def update_prompt(
    prompt_id: uuid.UUID, body: PromptUpdate, session: SessionDep, user: CurrentUser
) -> PromptOut:
    """Edit a saved prompt."""
    prompt = await service.update_prompt(session, user=user, prompt_id=prompt_id, data=body)
    return PromptOut.model_validate(prompt)


@users_router.delete(
    "/me/prompts/{prompt_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 404, phrases=True),
)
async def delete_prompt(prompt_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    """Delete a saved prompt."""
    await service.delete_prompt(session, user=user, prompt_id=prompt_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get("/{user_id}", responses=errors(401, 403, 404, phrases=True))
async def get_user(
    user_id: uuid.UUID, session: SessionDep, viewer: TeacherOrAdmin
) -> PublicUserOut:
    """A user's public profile and enrolled course ids: for admins, and for a teacher of a course
    the user is enrolled in (404 otherwise)."""
    profile = await courses_service.public_profile(session, viewer=viewer, user_id=user_id)
    out = PublicUserOut.model_validate(profile.user)
    out.enrolled_course_ids = profile.enrolled_course_ids
    return out


# /admin/users


@admin_router.get("/users", responses=errors(401, 403, phrases=True))
async def admin_list_users(
    session: SessionDep,
    _admin: AdminUser,
    page: PageParams,
    role: Annotated[Role | None, Query()] = None,
    search: Annotated[
        str | None, Query(max_length=200, description="In email, name, username")
    ] = None,
    is_active: Annotated[bool | None, Query()] = None,
) -> Page[AdminUserOut]:
    """Accounts (service accounts excluded), oldest first."""
    return await listed(
        page,
        AdminUserOut.model_validate,
        service.admin_list_users,
        session,
        role=role,
        search=search,
        is_active=is_active,
    )


@admin_router.post(
    "/users", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 409, phrases=True)
)
async def admin_create_user(
    body: AdminUserCreate, session: SessionDep, settings: SettingsDep, admin: AdminUser
) -> AdminUserOut:
    """Create an account of any role."""
    user = await service.admin_create_user(session, settings=settings, actor=admin, data=body)
    return AdminUserOut.model_validate(user)


@admin_router.get("/users/{user_id}", responses=errors(401, 403, 404, phrases=True))
async def admin_get_user(
    user_id: uuid.UUID, session: SessionDep, _admin: AdminUser
) -> AdminUserOut:
    """Full profile, including `is_active` and `last_login_at`."""
    return AdminUserOut.model_validate(await service.admin_get_user(session, user_id=user_id))


@admin_router.patch("/users/{user_id}", responses=errors(401, 403, 404, 409, phrases=True))
async def admin_update_user(
    user_id: uuid.UUID, body: AdminUserUpdate, session: SessionDep, admin: AdminUser
) -> AdminUserOut:
    """Change role, block/unblock (`is_active`), `hint_level` (1-5) or name; all audited."""
    user = await service.admin_update_user(session, actor=admin, user_id=user_id, data=body)
    return AdminUserOut.model_validate(user)


@admin_router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, 409, phrases=True),
)
async def admin_delete_user(user_id: uuid.UUID, session: SessionDep, admin: AdminUser) -> Response:
    """Delete an account."""
    await service.admin_delete_user(session, actor=admin, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.post(
    "/users/{user_id}/reset-password",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, phrases=True),
)
async def admin_reset_password(
    user_id: uuid.UUID,
    body: AdminPasswordReset,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminUser,
) -> Response:
    """Set a user's password; the user's sessions end."""
    await service.admin_reset_password(
        session, settings=settings, actor=admin, user_id=user_id, new_password=body.new_password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# /admin/audit-logs


@admin_router.get("/audit-logs/{log_id}", responses=errors(401, 403, 404, phrases=True))
async def admin_audit_log(log_id: uuid.UUID, session: SessionDep, _admin: AdminUser) -> AuditLogOut:
    """One audit entry."""
    return AuditLogOut.model_validate(await service.admin_get_audit_log(session, log_id=log_id))


@admin_router.get("/audit-logs", responses=errors(401, 403, phrases=True))
async def admin_audit_logs(
    session: SessionDep,
    _admin: AdminUser,
    page: PageParams,
    actor_id: Annotated[uuid.UUID | None, Query()] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[IsoDatetime | None, Query(description="Inclusive; UTC when no zone")] = None,
    until: Annotated[IsoDatetime | None, Query(description="Exclusive; UTC when no zone")] = None,
) -> Page[AuditLogOut]:
    """The audit log, newest first."""
    rows, total = await audit.list_logs(
        session,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        since=_utc(since),
        until=_utc(until),
        limit=page.limit,
        offset=page.offset,
    )
    return page_of(rows, total, page, AuditLogOut.model_validate)


# /admin/api-keys


@admin_router.get("/api-keys", responses=errors(401, 403, phrases=True))
async def admin_list_api_keys(
    session: SessionDep, _admin: AdminUser, page: PageParams
) -> Page[ApiKeyOut]:
    """Active service keys, newest first; secrets are never shown again."""
    return await listed(page, ApiKeyOut.model_validate, service.list_api_keys, session)


@admin_router.post(
    "/api-keys", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, phrases=True)
)
async def admin_create_api_key(
    body: ApiKeyCreate, session: SessionDep, admin: AdminUser
) -> ApiKeyCreated:
    """Issue a key `{name, scopes, acts_as_role, expires_at?}`; the secret (`key`) is in this
    response only. Clients send it as `X-API-Key` (admin-scoped keys also as `X-Admin-Key`)."""
    api_key, secret = await service.create_api_key(session, actor=admin, data=body)
    return ApiKeyCreated.model_validate(
        {**ApiKeyOut.model_validate(api_key).model_dump(), "key": secret}
    )


@admin_router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, phrases=True),
)
async def admin_revoke_api_key(
    key_id: uuid.UUID, session: SessionDep, admin: AdminUser
) -> Response:
    """Revoke a key; it stops working at once."""
    await service.revoke_api_key(session, actor=admin, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
