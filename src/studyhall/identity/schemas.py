"""Request and response shapes of identity."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from studyhall.core.schemas import NOT_BLANK, InputSchema, Schema, Trimmed, UTCTimestamp
from studyhall.identity.errors import FieldNotWritable, RoleNotAllowed
from studyhall.identity.models import Role

# Fields a client may never set on its own account (mass assignment): 403, not a silent drop.
PROTECTED_FIELDS = frozenset(
    {
        "role",
        "is_active",
        "is_verified",
        "is_service",
        "hint_level",
        "auth_version",
        "password_hash",
        "id",
        "created_at",
        "updated_at",
        "last_login_at",
        "last_active_at",
        "balance",
        "reserved",
        "available",
        "tier",
        "daily_limit",
        "used_today",
    }
)


def _lower(value: str) -> str:
    return value.strip().lower()


Email = Annotated[EmailStr, AfterValidator(_lower)]


def _lower_username(value: str) -> str:
    return value.lower()


# Stored lower-case, so "Alice" and "alice" cannot be two accounts. Checked as sent (the schema
# shows the pattern), then lowered.
Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
    AfterValidator(_lower_username),
    Field(description="3-64 of a-z 0-9 _ . - (stored lower-case)"),
]
FullName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK), Trimmed
]
NamePart = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK), Trimmed
]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK), Trimmed
]
Track = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
    Field(description="A bootcamp programme, e.g. `DP`"),
]
# Length and guessability are checked by the service against the settings.
Password = Annotated[str, Field(min_length=1, max_length=1024)]


def _refuse_protected(data: Any, allowed: frozenset[str] = frozenset()) -> Any:
    if isinstance(data, dict):
        refused = [key for key in data if key in PROTECTED_FIELDS and key not in allowed]
        if refused:
            raise FieldNotWritable(refused)
    return data


# Users


class Preferences(Schema):
    theme: Literal["light", "dark", "system"] = "system"
    notifications: bool = True
    language: str = "en"

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        # Stored preferences may predate a key or carry junk: fall back to defaults.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k in ("theme", "notifications", "language")}
        return data


class PreferencesUpdate(InputSchema):
    theme: Literal["light", "dark", "system"] | None = None
    notifications: bool | None = None
    language: (
        Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)] | None
    ) = None


class UserOut(Schema):
    """The caller's own profile."""

    id: uuid.UUID
    email: str
    username: str | None
    full_name: str
    given_name: str | None = None
    family_name: str | None = None
    role: Role
    is_verified: bool
    hint_level: int
    track: str | None = None
    preferences: Preferences
    created_at: UTCTimestamp


class AdminUserOut(UserOut):
    """Everything an administrator sees about an account."""

    is_active: bool
    last_login_at: UTCTimestamp | None
    last_active_at: UTCTimestamp | None
    updated_at: UTCTimestamp


class PublicUserOut(Schema):
    """What a teacher may see about a student of their course."""

    id: uuid.UUID
    username: str | None
    full_name: str
    role: Role
    enrolled_course_ids: list[uuid.UUID] = Field(default_factory=list)


class UserUpdate(InputSchema):
    """PATCH /users/me: only these fields; role, is_active and balances answer 403."""

    full_name: FullName | None = None
    given_name: NamePart | None = Field(
        default=None, description="With family_name, sets full_name to both (unless given)"
    )
    family_name: NamePart | None = None
    email: Email | None = None
    username: Username | None = None
    preferences: PreferencesUpdate | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_protected(cls, data: Any) -> Any:
        return _refuse_protected(data)


# Auth


