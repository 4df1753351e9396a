"""External sign-in use cases: start an authorization, finish it, sign in with an ID token, link
and unlink identities, and the SSO-only email domains.

Sign-ins run their own units of work (like password login): the state is spent in a first one,
committed before the provider is called, so it is single use even when the rest fails; the
provider is called outside any transaction (SQLite serializes writers); the account is found,
linked or created in a last one, which either completes or leaves nothing behind. Failures are
audited in a transaction of their own.

The sign-ins take a `SignInContext` (the app's database, settings and rate limiter, and the
signed-in user who asks for a link) and the request's body; the seeds' dialects, which have
bodies of their own, call `sign_in_with_id_token(db, settings=, limiter=, provider=, id_token=)`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import structlog
from authlib.common.security import generate_token
from joserfc import jws
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit import service as audit
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.errors import AppError, Conflict, NotFound
from studyhall.core.ids import new_id
from studyhall.core.ratelimit import RateLimiter
from studyhall.core.security import hash_token, new_token, verify_password
from studyhall.identity import repository as users
from studyhall.identity.account_audit import record_account_event, record_admin_change
from studyhall.identity.credentials import AddressLimit, flush_unique, limit_per_address
from studyhall.identity.errors import AccountDisabled
from studyhall.identity.models import Role, User, new_user
from studyhall.identity.oauth import providers, repository
from studyhall.identity.oauth.errors import (
    IdentityInUse,
    IdTokenReplayed,
    InvalidIdToken,
    InvalidRedirectUri,
    InvalidState,
    LastSignInMethod,
    LinkRequired,
    SSODomainTaken,
    SSORequired,
)
from studyhall.identity.oauth.models import OAuthAccount, OAuthLoginState, SSODomain
from studyhall.identity.oauth.providers import ExternalIdentity, Provider
from studyhall.identity.oauth.schemas import (
    AuthorizeOut,
    CallbackIn,
    IdTokenIn,
    ProviderOut,
    SSODomainIn,
)
from studyhall.identity.refresh_tokens import token_pair
from studyhall.identity.schemas import TokenPair

log = structlog.get_logger(__name__)

# Accounts made by a provider have no password; a hash starting with "!" never verifies.
NO_PASSWORD = "!external-sign-in-only"


def has_password(user: User) -> bool:
    """Whether the account can sign in with a password at all."""
    return not user.password_hash.startswith("!")


@dataclass(frozen=True)
class SignInContext:
    """What an external sign-in runs with: the app's database (a sign-in opens its own units of
    work), settings and rate limiter, and the signed-in user who asks to link an identity to
    their account (None: a sign-in)."""

    db: Database
    settings: Settings
    limiter: RateLimiter
    user: User | None = None


# External sign-ins count against the login rate of the caller's address, each step apart.
_AUTHORIZE_LIMIT = AddressLimit(
    lambda limits: limits.login_per_ip,
    "oauth-authorize-ip",
    "Too many sign-in attempts; try again later",
)
_SIGN_IN_LIMIT = replace(_AUTHORIZE_LIMIT, name="oauth-signin-ip")


def list_providers(settings: Settings) -> list[ProviderOut]:
    """The providers a login page offers."""
    return [
        ProviderOut(name=p.name, kind=p.config.kind, display_name=p.display_name)
        for p in providers.configured_providers(settings.auth)
    ]


# Starting an authorization


async def start_authorization(
    context: SignInContext, *, provider: str, redirect_uri: str
) -> AuthorizeOut:
    """The provider URL with state, nonce and a PKCE S256 challenge, kept server-side for
    `AUTH__STATE_TTL_S`. Started by a signed-in user, it links the identity to that account."""
    settings, user = context.settings, context.user
    chosen = providers.get_provider(settings.auth, provider)
    allowed = chosen.config.redirect_uris
    if allowed and redirect_uri not in allowed:
        raise InvalidRedirectUri()
    await limit_per_address(context.limiter, settings, _AUTHORIZE_LIMIT)
    state = new_token(32)
    nonce = new_token(24)
    # RFC 7636: 43-128 characters of the unreserved set.
    code_verifier = generate_token(64)
    url = await providers.authorization_url(
        chosen, redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=code_verifier
    )
    now = utcnow()
    expires_at = now + timedelta(seconds=settings.auth.state_ttl_s)
    async with context.db.session() as session:
        await repository.delete_expired_states(session, now=now)
        session.add(
            OAuthLoginState(
                state_hash=hash_token(state),
                provider=chosen.name,
                nonce=nonce,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
                link_user_id=user.id if user is not None else None,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return AuthorizeOut(authorization_url=url, state=state, expires_at=expires_at)


# Finishing a sign-in


async def _spend_state(
    db: Database, *, provider: Provider, state: str, redirect_uri: str
) -> tuple[str, str, uuid.UUID | None]:
    """Use a state once: (code_verifier, nonce, user to link). Spent even if the rest fails."""
    async with db.session() as session:
        row = await repository.get_state(session, state)
        now = utcnow()
        if (
            row is None
            or row.provider != provider.name
            or row.used_at is not None
            or row.expires_at <= now
            or not await repository.use_state(session, row.id, now=now)
        ):
            raise InvalidState()
        # Spent even when the redirect_uri differs below: a state is good for one try.
        result = (row.code_verifier, row.nonce, row.link_user_id, row.redirect_uri)
    verifier, nonce, link_user_id, expected_uri = result
    if expected_uri != redirect_uri:
        raise InvalidState("The redirect_uri differs from the one the sign-in started with")
    return verifier, nonce, link_user_id


async def _audit_failure(
    db: Database, *, provider: str, error: AppError, user_id: uuid.UUID | None = None
) -> None:
    await audit.record_separately(
        db.sessionmaker,
        action="auth.oauth_login_failed",
        actor_id=user_id,
        target_type="user" if user_id is not None else None,
        target_id=user_id,
        details={"provider": provider, "code": error.code},
    )


@dataclass
class _Attempt:
    """A sign-in under way: its provider, the account it links to once that is known, and the
    password that proves an existing account (see `_open_session`)."""

    context: SignInContext
    provider: Provider
    link_user_id: uuid.UUID | None
    password: str | None

    async def open_session(
        self, identity: ExternalIdentity, spend_id_token: tuple[str, datetime] | None = None
    ) -> TokenPair:
        return await _open_session(
            self.context,
            identity=identity,
            link_user_id=self.link_user_id,
            password=self.password,
            spend_id_token=spend_id_token,
        )


@asynccontextmanager
async def _sign_in_attempt(
    context: SignInContext, *, provider: str, password: str | None
) -> AsyncIterator[_Attempt]:
    """Every external sign-in: a configured provider (404 otherwise), the per-address limit,
    and its failures audited (in their own transaction: the request fails)."""
    chosen = providers.get_provider(context.settings.auth, provider)
    await limit_per_address(context.limiter, context.settings, _SIGN_IN_LIMIT)
    user = context.user
    attempt = _Attempt(
        context,
        provider=chosen,
        link_user_id=user.id if user is not None else None,
        password=password,
    )
    try:
        yield attempt
    except AppError as exc:
        await _audit_failure(
            context.db, provider=chosen.name, error=exc, user_id=attempt.link_user_id
        )
        raise


async def sign_in_with_code(
    context: SignInContext, *, provider: str, data: CallbackIn
) -> TokenPair:
    """Finish an authorization-code sign-in and open a StudyHall session: the state row gives
    the PKCE verifier, the nonce and the account to link."""
    async with _sign_in_attempt(context, provider=provider, password=data.password) as attempt:
        verifier, nonce, state_user = await _spend_state(
            context.db, provider=attempt.provider, state=data.state, redirect_uri=data.redirect_uri
        )
        attempt.link_user_id = attempt.link_user_id or state_user
        identity = await providers.exchange_code(
            attempt.provider,
            context.settings.auth,
            code=data.code,
            redirect_uri=data.redirect_uri,
            code_verifier=verifier,
            nonce=nonce,
            now=int(utcnow().timestamp()),
        )
        pair = await attempt.open_session(identity)
    return pair


async def id_token_sign_in(context: SignInContext, *, provider: str, data: IdTokenIn) -> TokenPair:
    """Sign in with an ID token the client already holds (Google's sign-in button, a mobile
    SDK). Verified completely, and usable once: a replayed token is refused."""
    settings, id_token = context.settings, data.id_token
    async with _sign_in_attempt(context, provider=provider, password=data.password) as attempt:
        now = utcnow()
        identity = await providers.verify_id_token(
            attempt.provider, settings.auth, id_token, nonce=data.nonce, now=int(now.timestamp())
        )
        expires_at = _token_expiry(id_token, settings, now)
        pair = await attempt.open_session(identity, spend_id_token=(id_token, expires_at))
    return pair


async def sign_in_with_id_token(
    db: Database, *, settings: Settings, limiter: RateLimiter, provider: str, id_token: str
) -> TokenPair:
    """`id_token_sign_in` for the dialects, which check an ID token in bodies of their own."""
    return await id_token_sign_in(
        SignInContext(db, settings, limiter),
        provider=provider,
        data=IdTokenIn(id_token=id_token),
    )


def _token_expiry(id_token: str, settings: Settings, now: datetime) -> datetime:
    """When a verified token stops being accepted anyway (its exp plus the leeway)."""
    try:
        claims = json.loads(jws.extract_compact(id_token.encode()).payload)
        exp = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (ValueError, KeyError, TypeError):
        raise InvalidIdToken() from None
    return max(exp, now) + timedelta(seconds=settings.auth.leeway_s)


async def _password_owner(
    context: SignInContext, *, email: str, password: str | None
) -> tuple[uuid.UUID, str] | None:
    """(user id, hash) of the account using `email` when `password` is its password.

    Checked before the write transaction (argon2 is slow) and limited like failed logins."""
    if password is None:
        return None
    async with context.db.session(write=False) as session:
        owner = await users.get_user_by_email(session, email)
    if owner is None or owner.is_service or not has_password(owner):
        return None
    limiter = context.limiter
    failures = context.settings.rate_limits.login_failures_per_account
    account = f"user:{owner.id}"
    await limiter.check(
        failures, "login-fail", account, message="Too many failed attempts; try again later"
    )
    if not await asyncio.to_thread(verify_password, password, owner.password_hash):
        await limiter.count(failures, "login-fail", account)
        return None
    return owner.id, owner.password_hash


async def _link(
    session: AsyncSession, *, user: User, identity: ExternalIdentity, how: str
) -> OAuthAccount:
    """Link the identity to the account; `_open_session` sets the address it gave, at this
    sign-in and every later one."""
    now = utcnow()
    account = OAuthAccount(
        provider=identity.provider,
        issuer=identity.issuer,
        subject=identity.subject,
        user_id=user.id,
        created_at=now,
    )
    session.add(account)
    # A race: linked by a concurrent sign-in a moment ago.
    await flush_unique(session, IdentityInUse())
    await record_account_event(
        session,
        "auth.oauth_linked",
        user.id,
        details={"provider": identity.provider, "issuer": identity.issuer, "proof": how},
    )
    return account


async def _open_session(
    context: SignInContext,
    *,
    identity: ExternalIdentity,
    link_user_id: uuid.UUID | None,
    password: str | None,
    spend_id_token: tuple[str, datetime] | None = None,
) -> TokenPair:
    """Find the account by (issuer, subject), link or create it, and issue a token pair."""
    proven = await _password_owner(context, email=identity.email, password=password)
    async with context.db.session() as session:
        now = utcnow()
        if spend_id_token is not None:
            token, expires_at = spend_id_token
            await repository.delete_spent_id_tokens(session, now=now)
            try:
                spent = await repository.spend_id_token(session, token, expires_at=expires_at)
            except IntegrityError:
                spent = False
            if not spent:
                raise IdTokenReplayed()
        account = await repository.get_account(session, identity.issuer, identity.subject)
        created = False
        if link_user_id is not None:
            # A signed-in user asked for the link: the session is the account's proof.
            user = await users.get_user(session, link_user_id)
            if user is None or user.is_service:
                raise InvalidState("The account that started this sign-in no longer exists")
            if account is not None and account.user_id != user.id:
                raise IdentityInUse()
            if account is None:
                account = await _link(session, user=user, identity=identity, how="signed_in")
        elif account is not None:
            found = await users.get_user(session, account.user_id)
            if found is None:
                raise InvalidState()
            user = found
        else:
            existing = await users.get_user_by_email(session, identity.email)
            if existing is not None:
                # Never a silent takeover: the account proves it wants the link.
                if (
                    proven is None
                    or proven[0] != existing.id
                    or proven[1] != existing.password_hash
                ):
                    raise LinkRequired()
                user = existing
                account = await _link(session, user=user, identity=identity, how="password")
            else:
                user = await _create_student(session, identity)
                account = await _link(session, user=user, identity=identity, how="new_account")
                created = True
        if not user.is_active:
            raise AccountDisabled()
        account.email = identity.email
        account.last_login_at = now
        user.last_login_at = now
        user.last_active_at = now
        if not user.is_verified and user.email == identity.email:
            user.is_verified = True  # the provider vouched for this very address
        pair = token_pair(session, context.settings, user, family_id=new_id())
        await record_account_event(
            session,
            "auth.oauth_login",
            user.id,
            details={"provider": identity.provider, "new_account": created},
        )
        await session.flush()
    return pair


async def _create_student(session: AsyncSession, identity: ExternalIdentity) -> User:
    """A verified student without a password, named as the provider names the person."""
    user = new_user(
        email=identity.email,
        full_name=identity.name or identity.email.split("@", 1)[0][:200],
        password_hash=NO_PASSWORD,
        role=Role.student,
        is_verified=True,
    )
    session.add(user)
    await flush_unique(
        session, Conflict("An account with this email was created meanwhile; try again")
    )
    await record_account_event(
        session, "auth.register", user.id, details={"provider": identity.provider}
    )
    return user


# Linked identities


async def list_identities(
    session: AsyncSession, *, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[OAuthAccount], int]:
    """A user's linked identities, oldest first."""
    return await repository.list_accounts(session, user_id, limit=limit, offset=offset)


