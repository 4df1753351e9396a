"""Errors of external sign-in; each answers {detail, code} with a 4xx or a 503, never a 500."""

from __future__ import annotations

from studyhall.core.errors import (
    AppError,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)


class UnknownProvider(NotFound):
    code = "unknown_provider"

    def __init__(self) -> None:
        super().__init__("No sign-in provider of that name is configured")


class InvalidState(AppError):
    """A state that is unknown, expired, already used, or sent with another redirect_uri."""

    status_code = 400
    code = "invalid_state"

    def __init__(self, message: str = "This sign-in is invalid, expired or already used") -> None:
        super().__init__(message)


class InvalidRedirectUri(AppError):
    status_code = 400
    code = "invalid_redirect_uri"

    def __init__(self) -> None:
        super().__init__("This redirect_uri is not allowed for the provider")


class CodeRejected(AppError):
    """The provider refused the code: wrong PKCE verifier, replayed or expired code, another
    redirect_uri."""

    status_code = 400
    code = "oauth_code_rejected"

    def __init__(self, reason: str | None = None) -> None:
        detail = "The provider refused the authorization code"
        super().__init__(f"{detail} ({reason})" if reason else detail)


class InvalidIdToken(Unauthorized):
    def __init__(self, message: str = "The ID token is invalid or expired") -> None:
        super().__init__(message, code="invalid_id_token")


class IdTokenReplayed(Unauthorized):
    def __init__(self) -> None:
        super().__init__("This ID token has already been used", code="id_token_replayed")


class EmailNotVerified(Unauthorized):
    def __init__(self) -> None:
        super().__init__(
            "The provider does not vouch for a verified email address", code="email_not_verified"
        )


class EmailDomainNotAllowed(Forbidden):
    code = "email_domain_not_allowed"

    def __init__(self) -> None:
        super().__init__("Accounts of this email domain cannot sign in with this provider")


class ProviderUnavailable(ServiceUnavailable):
    code = "oauth_provider_unavailable"

    def __init__(
        self, message: str = "The sign-in provider is unavailable; try again later"
    ) -> None:
        super().__init__(message)


class LinkRequired(Conflict):
    """The provider's address belongs to an account that has not proven it wants the link."""

    code = "link_required"

    def __init__(self) -> None:
        super().__init__(
            "An account already uses this email address: sign in to it and link this identity, "
            "or send its password once to link them"
        )


class IdentityInUse(Conflict):
    code = "identity_in_use"

    def __init__(self) -> None:
        super().__init__("This identity is already linked to another account")


class LastSignInMethod(Conflict):
    code = "last_sign_in_method"

    def __init__(self) -> None:
        super().__init__("This is the account's last way to sign in; add another one first")


class SSORequired(Forbidden):
    code = "sso_required"

    def __init__(self) -> None:
        super().__init__(
            "Accounts of this email domain sign in through their organisation's provider"
        )


class SSODomainTaken(Conflict):
    code = "sso_domain_exists"

    def __init__(self) -> None:
        super().__init__("Single sign-on is already required for this domain")
