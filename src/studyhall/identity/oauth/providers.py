"""Talking to providers: authorization URLs, code exchange, ID-token checks, GitHub's API.

OpenID Connect providers (Google, a school's Keycloak/Entra/Shibboleth) are read from their
discovery document; it and the key set are fetched once per process and cached, and the key set is
fetched again when a token names a key id it does not hold (the provider rotated its keys), at
most every `jwks_min_refresh_s`. GitHub is plain OAuth2: the verified primary address comes from
`/user/emails`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.urls import url_decode
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from studyhall.config import AuthSettings, OAuthProviderSettings
from studyhall.identity.oauth.errors import (
    CodeRejected,
    EmailDomainNotAllowed,
    EmailNotVerified,
    InvalidIdToken,
    ProviderUnavailable,
    UnknownProvider,
)

try:
    # Authlib's httpx integration runs on httpx2 when it is installed (its own dependency), so
    # transport errors may come from either package.
    import httpx2

    _HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover - Authlib then falls back to httpx
    _HTTP_ERRORS = (httpx.HTTPError,)

GOOGLE_ISSUER = "https://accounts.google.com"
# Google's tokens may name their issuer without the scheme.
GOOGLE_ISSUERS = (GOOGLE_ISSUER, "accounts.google.com")
DEFAULT_SCOPES = {
    "google": ["openid", "email", "profile"],
    "oidc": ["openid", "email", "profile"],
    "github": ["read:user", "user:email"],
}
# ID tokens are signed with the provider's private key; a symmetric "alg" (or "none") is refused.
ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
ASYMMETRIC_ALGORITHMS += ["ES512", "EdDSA", "Ed25519"]


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the provider says the person is, after every check passed."""

    provider: str
    issuer: str
    subject: str
    email: str
    name: str | None


@dataclass(frozen=True)
class Provider:
    """A configured provider by name."""

    name: str
    config: OAuthProviderSettings

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def scopes(self) -> list[str]:
        return self.config.scopes or DEFAULT_SCOPES[self.kind]

    @property
    def display_name(self) -> str:
        return self.config.display_name or {"google": "Google", "github": "GitHub"}.get(
            self.kind, self.name
        )


def get_provider(auth: AuthSettings, name: str) -> Provider:
    """The configured provider called `name` (404 unknown_provider otherwise)."""
    config = auth.providers.get(name.lower())
    if config is None or not config.client_id:
        raise UnknownProvider()
    return Provider(name=name.lower(), config=config)


def configured_providers(auth: AuthSettings) -> list[Provider]:
    """Every usable provider, by name."""
    return [Provider(name, c) for name, c in sorted(auth.providers.items()) if c.client_id]


# Discovery and key sets, cached per process


@dataclass
class _Keys:
    keys: KeySet
    fetched_at: float


_discovery: dict[str, dict[str, Any]] = {}
_jwks: dict[str, _Keys] = {}
_locks: dict[str, asyncio.Lock] = {}


def _lock(key: str) -> asyncio.Lock:
    return _locks.setdefault(key, asyncio.Lock())


def clear_caches() -> None:
    """Forget discovery documents and keys (tests, or an operator after a provider move)."""
    _discovery.clear()
    _jwks.clear()


def _discovery_url(provider: Provider) -> str:
    config = provider.config
    if config.discovery_url:
        return config.discovery_url
    issuer = config.issuer or (GOOGLE_ISSUER if provider.kind == "google" else None)
    if not issuer:
        raise ProviderUnavailable(f"Provider {provider.name} has no issuer or discovery URL")
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


async def _get_json(url: str, *, timeout_s: float, headers: dict[str, str] | None = None) -> Any:
    """GET a provider's JSON; an unreachable or failing provider is a 503."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError:
        raise ProviderUnavailable() from None
    if response.status_code >= 400:
        raise ProviderUnavailable(
            f"The sign-in provider answered {response.status_code}; try again later"
        )
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable("The sign-in provider sent an unreadable answer") from None


async def discovery(provider: Provider) -> dict[str, Any]:
    """The provider's OpenID configuration, fetched once per process."""
    url = _discovery_url(provider)
    cached = _discovery.get(url)
    if cached is not None:
        return cached
    async with _lock("discovery:" + url):
        cached = _discovery.get(url)
        if cached is not None:
            return cached
        document = await _get_json(url, timeout_s=provider.config.timeout_s)
        needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(document, dict) or not all(
            isinstance(document.get(k), str) for k in needed
        ):
            raise ProviderUnavailable("The provider's discovery document is incomplete")
        _discovery[url] = document
        return document