async def admin_list_identities(
    session: AsyncSession, *, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[OAuthAccount], int]:
    """An account's identities, for an administrator (404 for an unknown or service account)."""
    target = await users.get_user(session, user_id)
    if target is None or target.is_service:
        raise NotFound("User not found")
    return await repository.list_accounts(session, user_id, limit=limit, offset=offset)


async def password_allowed(session: AsyncSession, user: User) -> bool:
    """Whether the account may use its password (it has one and its domain is not SSO-only)."""
    if not has_password(user):
        return False
    return await repository.get_sso_domain(session, providers.email_domain(user.email)) is None


async def unlink_identity(session: AsyncSession, *, user: User, identity_id: uuid.UUID) -> None:
    """Remove one of the caller's identities; the last way to sign in stays."""
    account = await repository.get_user_account(session, user.id, identity_id)
    if account is None:
        raise NotFound("Identity not found")
    others = await repository.count_accounts(session, user.id) - 1
    if others == 0 and not await password_allowed(session, user):
        raise LastSignInMethod()
    await session.delete(account)
    await session.flush()
    await record_account_event(
        session,
        "auth.oauth_unlinked",
        user.id,
        details={"provider": account.provider, "issuer": account.issuer},
    )


# Domains that must use single sign-on


async def ensure_password_allowed(session: AsyncSession, *, email: str) -> None:
    """Refuse a password (login, sign-up) for an address whose domain requires SSO (403)."""
    if await repository.get_sso_domain(session, providers.email_domain(email)) is not None:
        raise SSORequired()


