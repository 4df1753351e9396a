"""Errors of the identity domain."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError

from studyhall.core.errors import AppError, Conflict, Forbidden, Unauthorized


class InvalidCredentials(Unauthorized):
    """Unknown account and wrong password answer alike."""

    def __init__(self) -> None:
        super().__init__("Incorrect email or password", code="invalid_credentials")


class AccountDisabled(Forbidden):
    code = "account_disabled"

    def __init__(self) -> None:
        super().__init__("Account is disabled")


class InvalidRefreshToken(Unauthorized):
    def __init__(self, message: str = "Invalid or expired refresh token") -> None:
        super().__init__(message, code="invalid_refresh_token")


class InvalidEmailToken(AppError):
    status_code = 400
    code = "invalid_token"

    def __init__(self) -> None:
        super().__init__("This link is invalid, expired or already used")


class IncorrectPassword(AppError):
    status_code = 400
    code = "incorrect_password"

    def __init__(self) -> None:
        super().__init__("The current password is incorrect")


class RoleNotAllowed(Forbidden):
    code = "role_not_allowed"

    def __init__(self) -> None:
        super().__init__("Only students can self-register")


class FieldNotWritable(Forbidden):
    code = "field_not_writable"

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"These fields cannot be changed here: {', '.join(sorted(fields))}")
        self.fields = fields


class EmailTaken(Conflict):
    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("An account with this email already exists")


class UsernameTaken(Conflict):
    code = "username_taken"

    def __init__(self) -> None:
        super().__init__("This username is taken")


class AlreadyVerified(Conflict):
    code = "already_verified"

    def __init__(self) -> None:
        super().__init__("The email address is already verified")


class SelfModification(Conflict):
    code = "self_modification"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class FieldInvalid(RequestValidationError):
    """A rule the schema cannot check (it needs settings or the database), as a standard 422."""

    error_type = "value_error"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(
            [{"type": self.error_type, "loc": ("body", field), "msg": message, "input": None}]
        )
        self.message = message


class WeakPassword(FieldInvalid):
    """A refused password, pointing at the password field."""

    error_type = "weak_password"

    def __init__(self, message: str, *, field: str = "password") -> None:
        super().__init__(message, field=field)