async def _key_set(
    jwks_uri: str, *, timeout_s: float, refresh_after: float | None = None
) -> KeySet:
    """The provider's public keys; `refresh_after` refetches when the copy is at least that old."""
    cached = _jwks.get(jwks_uri)
    if cached is not None and (
        refresh_after is None or time.monotonic() - cached.fetched_at < refresh_after
    ):
        return cached.keys
    async with _lock("jwks:" + jwks_uri):
        again = _jwks.get(jwks_uri)
        if again is not None and again is not cached:
            return again.keys  # another request refreshed it meanwhile
        document = await _get_json(jwks_uri, timeout_s=timeout_s)
        try:
            keys = KeySet.import_key_set(document)
        except (JoseError, ValueError, TypeError, KeyError):
            raise ProviderUnavailable("The provider's key set is unreadable") from None
        _jwks[jwks_uri] = _Keys(keys=keys, fetched_at=time.monotonic())
        return keys


def _has_kid(keys: KeySet, kid: str | None) -> bool:
    if kid is None:
        return True
    return any(key.kid == kid for key in keys.keys)


# ID tokens


def _token_kid(id_token: str) -> str | None:
    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError, TypeError):
        raise InvalidIdToken() from None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _is_true(value: object) -> bool:
    # Some providers send the boolean as a string.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def email_domain(email: str) -> str:
    """The domain part of an address, lower-case."""
    return email.rsplit("@", 1)[-1].strip().lower()


def check_email(provider: Provider, email: object, verified: object, hd: object = None) -> str:
    """The provider's address when it is verified and inside the provider's allow-list."""
    if not isinstance(email, str) or "@" not in email or not _is_true(verified):
        raise EmailNotVerified()
    allowed = {d.lower() for d in provider.config.allowed_email_domains}
    if allowed:
        if email_domain(email) not in allowed:
            raise EmailDomainNotAllowed()
        # Google Workspace names the organisation in `hd`; a personal account has none.
        if provider.kind == "google" and (not isinstance(hd, str) or hd.lower() not in allowed):
            raise EmailDomainNotAllowed()
    return email.strip().lower()


async def verify_id_token(
    provider: Provider,
    auth: AuthSettings,
    id_token: str,
    *,
    nonce: str | None,
    now: int,
) -> ExternalIdentity:
    """Check an ID token completely: signature against the provider's keys, iss, aud (and azp),
    exp, iat, nonce when one was sent, then the verified email and the domain allow-list."""
    if provider.kind == "github":
        raise InvalidIdToken("GitHub does not issue ID tokens")
    meta = await discovery(provider)
    kid = _token_kid(id_token)
    timeout = provider.config.timeout_s
    keys = await _key_set(meta["jwks_uri"], timeout_s=timeout)
    if not _has_kid(keys, kid):
        # An unknown key id: the provider may have rotated its keys since we fetched them.
        keys = await _key_set(
            meta["jwks_uri"], timeout_s=timeout, refresh_after=auth.jwks_min_refresh_s
        )
        if not _has_kid(keys, kid):
            raise InvalidIdToken()
    try:
        token = jwt.decode(id_token, keys, algorithms=ASYMMETRIC_ALGORITHMS)
    except (JoseError, ValueError, TypeError):
        raise InvalidIdToken() from None
    claims = token.claims
    issuers = list(GOOGLE_ISSUERS) if provider.kind == "google" else [meta["issuer"]]
    rules: dict[str, Any] = {
        "iss": {"essential": True, "values": issuers},
        "sub": {"essential": True},
        "aud": {"essential": True, "value": provider.config.client_id},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }
    if nonce is not None:
        rules["nonce"] = {"essential": True, "value": nonce}
    registry = jwt.JWTClaimsRegistry(now=now, leeway=auth.leeway_s, **rules)
    try:
        registry.validate(claims)
    except (JoseError, ValueError, TypeError):
        raise InvalidIdToken() from None
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat > now + auth.leeway_s:
        raise InvalidIdToken()
    audience = claims.get("aud")
    # With several audiences, the token must have been issued to us (OIDC Core 3.1.3.7).
    if (
        isinstance(audience, list)
        and len(audience) > 1
        and claims.get("azp") != (provider.config.client_id)
    ):
        raise InvalidIdToken()
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise InvalidIdToken()
    email = check_email(
        provider, claims.get("email"), claims.get("email_verified"), claims.get("hd")
    )
    name = claims.get("name")
    return ExternalIdentity(
        provider=provider.name,
        issuer=str(claims["iss"]) if provider.kind != "google" else GOOGLE_ISSUER,
        subject=subject,
        email=email,
        name=name[:200] if isinstance(name, str) and name.strip() else None,
    )