class RegisterIn(InputSchema):
    email: Email
    password: Password
    full_name: FullName
    given_name: NamePart | None = None
    family_name: NamePart | None = None
    username: Username | None = None
    track: Track | None = None
    role: str | None = Field(
        default=None, description="Optional; only `student` is accepted (anything else is 403)"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_protected(cls, data: Any) -> Any:
        data = _refuse_protected(data, allowed=frozenset({"role"}))
        role = data.get("role") if isinstance(data, dict) else None
        if role is not None and str(role).strip().lower() != Role.student:
            raise RoleNotAllowed()
        return data


class LoginIn(InputSchema):
    email: Annotated[str, Field(min_length=1, max_length=320, description="Email or username")]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenPair(Schema):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Lifetime of the access token in seconds")
    user: UserOut


class RefreshIn(InputSchema):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class TokenIn(InputSchema):
    token: Annotated[str, Field(min_length=1, max_length=512)]


class VerifiedOut(Schema):
    status: Literal["verified"] = "verified"
    email: str


class EmailIn(InputSchema):
    email: Annotated[str, Field(min_length=3, max_length=320)]

    @field_validator("email")
    @classmethod
    def _normalize(cls, value: str) -> str:
        return value.strip().lower()


class EmailExists(Schema):
    exists: bool


class PasswordResetIn(InputSchema):
    token: Annotated[str, Field(min_length=1, max_length=512)]
    new_password: Password


class PasswordChangeIn(InputSchema):
    current_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: Password
    refresh_token: str | None = Field(
        default=None,
        max_length=512,
        description="The refresh token of the session to keep; every other session is revoked "
        "(all of them when omitted)",
    )


class Accepted(Schema):
    detail: str


# Saved prompts


class PromptIn(InputSchema):
    title: ShortText
    prompt_text: Annotated[str, Field(min_length=1, max_length=20_000)]


class PromptUpdate(InputSchema):
    title: ShortText | None = None
    prompt_text: Annotated[str, Field(min_length=1, max_length=20_000)] | None = None


class PromptOut(Schema):
    id: uuid.UUID
    title: str
    prompt_text: str
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


# Admin


class AdminUserCreate(InputSchema):
    email: Email
    password: Password
    full_name: FullName
    username: Username | None = None
    role: Role = Role.student
    is_verified: bool = Field(default=False, description="When false, a verification email is sent")
    hint_level: Annotated[int, Field(ge=1, le=5)] = 3


class AdminUserUpdate(InputSchema):
    role: Role | None = None
    is_active: bool | None = None
    hint_level: Annotated[int, Field(ge=1, le=5)] | None = None
    full_name: FullName | None = None
    track: Track | None = None


class AdminPasswordReset(InputSchema):
    new_password: Password


CLIENT_AUDIT_PREFIX = "client."


class ClientAuditIn(InputSchema):
    """An entry a client writes about its own user's actions; stored as `client.<action>`, so it
    can never pass for an entry StudyHall wrote."""

    action: Annotated[
        str, Field(min_length=1, max_length=64 - len(CLIENT_AUDIT_PREFIX), pattern=r"^[\w.:-]+$")
    ]
    details: dict[str, Any] | None = Field(
        default=None, description="Any JSON object, at most 10,000 characters once serialized"
    )

    @field_validator("details")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > 10_000:
            raise ValueError("details must be at most 10,000 characters once serialized")
        return value


class AuditLogOut(Schema):
    id: uuid.UUID
    actor_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]
    created_at: UTCTimestamp


ApiScope = Literal["read", "write", "admin"]


class ApiKeyCreate(InputSchema):
    name: ShortText
    scopes: Annotated[list[ApiScope], Field(min_length=1, max_length=3)]
    acts_as_role: Role
    expires_at: datetime | None = None

    @field_validator("scopes")
    @classmethod
    def _unique(cls, value: list[ApiScope]) -> list[ApiScope]:
        return sorted(set(value))  # type: ignore[return-value]

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _admin_scope(self) -> ApiKeyCreate:
        # The admin scope and the admin role go together: one without the other means nothing.
        if (self.acts_as_role == Role.admin) != ("admin" in self.scopes):
            raise ValueError("acts_as_role 'admin' requires the 'admin' scope, and vice versa")
        return self


class ApiKeyOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    acts_as_role: Role
    service_user_id: uuid.UUID
    created_by: uuid.UUID | None
    created_at: UTCTimestamp
    expires_at: UTCTimestamp | None
    revoked_at: UTCTimestamp | None
    last_used_at: UTCTimestamp | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret; shown only in this response")
