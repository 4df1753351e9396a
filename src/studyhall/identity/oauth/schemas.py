"""Request and response shapes of external sign-in."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from studyhall.core.schemas import InputSchema, Schema, UTCTimestamp

# `\S` differs between the schema's regex dialect (ECMA-262: U+FEFF is a space, U+0085 is not)
# and the server's (Unicode White_Space: the reverse), so both are named: schema and server then
# refuse the same addresses.
RedirectUri = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=2000, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x85\ufeff]+$"
    ),
    Field(description="Where the provider sends the person back (registered at the provider)"),
]
ProviderPassword = Annotated[
    str | None,
    Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="The existing account's password, sent once to link this identity to it "
        "when the provider's email already belongs to an account",
        json_schema_extra={"format": "password"},
    ),
]


class ProviderOut(Schema):
    """What a login page shows for one provider."""

    name: str = Field(description="Used in the /auth/oauth/{provider}/... paths")
    kind: Literal["google", "github", "oidc"]
    display_name: str


class ProvidersOut(Schema):
    items: list[ProviderOut]


class AuthorizeOut(Schema):
    """Send the person to `authorization_url`; the provider comes back to `redirect_uri` with
    `code` and `state`, which go to POST /auth/oauth/{provider}/callback."""

    authorization_url: str
    state: str
    expires_at: UTCTimestamp


class CallbackIn(InputSchema):
    code: Annotated[str, Field(min_length=1, max_length=2048)]
    state: Annotated[str, Field(min_length=1, max_length=512)]
    redirect_uri: RedirectUri
    password: ProviderPassword = None


class IdTokenIn(InputSchema):
    id_token: Annotated[str, Field(min_length=1, max_length=16384)]
    nonce: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=512,
            description="When the client asked the provider for a nonce, the token must carry it",
        ),
    ] = None
    password: ProviderPassword = None


class IdentityOut(Schema):
    """An external identity linked to an account."""

    id: uuid.UUID
    provider: str
    issuer: str
    email: str | None
    created_at: UTCTimestamp
    last_login_at: UTCTimestamp | None


class SSODomainIn(InputSchema):
    domain: Annotated[
        str,
        StringConstraints(
            min_length=3,
            max_length=255,
            pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z0-9-]{1,63}$",
            to_lower=True,
        ),
        Field(description="An email domain, e.g. school.example"),
    ]
    provider: Annotated[
        str | None,
        Field(default=None, min_length=1, max_length=64, description="The provider to use"),
    ] = None


class SSODomainOut(Schema):
    id: uuid.UUID
    domain: str
    provider: str | None
    created_at: UTCTimestamp