async def list_sso_domains(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[SSODomain], int]:
    """Domains that must use single sign-on."""
    return await repository.list_sso_domains(session, limit=limit, offset=offset)


async def add_sso_domain(
    session: AsyncSession, *, settings: Settings, actor: User, data: SSODomainIn
) -> SSODomain:
    """Require single sign-on for an email domain: its users can no longer use a password."""
    if data.provider is not None:
        providers.get_provider(settings.auth, data.provider)
    if await repository.get_sso_domain(session, data.domain) is not None:
        raise SSODomainTaken()
    row = SSODomain(
        domain=data.domain,
        provider=data.provider.lower() if data.provider else None,
        created_by=actor.id,
        created_at=utcnow(),
    )
    session.add(row)
    await flush_unique(session, SSODomainTaken())
    await record_admin_change(
        session,
        "admin.sso_domain_added",
        actor,
        row,
        details={"domain": row.domain, "provider": row.provider},
    )
    return row


async def remove_sso_domain(session: AsyncSession, *, actor: User, domain_id: uuid.UUID) -> None:
    """Let a domain's users use passwords again."""
    row = await repository.get_sso_domain_by_id(session, domain_id)
    if row is None:
        raise NotFound("SSO domain not found")
    await session.delete(row)
    await session.flush()
    await record_admin_change(
        session, "admin.sso_domain_removed", actor, row, details={"domain": row.domain}
    )