# Authorization-code flow


def _form_encoded_token(response: Any) -> Any:
    """GitHub (and some older servers) answer the token request form-encoded; Authlib reads
    JSON, so the body is turned into the same fields as JSON."""
    kind = response.headers.get("content-type", "")
    if response.status_code < 500 and "application/x-www-form-urlencoded" in kind:
        fields = dict(url_decode(response.text))
        # The same response class Authlib's client uses (httpx or httpx2).
        return type(response)(
            response.status_code,
            headers={"content-type": "application/json"},
            content=json.dumps(fields).encode(),
            request=response.request,
        )
    return response


def _client(provider: Provider, redirect_uri: str) -> AsyncOAuth2Client:
    config = provider.config
    client = AsyncOAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret,
        # GitHub and Google take the secret in the body; so does every provider we know.
        token_endpoint_auth_method="client_secret_post" if config.client_secret else "none",
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=config.timeout_s,
        follow_redirects=False,
    )
    client.register_compliance_hook("access_token_response", _form_encoded_token)
    return client


async def authorization_url(
    provider: Provider, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
) -> str:
    """The provider URL to send the person to, with state, nonce and a PKCE S256 challenge."""
    if provider.kind == "github":
        endpoint = provider.config.authorize_url
        extra: dict[str, str] = {}
    else:
        endpoint = (await discovery(provider))["authorization_endpoint"]
        extra = {"nonce": nonce}
    async with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            endpoint, state=state, code_verifier=code_verifier, **extra
        )
    return str(url)


async def _exchange(
    provider: Provider, endpoint: str, *, code: str, redirect_uri: str, code_verifier: str | None
) -> dict[str, Any]:
    extra = {"code_verifier": code_verifier} if code_verifier else {}
    try:
        async with _client(provider, redirect_uri) as client:
            token: dict[str, Any] = await client.fetch_token(
                endpoint,
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                **extra,
            )
    except OAuthError as exc:
        if exc.error in ("invalid_client", "unauthorized_client"):
            # Our own client credentials are wrong: nothing the person can fix.
            raise ProviderUnavailable(
                "The provider refused StudyHall's client credentials"
            ) from None
        raise CodeRejected(exc.error) from None
    except _HTTP_ERRORS as exc:
        # A status error carries the answer; a transport error (refused, timeout) has none.
        answer = getattr(exc, "response", None)
        status = getattr(answer, "status_code", None) if answer is not None else None
        if status is not None and status < 500:
            raise CodeRejected() from None
        raise ProviderUnavailable() from None
    except ValueError:
        raise ProviderUnavailable() from None
    if not isinstance(token, dict) or "access_token" not in token:
        raise CodeRejected()
    return token


async def exchange_code(
    provider: Provider,
    auth: AuthSettings,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
    nonce: str | None,
    now: int,
) -> ExternalIdentity:
    """Trade an authorization code for the person's verified identity."""
    if provider.kind == "github":
        token = await _exchange(
            provider,
            provider.config.token_url,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
        )
        return await github_identity(provider, str(token["access_token"]))
    meta = await discovery(provider)
    token = await _exchange(
        provider,
        meta["token_endpoint"],
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
    )
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise InvalidIdToken("The provider sent no ID token")
    return await verify_id_token(provider, auth, id_token, nonce=nonce, now=now)


async def github_identity(provider: Provider, access_token: str) -> ExternalIdentity:
    """The GitHub user behind an access token, with the primary verified address."""
    base = provider.config.api_base_url.rstrip("/")
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    user = await _get_json(f"{base}/user", timeout_s=provider.config.timeout_s, headers=headers)
    emails = await _get_json(
        f"{base}/user/emails", timeout_s=provider.config.timeout_s, headers=headers
    )
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise ProviderUnavailable("GitHub sent an unreadable user")
    primary = next(
        (
            e
            for e in (emails if isinstance(emails, list) else [])
            if isinstance(e, dict) and e.get("primary") is True
        ),
        None,
    )
    if primary is None:
        raise EmailNotVerified()
    email = check_email(provider, primary.get("email"), primary.get("verified"))
    name = user.get("name") or user.get("login")
    return ExternalIdentity(
        provider=provider.name,
        # GitHub Enterprise servers are separate issuers: the API base names the server.
        issuer=base,
        subject=str(user["id"]),
        email=email,
        name=name[:200] if isinstance(name, str) and name.strip() else None,
    )
