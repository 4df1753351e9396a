"""HTTP routes of external sign-in: /auth/oauth, /users/me/identities and the admin screens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, Security, status

from studyhall.core.db import SessionDep
from studyhall.core.openapi import DocumentedRoute, answers, errors
from studyhall.core.pagination import PageParams, listed
from studyhall.core.schemas import Page
from studyhall.identity.dependencies import (
    AdminUser,
    CurrentUser,
    DatabaseDep,
    LimiterDep,
    SettingsDep,
    get_current_user,
    oauth2_scheme,
)
from studyhall.identity.models import User
from studyhall.identity.oauth import service
from studyhall.identity.oauth.schemas import (
    AuthorizeOut,
    CallbackIn,
    IdentityOut,
    IdTokenIn,
    ProvidersOut,
    RedirectUri,
    SSODomainIn,
    SSODomainOut,
)
from studyhall.identity.schemas import TokenPair

oauth_router = APIRouter(prefix="/auth/oauth", tags=["auth"], route_class=DocumentedRoute)
identities_router = APIRouter(prefix="/users", tags=["users"], route_class=DocumentedRoute)
oauth_admin_router = APIRouter(prefix="/admin", tags=["admin"], route_class=DocumentedRoute)


@answers(401)
async def optional_user(
    request: Request,
    settings: SettingsDep,
    db: DatabaseDep,
    token: Annotated[str | None, Security(oauth2_scheme)],
) -> User | None:
    """The signed-in user when a bearer token is sent (a sign-in then links to that account);
    none otherwise. Read in its own short unit of work: sign-ins write in theirs."""
    if not token:
        return None
    async with db.session(write=False) as session:
        return await get_current_user(request, session, settings, token, None, None)


OptionalUser = Annotated[User | None, Depends(optional_user)]


async def sign_in_context(
    db: DatabaseDep, settings: SettingsDep, limiter: LimiterDep, user: OptionalUser
) -> service.SignInContext:
    """What a sign-in runs with, and the signed-in caller who asks for a link."""
    return service.SignInContext(db, settings, limiter, user)


SignInContextDep = Annotated[service.SignInContext, Depends(sign_in_context)]


# /auth/oauth


@oauth_router.get("/providers")
async def list_providers(settings: SettingsDep) -> ProvidersOut:
    """The sign-in providers a login page offers (Google, GitHub, the school's own)."""
    return ProvidersOut(items=service.list_providers(settings))


@oauth_router.get("/{provider}/authorize", responses=errors(400, 429, 503))
async def authorize(
    provider: str,
    redirect_uri: Annotated[RedirectUri, Query()],
    context: SignInContextDep,
) -> AuthorizeOut:
    """Start a sign-in: the provider URL to send the person to, with `state`, a `nonce` and a
    PKCE S256 challenge whose verifier stays on the server (single use, `AUTH__STATE_TTL_S`).
    Called with a bearer token, the identity is linked to the caller's account instead."""
    return await service.start_authorization(context, provider=provider, redirect_uri=redirect_uri)


@oauth_router.post("/{provider}/callback", responses=errors(400, 401, 403, 409, 429, 503))
async def callback(provider: str, body: CallbackIn, context: SignInContextDep) -> TokenPair:
    """Finish a sign-in with the `code` and `state` the provider sent back → a token pair.

    A returning identity signs in to its account. A new one creates a verified student without
    a password, unless its email belongs to an account: then 409 `link_required`, and the link
    needs that account's proof (start the sign-in while signed in to it, or send its `password`
    here once). Errors: 400 `invalid_state` (unknown, expired, used, other redirect_uri),
    400 `oauth_code_rejected` (wrong PKCE verifier, replayed code), 401 `invalid_id_token`,
    401 `email_not_verified`, 403 `email_domain_not_allowed`, 503 `oauth_provider_unavailable`."""
    return await service.sign_in_with_code(context, provider=provider, data=body)


@oauth_router.post("/{provider}/id-token", responses=errors(401, 403, 409, 429, 503))
async def id_token_sign_in(provider: str, body: IdTokenIn, context: SignInContextDep) -> TokenPair:
    """Sign in with an ID token the client already holds (e.g. from Google's sign-in button).

    Checked completely: signature against the provider's keys, `iss`, `aud`, `exp`, `iat`,
    `nonce` when sent, `email_verified` and the domain allow-list. Each token works once
    (401 `id_token_replayed` after). Accounts are found and linked as on the callback."""
    return await service.id_token_sign_in(context, provider=provider, data=body)


# /users/me/identities


@identities_router.get("/me/identities")
async def list_my_identities(
    session: SessionDep, user: CurrentUser, page: PageParams
) -> Page[IdentityOut]:
    """The external identities (Google, GitHub, the school's provider) linked to my account."""
    return await listed(
        page, IdentityOut.model_validate, service.list_identities, session, user_id=user.id
    )


@identities_router.delete(
    "/me/identities/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(409),
)
async def unlink_my_identity(
    identity_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> Response:
    """Unlink one of my identities; 409 `last_sign_in_method` when it is the account's last way
    to sign in (no other identity, and no usable password)."""
    await service.unlink_identity(session, user=user, identity_id=identity_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# /admin


@oauth_admin_router.get("/users/{user_id}/identities")
async def admin_list_identities(
    user_id: uuid.UUID, session: SessionDep, _admin: AdminUser, page: PageParams
) -> Page[IdentityOut]:
    """The external identities linked to an account."""
    return await listed(
        page, IdentityOut.model_validate, service.admin_list_identities, session, user_id=user_id
    )


@oauth_admin_router.get("/sso-domains")
async def admin_list_sso_domains(
    session: SessionDep, _admin: AdminUser, page: PageParams
) -> Page[SSODomainOut]:
    """Email domains whose users must sign in through a provider."""
    return await listed(page, SSODomainOut.model_validate, service.list_sso_domains, session)


@oauth_admin_router.post(
    "/sso-domains", status_code=status.HTTP_201_CREATED, responses=errors(404, 409)
)
async def admin_add_sso_domain(
    body: SSODomainIn, session: SessionDep, settings: SettingsDep, admin: AdminUser
) -> SSODomainOut:
    """Require single sign-on for an email domain: its users can no longer log in or sign up
    with a password (403 `sso_required`), and cannot unlink their last identity."""
    row = await service.add_sso_domain(session, settings=settings, actor=admin, data=body)
    return SSODomainOut.model_validate(row)


@oauth_admin_router.delete(
    "/sso-domains/{domain_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def admin_remove_sso_domain(
    domain_id: uuid.UUID, session: SessionDep, admin: AdminUser
) -> Response:
    """Stop requiring single sign-on for a domain."""
    await service.remove_sso_domain(session, actor=admin, domain_id=domain_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
