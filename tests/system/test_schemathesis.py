"""Schemathesis against the app's own OpenAPI schema: zero server errors, zero schema violations.

Every operation of the schema runs with all of Schemathesis' default checks (server errors,
status codes, content types, response schemas and headers, acceptance of valid and rejection of
invalid data, ignored auth, Allow headers, missing headers, unsupported methods …):
- `test_schemathesis_coverage`: the examples and coverage phases (boundary values, every kind of
  invalid input, missing parameters, unexpected methods), with the token of the role the
  operation is meant for (tests/security/access.py);
- `test_schemathesis_fuzzing`: the fuzzing phase with a student's, a teacher's and an admin's
  token, and `test_schemathesis_fuzzing_anonymous` without one;
- `test_schemathesis_stateful`: the stateful phase (chains of calls linked by the ids the
  server answers) with each role's token, once, on PostgreSQL. Every scenario starts from the
  same rows (a snapshot of the world, restored), so that Hypothesis, which replays the choices of
  earlier scenarios to make new ones, meets the same answers.

The app runs in-process (ASGI) on a database of its own (SQLite, or PostgreSQL when
STUDYHALL_TEST_DATABASE_URL is set; one per xdist worker) holding a world of real objects
(tests/security/world.py): generated UUIDs are often swapped for the ids of those objects, so
requests reach the handlers and their 2xx answers are checked too, not only 404s. An operation
that changed the world (a successful DELETE, PATCH, PUT or action) gets a fresh world before the
next one. Payments point at a local Stripe peer; rate limits are raised so that fuzzing reaches
the handlers (the limits have their own tests in tests/security). Generation is deterministic
(`derandomize`), so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.python import asgi as schemathesis_asgi
from sqlalchemy import Table, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.config import RateLimitSettings, Settings, async_database_url
from studyhall.core.db import Database
from studyhall.core.security import hash_password
from studyhall.identity.models import Role, User
from studyhall.identity.tokens import issue_access_token
from studyhall.main import create_app
from studyhall.migrate import upgrade
from studyhall.models_registry import load_all_models
from tests.conftest import TEST_PASSWORD, admin_execute
from tests.peers.stripe_api import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, StripePeer
from tests.security.access import ACCESS, ADMIN, ANONYMOUS, STUDENT, TEACHER, path_ids
from tests.security.world import World, build_world

T = TypeVar("T")

# The Stripe library hands httpx raw bytes as `data=`, which httpx deprecates: not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

FUZZING_EXAMPLES = 8
# Stateful scenarios per role and their longest chain of calls.
STATEFUL_SCENARIOS = 20
STATEFUL_STEPS = 6
ANONYMOUS_EXAMPLES = 4
_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


def _openapi_document() -> dict[str, Any]:
    """The schema the app serves (building the app needs no database)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            environment="test",
            data_dir=Path(tmp),
            database_url=f"sqlite+aiosqlite:///{tmp}/schema.db",
            secret_key="schema-only-secret-key-0123456789",
            log_level="WARNING",
        )
        return create_app(settings, run_worker=False).openapi()


# Operations whose well-formed requests can still be refused, by a rule no JSON Schema can
# state (it depends on stored data, on another field's value, or on a secret): for these the
# `positive_data_acceptance` check also accepts that one documented answer. Everything else a
# schema can say is in the schema.
RULES_BEYOND_THE_SCHEMA: dict[str, tuple[tuple[str, ...], str]] = {
    "POST /api/v1/auth/register": (("422",), "password strength; a mail domain (not .test …)"),
    "POST /api/v1/admin/users": (("422",), "password strength; a mail domain"),
    "PATCH /api/v1/users/me": (("422",), "a mail domain (email-validator refuses .test, .local …)"),
    "POST /api/v1/admin/users/{user_id}/reset-password": (("422",), "password strength"),
    "POST /api/v1/auth/verify-email": (("400",), "a token the server never issued"),
    "POST /api/v1/auth/password/reset": (("400", "422"), "an unknown token; password strength"),
    "POST /api/v1/auth/password/change": (("400", "422"), "a wrong password; its strength"),
    "POST /api/v1/payments/webhook": (("400",), "no valid Stripe signature"),
    "POST /api/v1/admin/api-keys": (("422",), "the admin role goes with the admin scope"),
    "POST /api/v1/courses": (("422",), "teacher_id names an active teacher"),
    "PATCH /api/v1/courses/{course_id}": (("422",), "teacher_id names an active teacher"),
    "POST /api/v1/courses/{course_id}/lessons": (("422",), "module_id is a module of the course"),
    "PATCH /api/v1/lessons/{lesson_id}": (("422",), "module_id is a module of the course"),
    "POST /api/v1/courses/{course_id}/quizzes": (("422",), "an answer is one of the options"),
    "PATCH /api/v1/quizzes/{quiz_id}": (("422",), "an answer is one of the options"),
    "POST /api/v1/courses/{course_id}/quizzes/import": (("422",), "the answer among the options"),
    "POST /api/v1/quizzes/{quiz_id}/attempts": (("422",), "answers fit the quiz's questions"),
    "PUT /api/v1/submissions/{submission_id}/grade": (("422",), "score at most the max_score"),
    "POST /api/v1/assignments/{assignment_id}/submissions": (
        ("415", "422"),
        "file type from content; visible text or a file",
    ),
    "POST /api/v1/courses/{course_id}/documents": (("415",), "file type from content"),
    "POST /api/v1/library/documents": (("415",), "file type from content"),
    "PUT /api/v1/courses/{course_id}/library": (("422",), "the ids are library documents"),
    "POST /api/v1/admin/wallets/{user_id}/topup": (("422",), "an adjustment within available"),
    "PATCH /api/v1/admin/wallets/{user_id}": (("422",), "a tier the settings define"),
    "POST /api/v1/chat/sessions/{session_id}/quiz": (("422",), "enough course material"),
    "POST /api/v1/admin/reservations/{reservation_id}/finalize": (
        ("422",),
        "actual at most the reservation's amount",
    ),
    "POST /api/v1/admin/bulk-topups": (
        ("422",),
        "at least one of course_id, user_ids, emails or csv",
    ),
    "POST /api/v1/courses/{course_id}/checkout": (
        ("422",),
        "a course with a price (a free course is joined with POST /enroll)",
    ),
    "POST /api/v1/courses/{course_id}/assistants": (
        ("422",),
        "the address of an active teacher account",
    ),
    "POST /api/v1/courses/{course_id}/videos": (
        ("413",),
        "size_bytes within the operator's video size limit (a setting)",
    ),
    "PUT /api/v1/courses/{course_id}/workspace-profile": (
        ("422",),
        "a profile the operator configured",
    ),
}
# Bodies whose "invalid" forms cannot reach the server as such: a CSV roster is any text (each
# bad line is reported, not refused), and a multipart form carries Schemathesis' null as the
# text "null", a valid string.
RAW_TEXT_BODIES = (
    "POST /api/v1/courses/{course_id}/students/import",
    "POST /api/v1/library/documents",
    "POST /api/v1/courses/{course_id}/documents",
)
# Operations whose documented 503 is expected here: the world's server has no container engine
# (the default `off` workspace backend), so starting a workspace is the 503 of seed 004.
ENGINE_UNAVAILABLE = ("POST /api/v1/workspaces",)
_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # Schemathesis' default
_OPERATIONS = (
    [
        {
            "include-name": name,
            "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, *statuses]}},
        }
        for name, (statuses, _why) in RULES_BEYOND_THE_SCHEMA.items()
    ]
    + [
        {"include-name": name, "checks": {"negative_data_rejection": {"enabled": False}}}
        for name in RAW_TEXT_BODIES
    ]
    + [
        {"include-name": name, "checks": {"not_a_server_error": {"enabled": False}}}
        for name in ENGINE_UNAVAILABLE
    ]
)

# Text in StudyHall never holds a NUL character (PostgreSQL cannot store one): every text field
# and query string answers one with 422, and the schema says so (`NUL_FREE` patterns, a 422 on
# every operation). So Schemathesis generates NUL characters (its default) and the checks hold:
# valid requests carry none, invalid ones may and are refused.
_GENERATION: dict[str, Any] = {"allow-x00": True}

_DOCUMENT = _openapi_document()
COVERAGE = schemathesis.openapi.from_dict(
    _DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "generation": _GENERATION,
            "phases": {"fuzzing": {"enabled": False}},
            "operations": _OPERATIONS,
        }
    ),
)
# The stateful phase: Schemathesis infers the links between operations from the schema (a
# created object's id from one response feeds the next operation's path or body) and chains them
# into scenarios of a few steps.
STATEFUL = schemathesis.openapi.from_dict(
    _DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "generation": _GENERATION,
            "phases": {"stateful": {"max-steps": STATEFUL_STEPS}},
            "operations": _OPERATIONS,
        }
    ),
)
FUZZING = schemathesis.openapi.from_dict(
    _DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "generation": _GENERATION,
            "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}},
            "operations": _OPERATIONS,
        }
    ),
)


def _in_own_loop(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a fresh event loop in a thread: nothing is shared with pytest's loop
    nor with the loop Schemathesis runs the app on."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def schemathesis_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own: the harness empties the shared one after every test."""
    base = os.environ.get("STUDYHALL_TEST_DATABASE_URL")
    if not base:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('schemathesis') / 'st.db'}"
        upgrade(url)
        yield url
        return
    name = f"studyhall_st_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _in_own_loop(lambda: admin_execute(base, f'CREATE DATABASE "{name}"'))
    url = async_database_url(
        make_url(base).set(database=name).render_as_string(hide_password=False)
    )
    try:
        upgrade(url)
        yield url
    finally:
        _in_own_loop(lambda: admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


Snapshot = list[tuple[Table, list[dict[str, Any]]]]


async def _delete_all_rows(session: AsyncSession) -> None:
    for table in reversed(load_all_models().metadata.sorted_tables):
        await session.execute(table.delete())


class Environment:
    """The app under test, its world of objects and the role tokens."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings, run_worker=False)
        self.password_hash = hash_password(TEST_PASSWORD)
        self.world = self._seed(empty=False)
        self.dirty = False
        self.current: tuple[str, str] | None = None

    def _seed(self, *, empty: bool) -> World:
        settings, password_hash = self.settings, self.password_hash

        async def seed() -> World:
            # A separate app (own engine) on this thread's loop writes the world.
            app = create_app(settings, run_worker=False)
            db: Database = app.state.db
            try:
                if empty:
                    async with db.session() as session:
                        await _delete_all_rows(session)

                async def make_user(role: Role | str = Role.student, **fields: Any) -> User:
                    suffix = uuid.uuid4().hex[:10]
                    values: dict[str, Any] = {
                        "email": f"{role}-{suffix}@example.org",
                        "username": f"{role}_{suffix}",
                        "full_name": f"Fuzz {str(role).title()} {suffix}",
                        "password_hash": password_hash,
                        "role": Role(role),
                        "is_verified": True,
                        **fields,
                    }
                    async with db.session() as session:
                        user = User(**values)
                        session.add(user)
                    return user

                transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 50000))
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as client:
                    return await build_world(client, make_user, self.auth, db)
            finally:
                await db.dispose()

        return _in_own_loop(seed)

    def snapshot(self) -> Snapshot:
        """Every row of every table, as the database holds them now."""

        async def read(session: AsyncSession) -> Snapshot:
            return [
                (table, [dict(row) for row in (await session.execute(select(table))).mappings()])
                for table in load_all_models().metadata.sorted_tables
            ]

        return self._in_database(read)

    def restore(self, snapshot: Snapshot) -> None:
        """Put the database back exactly as the snapshot holds it (same rows, same ids)."""

        async def write(session: AsyncSession) -> None:
            await _delete_all_rows(session)
            for table, rows in snapshot:
                if rows:
                    await session.execute(table.insert(), rows)

        self._in_database(write)

    def _in_database(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work` in one transaction, through an engine of its own on a loop of its own."""
        url = self.settings.database_url
        assert url is not None

        async def run() -> T:
            db = Database(url)
            try:
                async with db.session() as session:
                    return await work(session)
            finally:
                await db.dispose()

        return _in_own_loop(run)

    def auth(self, user: User) -> dict[str, str]:
        """Bearer headers of a user."""
        return {"Authorization": f"Bearer {issue_access_token(self.settings, user)}"}

    def headers(self, role: str) -> dict[str, str]:
        """The role's credentials (none for anonymous)."""
        return {} if role == ANONYMOUS else self.auth(self.world.user(role))

    def begin(self, operation: str, role: str) -> None:
        """A new operation starts with an intact world."""
        if self.current != (operation, role):
            self.current = (operation, role)
            if self.dirty:
                self.world = self._seed(empty=True)
                self.dirty = False

    def note(self, method: str, status: int) -> None:
        """Remember that a request changed (or may have removed) objects of the world."""
        if 200 <= status < 300 and (
            method in ("DELETE", "PATCH", "PUT") or (method == "POST" and status in (200, 204))
        ):
            self.dirty = True


@pytest.fixture(scope="session")
def environment(
    schemathesis_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Environment]:
    """The app on its own database with a world, a local Stripe peer and generous limits."""
    peer = StripePeer()
    peer.start()
    generous = "100000/minute"
    settings = Settings(
        environment="test",
        data_dir=tmp_path_factory.mktemp("schemathesis-data"),
        database_url=schemathesis_database,
        secret_key="schemathesis-secret-key-not-for-production-42",
        log_level="CRITICAL",
        public_url="http://testserver",
        jobs={"in_process_worker": False},  # type: ignore[arg-type]
        rate_limits=RateLimitSettings(
            **{name: generous for name in RateLimitSettings.model_fields}
        ),
        billing={  # type: ignore[arg-type]
            "stripe_secret_key": SECRET_KEY,
            "stripe_publishable_key": PUBLISHABLE_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": peer.url,
        },
    )
    # Requests cross three threads (pytest, the ASGI portal's loop, the SQLite driver); a short
    # GIL switch interval keeps each hop from waiting out the default 5 ms.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        yield Environment(settings)
    finally:
        sys.setswitchinterval(interval)
        schemathesis_asgi.shutdown_lifespans()
        peer.stop()


# ------------------------------------------------------------------------------- ids


def _pick(value: object, choices: list[str]) -> str | None:
    """A world id in place of a generated UUID, chosen from the value itself (deterministic);
    one value in four keeps its random id (the unknown-id path)."""
    if not isinstance(value, str) or not choices:
        return None
    try:
        uuid.UUID(value)
    except ValueError:
        return None
    digest = int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big")
    slot = digest % (len(choices) + 1)
    return None if slot == len(choices) else choices[slot]


def _id_choices(world: World, template: str, role: str) -> dict[str, list[str]]:
    own = path_ids(world, template, role)
    draft = world.draft
    choices = {name: [value] for name, value in own.items() if value}
    extra = {
        "course_id": draft.course,
        "module_id": draft.module,
        "lesson_id": draft.lesson,
        "quiz_id": draft.quiz,
        "assignment_id": draft.assignment,
        "document_id": world.library_document,
        "user_id": str(world.teacher.id),
        "job_id": world.library_job,
    }
    for name, value in extra.items():
        choices.setdefault(name, []).append(value)
    for alias in ("student_id", "actor_id"):
        choices[alias] = [str(world.student.id)]
    choices["teacher_id"] = [str(world.teacher.id)]
    return choices


def _use_world_ids(case: Any, world: World, role: str) -> None:
    choices = _id_choices(world, case.operation.path, role)
    for container in (case.path_parameters, case.query, case.body):
        if not isinstance(container, dict):
            continue
        for name, value in list(container.items()):
            picked = _pick(value, choices.get(name, []))
            if picked is not None:
                container[name] = picked


# ------------------------------------------------------------------------------- tests


def _primary_role(method: str, path: str) -> str:
    """The role an operation is meant for: the least privileged one it lets through."""
    allowed = ACCESS.get(f"{method} {path}")
    if allowed is None or ANONYMOUS in allowed:
        return ANONYMOUS
    return next(role for role in (STUDENT, TEACHER, ADMIN) if role in allowed)


def _exercise(case: Any, environment: Environment, role: str) -> None:
    environment.begin(case.operation.label, role)
    _use_world_ids(case, environment.world, role)
    headers = environment.headers(role)
    response = case.call(app=environment.app, headers=headers)
    environment.note(case.method.upper(), response.status_code)
    case.validate_response(
        response, headers=headers, transport_kwargs={"app": environment.app, "headers": headers}
    )


@COVERAGE.parametrize()
@hypothesis_settings(max_examples=1, **_SETTINGS)  # type: ignore[arg-type]
def test_schemathesis_coverage(case: Any, environment: Environment) -> None:
    _exercise(case, environment, _primary_role(case.method.upper(), case.path))


@pytest.mark.parametrize("role", (STUDENT, TEACHER, ADMIN))
@FUZZING.parametrize()
@hypothesis_settings(max_examples=FUZZING_EXAMPLES, **_SETTINGS)  # type: ignore[arg-type]
def test_schemathesis_fuzzing(case: Any, environment: Environment, role: str) -> None:
    _exercise(case, environment, role)


# Without a token nearly every operation answers 401 before reading anything: a few requests
# each prove it (the public ones also run in the coverage phase as anonymous).
@FUZZING.parametrize()
@hypothesis_settings(max_examples=ANONYMOUS_EXAMPLES, **_SETTINGS)  # type: ignore[arg-type]
def test_schemathesis_fuzzing_anonymous(case: Any, environment: Environment) -> None:
    _exercise(case, environment, ANONYMOUS)


_ENDS_SESSION = frozenset(
    {
        "DELETE /api/v1/users/me",
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/password/change",
    }
)


@pytest.mark.slow
@pytest.mark.parametrize("role", (STUDENT, TEACHER, ADMIN))
def test_schemathesis_stateful(environment: Environment, role: str) -> None:
    """Chains of linked operations (create, then read, change, delete what was created) with the
    role's token: every check of every step holds, and no step is a server error."""
    if not os.environ.get("STUDYHALL_TEST_DATABASE_URL"):
        pytest.skip("the stateful phase runs once, on PostgreSQL")
    environment.begin(f"stateful {role}", role)
    headers = environment.headers(role)
    # Steps that took a value from an earlier response (a link), and every call's status.
    linked: list[str] = []
    calls: list[tuple[str, int]] = []

    # The operations the role may call (the others are a 403 the role matrix already proves),
    # without those that end the caller's own session (its token would then be a 401 for the
    # rest of the run; the other phases test them).
    allowed = [key for key, roles in ACCESS.items() if role in roles and key not in _ENDS_SESSION]

    # Every scenario starts from the same rows (the world, same ids). Hypothesis replays the
    # choices of earlier scenarios to generate new ones, and which rules it may draw next
    # depends on what the server answered (a link is followed only from a matching status); on a
    # database that earlier scenarios changed, the same choices meet other answers and Hypothesis
    # stops with FlakyStrategyDefinition. On the same rows the app answers the same.
    world = environment.snapshot()

    class Scenario(STATEFUL.include(name=allowed).as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            environment.restore(world)

        def step(self, input: Any) -> Any:
            if input.transition is None:
                # A scenario starts from the world's objects rather than only random ids; the
                # later steps take theirs from the links.
                _use_world_ids(input.case, environment.world, role)
            elif input.is_applied:
                linked.append(input.case.operation.label)
            return super().step(input)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": environment.app, "headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            calls.append((case.operation.label, response.status_code))
            environment.note(case.method.upper(), response.status_code)

    Scenario.run(
        settings=hypothesis_settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            **_SETTINGS,  # type: ignore[arg-type]
        )
    )
    server_errors = sorted({f"{label} {status}" for label, status in calls if status >= 500})
    # The figures of the run (shown with `-rP`): how far the chains reached.
    print(f"{role}: {len(calls)} calls, {len(linked)} linked steps, 5xx: {server_errors or 'none'}")
    # The phase ran chains, not single calls: values flowed from one response into a next call.
    assert linked, f"no linked step in {len(calls)} calls"
