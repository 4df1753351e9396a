"""OWASP API Security Top 10 (2023), one or more tests per risk, against the whole app.

API1 broken object level authorization · API2 broken authentication · API3 broken object
property level authorization · API4 unrestricted resource consumption · API5 broken function
level authorization · API6 unrestricted access to sensitive business flows · API7 server side
request forgery · API8 security misconfiguration · API9 improper inventory management ·
API10 unsafe consumption of APIs.

Route coverage is derived from the app itself (`studyhall.core.routes.api_routes`), so a new
endpoint is checked (or fails the tables) without anyone remembering to add a test. Every
response body of every test here is also scanned for server secrets (see conftest.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from studyhall.config import Settings
from studyhall.core.clock import clock, utcnow
from studyhall.core.db import Database
from studyhall.core.middleware import DEFAULT_MAX_REQUEST_BODY_BYTES
from studyhall.core.routes import api_routes, iter_routes
from studyhall.core.security import encode_jwt
from studyhall.identity import service as identity_service
from studyhall.identity.models import User
from studyhall.jobs.worker import Worker
from studyhall.main import create_app
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.peers.http_site import HTTPSite, serve_site
from tests.peers.stripe_api import StripePeer, sign
from tests.security.access import (
    ACCESS,
    ADMIN,
    ADMINS,
    ANONYMOUS,
    PROXY_METHODS,
    PROXY_ROUTES,
    PUBLIC,
    ROLES,
    STUDENT,
    TEACHER,
    UNAVAILABLE_PEER,
    fill,
    path_ids,
    request_body,
)
from tests.security.conftest import Recorder
from tests.security.world import TEXT_DOCUMENT, Headers, World, build_world

# The Stripe library hands httpx raw bytes as `data=`, which httpx deprecates: not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

API = "/api/v1"
WRITES = ("POST", "PUT", "PATCH")
# Routes that take multipart/form-data (a file) rather than JSON.
UPLOADS = {
    "POST /api/v1/courses/{course_id}/documents": {"data": {"title": "notes"}},
    "POST /api/v1/library/documents": {"data": {"subject": "biology", "language": "en"}},
    "POST /api/v1/assignments/{assignment_id}/submissions": {"data": {"content": "essay"}},
}


def route_keys(app: FastAPI) -> list[str]:
    """`METHOD /path/template` of every API endpoint."""
    return sorted(f"{m} {r.path}" for r in api_routes(app) for m in r.methods if m != "HEAD")


async def send(
    client: httpx.AsyncClient,
    key: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    """One request for a route key: JSON, or a small file for the upload routes."""
    method = key.split(" ", 1)[0]
    if key == "POST /api/v1/auth/token":
        # The OAuth2 password form, as Swagger's Authorize button sends it.
        return await client.post(path, data=body or {}, headers=headers)
    if key in UPLOADS:
        form = UPLOADS[key]
        return await client.request(
            method,
            path,
            headers=headers,
            files={"file": ("notes.md", TEXT_DOCUMENT, "text/markdown")},
            data=form["data"],
        )
    if method in WRITES:
        return await client.request(method, path, headers=headers, json=body or {})
    return await client.request(method, path, headers=headers)


def _order(key: str) -> tuple[int, str]:
    """Reads first, then writes, deletions last (a course after what is in it), and deleting
    users at the very end."""
    method, path = key.split(" ", 1)
    if key in ("DELETE /api/v1/users/me", "DELETE /api/v1/admin/users/{user_id}"):
        return (5, key)
    if key == "DELETE /api/v1/courses/{course_id}":
        return (4, key)
    return ({"GET": 0, "POST": 1, "PUT": 1, "PATCH": 2, "DELETE": 3}[method], path)


# ============================================================================= API1 (BOLA)

# Who, of the owner's own role, tries to reach the object each path names. The owners'
# objects are the world's: the teacher's *draft* course and everything in it (invisible to
# everyone else), the student's attempt, submission, saved prompt, reservation and chats.


def bola_case(world: World, template: str) -> tuple[dict[str, str], tuple[str, ...], str] | None:
    """(ids, the users who must get 404, the owner who may GET it) for a templated route;
    None for admin-only routes, which have no owner of the same role."""
    draft = world.draft
    ids = {
        "course_id": draft.course,
        "module_id": draft.module,
        "lesson_id": draft.lesson,
        "quiz_id": draft.quiz,
        "assignment_id": draft.assignment,
        "document_id": draft.document,
        "attempt_id": world.attempt,
        "submission_id": world.submission,
        "prompt_id": world.prompts[STUDENT],
        "reservation_id": world.reservations[STUDENT],
        "session_id": world.chat_sessions.get(STUDENT, ""),
        "user_id": str(world.student.id),
        "student_id": str(world.student.id),
        "video_id": draft.video,
    }
    own = ("other_student",)
    if template.startswith(f"{API}/admin/") or "/token-cap" in template:
        return None
    if template.startswith(f"{API}/users/me/prompts/"):
        return ids, own, STUDENT
    if template.startswith(f"{API}/users/me/audit-logs/"):
        return {**ids, "log_id": world.audit_logs[STUDENT]}, own, STUDENT
    if template.startswith(f"{API}/chat/prompts/"):
        return {**ids, "prompt_id": world.prompt_records[STUDENT]}, own, STUDENT
    if template.startswith(f"{API}/users/me/identities/"):
        return {**ids, "identity_id": world.identities[STUDENT]}, own, STUDENT
    if template == f"{API}/users/{{user_id}}":
        # A student of the teacher's course: another teacher may not look them up.
        return ids, ("other_teacher",), TEACHER
    if template.startswith((f"{API}/attempts/", f"{API}/submissions/")):
        return ids, ("other_student", "other_teacher"), STUDENT
    if template.startswith(f"{API}/wallet/reservations/"):
        return ids, own, STUDENT
    if template.startswith(f"{API}/chat/sessions/"):
        return ids, own, STUDENT
    if template.startswith(f"{API}/courses/{{course_id}}/chat-sessions"):
        # The student's chat in the teacher's published course.
        return {**ids, "course_id": world.published.course}, ("other_teacher",), TEACHER
    if template.startswith(f"{API}/library/textbooks/"):
        # A course's document is not a public textbook.
        return ids, ("other_student", "other_teacher", ANONYMOUS), TEACHER
    return ids, ("other_teacher", "other_student"), TEACHER


def _role_of(who: str) -> str:
    return {"other_teacher": TEACHER, "other_student": STUDENT}[who]


async def test_api1_bola_every_object_is_404_to_other_users_of_the_same_role(
    app: FastAPI, client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    users = {
        "other_teacher": auth(world.other_teacher),
        "other_student": auth(world.other_student),
        ANONYMOUS: {},
    }
    owners = {TEACHER: auth(world.teacher), STUDENT: auth(world.student)}
    checked: list[str] = []
    problems: list[str] = []
    templated = [k for k in route_keys(app) if "{" in k]
    assert templated
    for key in sorted(templated, key=_order):
        template = key.split(" ", 1)[1]
        case = bola_case(world, template)
        if "{provider}" in template:
            continue  # a configured provider's name, not anyone's object
        if template.startswith(f"{API}/sources/"):
            continue  # a curriculum source is public (what public portals list): no owner
        if case is None:
            # No per-object owner: the function-level table must make it admin-only.
            assert ACCESS[key] == ADMINS, f"{key} has ids but no owner in the BOLA table"
            continue
        if ACCESS[key] == ADMINS:
            # An admin acts on every object (a course's token budget): no stranger of the same
            # role exists, and the function-level test proves every other role is refused.
            continue
        ids, strangers, _owner = case
        path = fill(template, ids)
        # Users of another role are the function-level test's: only the same role here.
        same_role = [w for w in strangers if w == ANONYMOUS or _role_of(w) in ACCESS[key]]
        assert same_role, f"{key}: nobody of its own role tries it"
        for who in same_role:
            response = await send(client, key, path, users[who], request_body(world, key))
            expected = 401 if who == ANONYMOUS and ANONYMOUS not in ACCESS[key] else 404
            if response.status_code != expected:
                problems.append(f"{key} as {who}: {response.status_code} {response.text[:150]}")
        checked.append(key)
    # The objects exist (and survived the strangers' writes and deletions): owners still read them.
    for key in checked:
        method, template = key.split(" ", 1)
        case = bola_case(world, template)
        assert case is not None
        ids, _strangers, owner = case
        if method == "GET" and owner in ACCESS[key] and "/library/textbooks/" not in template:
            response = await client.get(fill(template, ids), headers=owners[owner])
            if response.status_code != 200:
                problems.append(f"{key} as its owner: {response.status_code} {response.text[:150]}")
    assert not problems, "\n".join(problems)
    assert len(checked) >= 40


async def test_api1_bola_lists_and_filters_never_show_other_users_objects(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    stranger = auth(world.other_student)
    # Filters naming someone else's objects come back empty, not with their rows.
    attempts = await client.get(
        f"{API}/quizzes/{world.published.quiz}/attempts",
        params={"student_id": str(world.student.id)},
        headers=auth(world.student),
    )
    assert attempts.status_code == 200 and attempts.json()["total"] == 1
    for path, params in (
        (f"{API}/wallet/reservations", {}),
        (f"{API}/wallet/transactions", {}),
        (f"{API}/users/me/prompts", {}),
        (f"{API}/courses", {"teacher_id": str(world.teacher.id)}),
    ):
        body = (await client.get(path, params=params, headers=stranger)).json()
        text = json.dumps(body)
        for foreign in (
            world.reservations[STUDENT],
            world.prompts[STUDENT],
            world.draft.course,
        ):
            assert foreign not in text, (path, foreign)
    # A teacher's student list only holds the teacher's own courses' students.
    other = await client.get(f"{API}/teacher/students", headers=auth(world.other_teacher))
    assert other.status_code == 200 and str(world.student.id) not in other.text
    mine = await client.get(f"{API}/chat/sessions", headers=stranger)
    assert world.chat_sessions[STUDENT] not in mine.text


# ================================================================== API2 (authentication)


async def test_api2_broken_authentication_forged_expired_and_misused_tokens_are_refused(
    client: httpx.AsyncClient, settings: Settings, student: User, auth: Headers
) -> None:
    me = f"{API}/users/me"
    assert (await client.get(me, headers=auth(student))).status_code == 200

    def token(**change: Any) -> str:
        values: dict[str, Any] = {
            "subject": str(student.id),
            "token_type": "access",
            "secret": settings.jwt_secret,
            "issuer": settings.jwt_issuer,
            "audience": settings.jwt_audience,
            "now": utcnow(),
            "ttl_s": 300,
            "claims": {"role": "admin", "ver": student.auth_version},
        }
        values.update(change)
        return encode_jwt(**values)[0]

    unsigned = jwt.encode(
        {"sub": str(student.id), "type": "access", "exp": int(time.time()) + 300},
        key=None,
        algorithm="none",
    )
    forged = {
        "another key": token(secret="another-secret-key-of-the-same-length-0123456789"),
        "expired": token(now=utcnow() - timedelta(hours=1)),
        "a refresh token": token(token_type="refresh"),
        "another issuer": token(issuer="evil"),
        "another audience": token(audience="other-api"),
        "alg none": unsigned,
        "garbage": "not.a.jwt",
        "an old auth version": token(claims={"role": "student", "ver": student.auth_version - 1}),
    }
    for why, value in forged.items():
        response = await client.get(me, headers={"Authorization": f"Bearer {value}"})
        assert response.status_code == 401, why
        assert response.headers["www-authenticate"] == "Bearer", why
        assert response.json()["code"] in ("invalid_token", "token_revoked"), why
    # The role claim is not trusted: the account's own role decides (student → 403 here).
    promoted = await client.get(
        f"{API}/admin/users", headers={"Authorization": f"Bearer {token()}"}
    )
    assert promoted.status_code == 403


async def test_api2_broken_authentication_blocked_deleted_and_revoked_credentials_stop_at_once(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    admin = auth(world.admin)
    student_headers = auth(world.student)
    assert (await client.get(f"{API}/users/me", headers=student_headers)).status_code == 200
    blocked = await client.patch(
        f"{API}/admin/users/{world.student.id}", json={"is_active": False}, headers=admin
    )
    assert blocked.status_code == 200
    assert (await client.get(f"{API}/users/me", headers=student_headers)).status_code == 401

    key_headers = {"X-API-Key": world.api_key_secret}
    assert (await client.get(f"{API}/courses", headers=key_headers)).status_code == 200
    # The key is read-only: it may not write, and it is not an admin key.
    write = await client.post(
        f"{API}/courses", json={"code": "KEY001", "title": "x"}, headers=key_headers
    )
    assert write.status_code == 403
    as_admin = await client.get(f"{API}/courses", headers={"X-Admin-Key": world.api_key_secret})
    assert as_admin.status_code == 401
    revoked = await client.delete(f"{API}/admin/api-keys/{world.api_key}", headers=admin)
    assert revoked.status_code == 204
    assert (await client.get(f"{API}/courses", headers=key_headers)).status_code == 401

    teacher_headers = auth(world.other_teacher)
    deleted = await client.delete(f"{API}/admin/users/{world.other_teacher.id}", headers=admin)
    assert deleted.status_code == 204
    assert (await client.get(f"{API}/users/me", headers=teacher_headers)).status_code == 401


async def test_api2_broken_authentication_login_is_uniform_and_rate_limited(
    client: httpx.AsyncClient, student: User
) -> None:
    unknown = await client.post(
        f"{API}/auth/login", json={"email": "nobody@example.org", "password": "Wrong-password-1"}
    )
    wrong = await client.post(
        f"{API}/auth/login", json={"email": student.email, "password": "Wrong-password-1"}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    statuses = []
    for _ in range(6):
        r = await client.post(
            f"{API}/auth/login", json={"email": student.email, "password": "Wrong-password-2"}
        )
        statuses.append(r.status_code)
    assert 429 in statuses
    # Even the right password waits once the account is locked for a while.
    limited = await client.post(
        f"{API}/auth/login", json={"email": student.email, "password": TEST_PASSWORD}
    )
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_api2_broken_authentication_reused_refresh_token_revokes_the_session(
    client: httpx.AsyncClient, student: User
) -> None:
    pair = (
        await client.post(
            f"{API}/auth/login", json={"email": student.email, "password": TEST_PASSWORD}
        )
    ).json()
    first = pair["refresh_token"]
    rotated = await client.post(f"{API}/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    # Later than the grace period of RFC 9700 §4.14.2 (a replay that soon gets the same pair).
    clock.advance(identity_service.REFRESH_REUSE_GRACE + timedelta(seconds=1))
    replayed = await client.post(f"{API}/auth/refresh", json={"refresh_token": first})
    assert replayed.status_code == 401
    # The theft is detected: the whole family, including the newest token, is revoked.
    assert (
        await client.post(f"{API}/auth/refresh", json={"refresh_token": second})
    ).status_code == 401


# ====================================================== API3 (object property level)

# Fields that decide who owns, may do or has what: a client must never set one that the
# operation does not explicitly offer.
SENSITIVE_FIELDS = {
    "id": str(uuid.uuid4()),
    "role": "admin",
    "is_active": True,
    "is_verified": True,
    "is_service": True,
    "is_admin": True,
    "hint_level": 5,
    "auth_version": 0,
    "password_hash": "not-a-real-hash",
    "owner_id": str(uuid.uuid4()),
    "user_id": str(uuid.uuid4()),
    "student_id": str(uuid.uuid4()),
    "teacher_id": str(uuid.uuid4()),
    "created_by": str(uuid.uuid4()),
    "balance": 10**9,
    "reserved": 0,
    "available": 10**9,
    "tier": "premium",
    "daily_limit": 10**9,
    "used_today": 0,
    "score": 100,
    "status": "succeeded",
    "created_at": "2020-01-01T00:00:00Z",
}


def _body_properties(spec: dict[str, Any], operation: dict[str, Any]) -> set[str] | None:
    """Property names of an operation's JSON body (None: no JSON object body)."""
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    names: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if "$ref" in node:
            node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        names |= set(node.get("properties", {}))
        for keyword in ("anyOf", "oneOf", "allOf"):
            pending.extend(n for n in node.get(keyword, []) if n.get("type") != "array")
    return names


def _caller(key: str) -> str:
    allowed = ACCESS[key]
    for role in (ADMIN, TEACHER, STUDENT, ANONYMOUS):
        if role in allowed:
            return role
    raise AssertionError(key)


# One request per writable field of every write route (several hundred): minutes on a busy
# 2-core machine, and more with every route added.
@pytest.mark.timeout(600)
async def test_api3_property_level_mass_assignment_is_refused_on_every_write(
    app: FastAPI, client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    spec = app.openapi()
    problems: list[str] = []
    checked = 0
    for key in route_keys(app):
        method, template = key.split(" ", 1)
        if method not in WRITES:
            continue
        operation = spec["paths"][template][method.lower()]
        declared = _body_properties(spec, operation)
        if declared is None:
            continue
        role = _caller(key)
        headers = {} if role == ANONYMOUS else auth(world.user(role))
        path = fill(template, path_ids(world, template, role))
        for name, value in SENSITIVE_FIELDS.items():
            if name in declared:
                continue
            body = {**request_body(world, key), name: value}
            response = await client.request(method, path, json=body, headers=headers)
            refused = response.status_code == 403 or (
                response.status_code == 422 and name in response.text
            )
            if not refused:
                problems.append(f"{key} +{name}: {response.status_code} {response.text[:120]}")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 500


async def test_api3_property_level_offered_sensitive_fields_stay_in_their_lane(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    # Registration always makes a student.
    for role in ("admin", "teacher", "ADMIN", "Professor"):
        r = await client.post(
            f"{API}/auth/register",
            json={
                "email": f"{uuid.uuid4().hex[:8]}@example.org",
                "password": "Long-and-unusual-passphrase-7",
                "full_name": "Mallory",
                "role": role,
            },
        )
        assert r.status_code == 403, role
    # A teacher cannot create a course owned by someone else, nor move one.
    teacher = auth(world.teacher)
    r = await client.post(
        f"{API}/courses",
        json={"code": "MASS01", "title": "x", "teacher_id": str(world.other_teacher.id)},
        headers=teacher,
    )
    assert r.status_code in (403, 422), r.text
    r = await client.patch(
        f"{API}/courses/{world.published.course}",
        json={"teacher_id": str(world.other_teacher.id)},
        headers=teacher,
    )
    assert r.status_code == 403
    # Users cannot change their own role, state, hint level or balance.
    for field, value in (
        ("role", "admin"),
        ("is_active", True),
        ("hint_level", 5),
        ("balance", 10**9),
    ):
        r = await client.patch(f"{API}/users/me", json={field: value}, headers=auth(world.student))
        assert r.status_code == 403, field
    me = (await client.get(f"{API}/users/me", headers=auth(world.student))).json()
    assert me["role"] == "student" and me["hint_level"] == 3


async def test_api3_property_level_responses_hold_no_secret_fields(
    client: httpx.AsyncClient, world: World, auth: Headers, recorder: Recorder
) -> None:
    admin = auth(world.admin)
    pages = [
        f"{API}/admin/users?limit=100",
        f"{API}/admin/users/{world.student.id}",
        f"{API}/admin/api-keys",
        f"{API}/admin/audit-logs?limit=100",
        f"{API}/admin/jobs?limit=100",
        f"{API}/admin/stats",
        f"{API}/admin/transactions",
        f"{API}/users/me",
        f"{API}/courses/{world.published.course}",
        f"{API}/courses/{world.published.course}/students",
        f"{API}/submissions/{world.submission}",
        f"{API}/system/info",
    ]
    for page in pages:
        assert (await client.get(page, headers=admin)).status_code == 200, page
    # The student sees the quiz without answers or explanations.
    quiz = await client.get(f"{API}/quizzes/{world.draft.quiz}", headers=auth(world.teacher))
    assert quiz.status_code == 200
    student_quiz = await client.get(
        f"{API}/quizzes/{world.published.quiz}", headers=auth(world.student)
    )
    for question in student_quiz.json()["questions"]:
        assert "answer" not in question and "explanation" not in question
    forbidden_keys = re.compile(
        r'"(password|password_hash|hashed_password|key_hash|token_hash|secret|secret_key|'
        r'refresh_token_hash|storage_key|file_key|auth_version)"\s*:'
    )
    for seen in recorder.responses:
        if seen.path in (f"{API}/auth/login", f"{API}/auth/token", "/openapi.json"):
            continue
        assert not forbidden_keys.search(seen.body), (seen.path, forbidden_keys.search(seen.body))
    keys = (await client.get(f"{API}/admin/api-keys", headers=admin)).json()["items"]
    assert keys and all("key" not in k and k["prefix"] for k in keys)
    assert all(not world.api_key_secret.startswith(k["prefix"] + "x") for k in keys)


# ================================================================ API4 (resource limits)


async def test_api4_resource_consumption_page_size_over_100_is_422_everywhere(
    app: FastAPI, client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    spec = app.openapi()
    listed = 0
    for key in route_keys(app):
        method, template = key.split(" ", 1)
        if method != "GET":
            continue
        params = {p["name"] for p in spec["paths"][template]["get"].get("parameters", [])}
        if "limit" not in params:
            continue
        role = _caller(key)
        headers = {} if role == ANONYMOUS else auth(world.user(role))
        path = fill(template, path_ids(world, template, role))
        too_many = await client.get(path, params={"limit": 101}, headers=headers)
        assert too_many.status_code == 422, (key, too_many.text)
        assert too_many.json()["detail"][0]["loc"] == ["query", "limit"]
        most = await client.get(path, params={"limit": 100}, headers=headers)
        assert most.status_code == 200, (key, most.text)
        assert "limit" not in most.json() or most.json()["limit"] == 100
        for bad in ({"limit": 0}, {"offset": -1}, {"offset": 10**7}):
            assert (await client.get(path, params=bad, headers=headers)).status_code == 422
        listed += 1
    assert listed >= 25


@pytest.fixture
async def small_limits(settings: Settings, recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    """An app with a 64 KiB request body limit and 32 KiB uploads (same database)."""
    knowledge = settings.knowledge.model_copy(update={"max_upload_bytes": 32 * 1024})
    limited = settings.model_copy(
        update={"knowledge": knowledge, "max_request_body_bytes": 64 * 1024}
    )
    app = create_app(limited, run_worker=False)
    async with recorder.client(app) as c:
        yield c
    await app.state.db.dispose()


async def test_api4_resource_consumption_request_bodies_have_a_ceiling(
    small_limits: httpx.AsyncClient, client: httpx.AsyncClient, student: User, auth: Headers
) -> None:
    assert DEFAULT_MAX_REQUEST_BODY_BYTES == 60 * 1024 * 1024
    big = b'{"email": "a@example.org", "password": "' + b"x" * (70 * 1024) + b'"}'
    login = f"{API}/auth/login"
    declared = await small_limits.post(
        login, content=big, headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the limit is counted as the bytes arrive.
        for _ in range(70):
            yield b" " * 1024

    streamed = await small_limits.post(
        f"{API}/users/me/prompts",
        content=chunks(),
        headers={"Content-Type": "application/json", **auth(student)},
    )
    assert streamed.status_code == 413 and streamed.json()["code"] == "payload_too_large"
    fine = await small_limits.post(
        f"{API}/users/me/prompts", json={"title": "t", "prompt_text": "p"}, headers=auth(student)
    )
    assert fine.status_code == 201

    # The default ceiling (60 MiB) applies to the real app too.
    async def huge() -> AsyncIterator[bytes]:
        for _ in range(61):
            yield b" " * (1024 * 1024)

    ceiling = await client.post(login, content=huge(), headers={"Content-Type": "application/json"})
    assert ceiling.status_code == 413


async def test_api4_resource_consumption_uploads_have_their_own_lower_limits(
    small_limits: httpx.AsyncClient, client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    teacher = auth(world.teacher)
    upload = await small_limits.post(
        f"{API}/courses/{world.published.course}/documents",
        files={"file": ("big.md", b"# big\n" + b"a" * (40 * 1024), "text/markdown")},
        headers=teacher,
    )
    assert upload.status_code == 413, upload.text
    # Assignment files: 10 MiB at most.
    too_big = await client.post(
        f"{API}/assignments/{world.published.assignment}/submissions",
        files={"file": ("big.txt", b"a" * (10 * 1024 * 1024 + 1), "text/plain")},
        data={"content": "x"},
        headers=auth(world.student),
    )
    assert too_big.status_code == 413, too_big.text


async def test_api4_resource_consumption_tutor_prompts_are_bounded_and_rate_limited(
    settings: Settings, client: httpx.AsyncClient, world: World, auth: Headers, recorder: Recorder
) -> None:
    student = auth(world.student)
    session = world.chat_sessions[STUDENT]
    long = "x" * 8001
    for path, body in (
        (f"{API}/chat/sessions/{session}/messages", {"content": long}),
        (f"{API}/chat", {"course_id": world.published.course, "content": long}),
    ):
        r = await client.post(path, json=body, headers=student)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "content"
    limits = settings.rate_limits.model_copy(update={"tutor_per_user": "2/minute"})
    app = create_app(settings.model_copy(update={"rate_limits": limits}), run_worker=False)
    try:
        async with recorder.client(app, timeout=30) as limited:
            statuses = []
            for _ in range(3):
                r = await limited.post(
                    f"{API}/chat/sessions/{session}/messages",
                    json={"content": "What do plants need?"},
                    headers=student,
                )
                statuses.append(r.status_code)
            assert statuses[:2] == [200, 200], statuses
            assert statuses[2] == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        from studyhall.tutor.providers.factory import aclose_provider

        await aclose_provider(app)
        await app.state.db.dispose()


# ============================================================ API5 (function level)


async def test_api5_function_level_every_route_is_in_the_access_table(app: FastAPI) -> None:
    routes = set(route_keys(app))
    missing = sorted(routes - ACCESS.keys())
    stale = sorted(ACCESS.keys() - routes)
    assert not missing, f"routes without an expected-role entry in access.py: {missing}"
    assert not stale, f"entries for routes that no longer exist: {stale}"


@pytest.mark.parametrize("role", ROLES)
async def test_api5_function_level_authorization_for_every_route(
    role: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth: Headers,
    db: Database,
    settings: Settings,
) -> None:
    world = await build_world(client, make_user, auth, db)
    # Ingested documents, so the library and chunk routes have something to show.
    await Worker(db, settings, app.state.storage, name="owasp").run_until_idle()
    headers = {} if role == ANONYMOUS else auth(world.user(role))
    problems: list[str] = []
    for key in sorted(route_keys(app), key=_order):
        template = key.split(" ", 1)[1]
        path = fill(template, path_ids(world, template, role))
        response = await send(client, key, path, headers, request_body(world, key))
        status = response.status_code
        if role in ACCESS[key]:
            # A refresh token is a credential in the body: its 401 is about the token.
            refused = (403,) if key == "POST /api/v1/auth/refresh" else (401, 403)
            ok = status not in refused and status < 500
            if key in UNAVAILABLE_PEER and status == 503:
                ok = response.json()["code"] == UNAVAILABLE_PEER[key]
        elif role == ANONYMOUS:
            ok = status == 401 and response.headers.get("www-authenticate") == "Bearer"
        else:
            ok = status in (403, 404)
        if not ok:
            problems.append(f"{key} as {role}: {status} {response.text[:150]}")
    assert not problems, "\n".join(problems)


async def test_api5_function_level_api_keys_act_within_their_role_and_scope(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    admin = auth(world.admin)

    async def key(scopes: list[str], role: str) -> dict[str, str]:
        created = await client.post(
            f"{API}/admin/api-keys",
            json={"name": f"{role}-{'-'.join(scopes)}", "scopes": scopes, "acts_as_role": role},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        return {"X-API-Key": created.json()["key"]}

    teacher_rw = await key(["read", "write"], "teacher")
    assert (await client.get(f"{API}/admin/users", headers=teacher_rw)).status_code == 403
    made = await client.post(
        f"{API}/courses", json={"code": "KEYW01", "title": "By key"}, headers=teacher_rw
    )
    assert made.status_code == 201
    admin_key = await key(["admin"], "admin")
    assert (await client.get(f"{API}/admin/users", headers=admin_key)).status_code == 200
    admin_header = {"X-Admin-Key": admin_key["X-API-Key"]}
    assert (await client.get(f"{API}/admin/stats", headers=admin_header)).status_code == 200


# ========================================================= API6 (sensitive business flows)


async def test_api6_business_flows_signups_and_address_probing_are_throttled(
    client: httpx.AsyncClient,
) -> None:
    statuses = []
    for i in range(12):
        r = await client.post(
            f"{API}/auth/register",
            json={
                "email": f"bot{i}-{uuid.uuid4().hex[:6]}@example.org",
                "password": "Long-and-unusual-passphrase-7",
                "full_name": "Bot",
            },
        )
        statuses.append(r.status_code)
    assert statuses[:10] == [201] * 10 and statuses[10:] == [429, 429]
    probes = [
        (await client.post(f"{API}/auth/check-email", json={"email": f"p{i}@example.org"}))
        for i in range(21)
    ]
    assert probes[-1].status_code == 429 and "retry-after" in probes[-1].headers
    forgot = [
        (await client.post(f"{API}/auth/password/forgot", json={"email": "victim@example.org"}))
        for _ in range(6)
    ]
    assert forgot[-1].status_code == 429


async def test_api6_business_flows_tokens_and_money_move_exactly_once(
    client: httpx.AsyncClient, world: World, auth: Headers, stripe_peer: StripePeer
) -> None:
    admin = {**auth(world.admin), "Idempotency-Key": "topup-once-1"}
    target = f"{API}/admin/wallets/{world.student.id}/topup"
    before = (await client.get(f"{API}/wallet", headers=auth(world.student))).json()["balance"]
    first = await client.post(target, json={"amount": 500, "reason": "prize"}, headers=admin)
    again = await client.post(target, json={"amount": 500, "reason": "prize"}, headers=admin)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await client.post(target, json={"amount": 900, "reason": "prize"}, headers=admin)
    assert other.status_code == 409
    after = (await client.get(f"{API}/wallet", headers=auth(world.student))).json()["balance"]
    assert after == before + 500

    # A paid package is credited once, however often the provider delivers the event.
    checkout = await client.post(
        f"{API}/payments/checkout", json={"package_id": "small"}, headers=auth(world.student)
    )
    assert checkout.status_code == 201, checkout.text
    event = stripe_peer.succeeded_event(checkout.json()["payment_id"])
    payload = json.dumps(event).encode()
    for _ in range(3):
        delivered = await client.post(
            f"{API}/payments/webhook",
            content=payload,
            headers={"Stripe-Signature": sign(payload)},
        )
        assert delivered.status_code == 200
    credited = (await client.get(f"{API}/wallet", headers=auth(world.student))).json()
    assert credited["balance"] == after + 100_000


async def test_api6_business_flows_quiz_attempts_and_enrollment_cannot_be_farmed(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    teacher, student = auth(world.teacher), auth(world.student)
    quiz = await client.post(
        f"{API}/courses/{world.published.course}/quizzes",
        json={
            "title": "One shot",
            "max_attempts": 1,
            "questions": [{"prompt": "1+1?", "kind": "short", "answer": "2"}],
        },
        headers=teacher,
    )
    assert quiz.status_code == 201
    path = f"{API}/quizzes/{quiz.json()['id']}/attempts"
    assert (await client.post(path, json={"answers": ["3"]}, headers=student)).status_code == 200
    second = await client.post(path, json={"answers": ["2"]}, headers=student)
    assert second.status_code == 409
    again = await client.post(f"{API}/courses/{world.published.course}/enroll", headers=student)
    assert again.status_code == 409


# ========================================================================== API7 (SSRF)


@pytest.fixture
def site() -> Any:
    """A local portal on 127.0.0.1 that redirects to addresses a crawler must refuse."""
    with serve_site() as s:
        s.page("/index.html", '<a href="/books/a.pdf">A</a><a href="/hop">hop</a>')
        s.pdf("/books/a.pdf", b"%PDF-1.4 placeholder")
        s.redirect("/hop", "http://169.254.169.254/latest/meta-data/")
        yield s


async def test_api7_ssrf_sources_and_downloads_never_reach_private_addresses(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,
    auth: Headers,
    settings: Settings,
    db: Database,
    site: HTTPSite,
) -> None:
    admin = auth(world.admin)
    for bad in ("file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.org/", "//x"):
        r = await client.post(f"{API}/admin/sources", json={"name": "x", "url": bad}, headers=admin)
        assert r.status_code == 422, bad
    worker = Worker(db, settings, app.state.storage, name="ssrf")
    targets = (
        site.url("/index.html"),
        f"http://localhost:{site.port}/index.html",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
        "http://10.0.0.1/",
    )
    for url in targets:
        source = (
            await client.post(f"{API}/admin/sources", json={"name": "s", "url": url}, headers=admin)
        ).json()
        sync = await client.post(f"{API}/admin/sources/{source['id']}/sync", headers=admin)
        assert sync.status_code == 202
        await worker.run_until_idle()
        run = (await client.get(f"{API}/admin/sources/{source['id']}/runs", headers=admin)).json()
        assert run["items"][0]["status"] == "failed", url
    # The world's discovered reference points at a public name; one pointing inside is refused
    # at download time (the address is checked at every request, not only when registered).
    assert sum(site.hits.values()) == 0
    # Redirects are followed by hand and each hop is checked: the intranet portal is allowed
    # here, the metadata address it redirects to is not.
    app.state.settings.knowledge.crawl_allowed_networks = ["127.0.0.1/32"]
    try:
        source = (
            await client.post(
                f"{API}/admin/sources",
                json={"name": "intranet", "url": site.url("/index.html")},
                headers=admin,
            )
        ).json()
        await client.post(f"{API}/admin/sources/{source['id']}/sync", headers=admin)
        await worker.run_until_idle()
        run = (await client.get(f"{API}/admin/sources/{source['id']}/runs", headers=admin)).json()
        assert run["items"][0]["status"] == "succeeded", run
        assert site.hits["/index.html"] == 1
        assert json.dumps(run).count("169.254.169.254") >= 1  # reported as skipped
    finally:
        app.state.settings.knowledge.crawl_allowed_networks = []


# ============================================================= API8 (misconfiguration)


async def test_api8_misconfiguration_security_headers_on_every_kind_of_answer(
    client: httpx.AsyncClient, student: User, auth: Headers
) -> None:
    answers = [
        await client.get("/health"),
        await client.get(f"{API}/users/me", headers=auth(student)),
        await client.get(f"{API}/users/me"),
        await client.get(f"{API}/no-such-route"),
        await client.request("TRACE", f"{API}/users/me"),
        await client.post(
            f"{API}/auth/login", content=b"{", headers={"content-type": "application/json"}
        ),
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 404, 405, 422]
    for answer in answers:
        h = answer.headers
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in h["content-security-policy"]
        assert h["x-request-id"]
        assert "server" not in h or "uvicorn" not in h["server"].lower()
        assert answer.headers["content-type"].startswith("application/json")
    assert answers[4].headers["allow"] == "DELETE, GET, PATCH"
    assert answers[3].json() == {"detail": "Not Found", "code": "not_found"}


async def test_api8_misconfiguration_hostile_input_is_a_clean_422_never_a_500(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    student, admin = auth(world.student), auth(world.admin)
    as_json = {"Content-Type": "application/json"}
    prompts = f"{API}/users/me/prompts"
    cases: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        # NUL: PostgreSQL cannot store it, so it must never reach a query.
        ("POST", prompts, {"json": {"title": "a\x00b", "prompt_text": "x"}}, student),
        ("GET", f"{API}/courses?search=a%00b", {}, student),
        ("GET", f"{API}/admin/users?search=%00", {}, admin),
        ("POST", f"{API}/auth/token", {"data": {"username": "a\x00", "password": "x"}}, {}),
        # Not Unicode, not UTF-8, nested beyond reason, not a finite number.
        ("POST", prompts, {"content": b'{"title": "a\\ud800", "prompt_text": "x"}'}, student),
        ("POST", prompts, {"content": b'{"title": "\xff\xfe", "prompt_text": "x"}'}, student),
        ("POST", prompts, {"content": b"[" * 50_000}, student),
        (
            "PUT",
            f"{API}/lessons/{world.published.lesson}/progress",
            {"content": b'{"video_position_s": NaN}'},
            student,
        ),
        (
            "POST",
            f"{API}/quizzes/{world.published.quiz}/attempts",
            {"content": b'{"answers": ["4", true], "time_spent_s": 1e999}'},
            student,
        ),
        # Longer than the column that would keep it.
        (
            "POST",
            f"{API}/admin/sources",
            {"json": {"name": "x", "url": "https://" + "a" * 2100 + ".example.org/"}},
            admin,
        ),
    ]
    for method, path, kwargs, headers in cases:
        extra = as_json if "content" in kwargs else {}
        r = await client.request(method, path, headers={**headers, **extra}, **kwargs)
        assert r.status_code == 422, (method, path, r.status_code, r.text[:200])
        assert isinstance(r.json()["detail"], list)


async def test_api8_misconfiguration_a_crash_shows_no_stack_trace(
    settings: Settings, recorder: Recorder
) -> None:
    app = create_app(settings, run_worker=False)

    async def explode() -> dict[str, str]:
        raise RuntimeError("database password is hunter2 at /srv/studyhall/secret.py line 42")

    app.add_api_route("/test-only/explode", explode)
    try:
        async with recorder.client(app, transport_kwargs={"raise_app_exceptions": False}) as c:
            r = await c.get("/test-only/explode")
    finally:
        await app.state.db.dispose()
    assert r.status_code == 500
    assert r.json() == {"detail": "Internal server error", "code": "internal_error"}
    for clue in ("Traceback", "hunter2", "RuntimeError", "secret.py", 'File "'):
        assert clue not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_api8_misconfiguration_cors_is_closed_by_default_and_exact_when_configured(
    settings: Settings, client: httpx.AsyncClient, recorder: Recorder
) -> None:
    evil = {"Origin": "https://evil.example.com"}
    preflight = {**evil, "Access-Control-Request-Method": "GET"}
    default = await client.get("/health", headers=evil)
    assert "access-control-allow-origin" not in default.headers
    app = create_app(
        settings.model_copy(update={"cors_origins": ["https://app.example.org"]}), run_worker=False
    )
    try:
        async with recorder.client(app) as c:
            refused = await c.options(f"{API}/users/me", headers=preflight)
            assert refused.headers.get("access-control-allow-origin") is None
            simple = await c.get("/health", headers=evil)
            assert simple.headers.get("access-control-allow-origin") is None
            allowed = await c.options(
                f"{API}/users/me",
                headers={
                    "Origin": "https://app.example.org",
                    "Access-Control-Request-Method": "GET",
                },
            )
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == "https://app.example.org"
            assert allowed.headers["access-control-allow-origin"] != "*"
    finally:
        await app.state.db.dispose()


async def test_api8_misconfiguration_docs_schema_and_system_info_are_safe(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        r = await client.get(path)
        assert r.status_code == 200, path
    docs = await client.get("/docs")
    # The docs page loads Swagger's assets, so it is the one page without the API's CSP.
    assert "default-src 'none'" not in docs.headers.get("content-security-policy", "")
    assert docs.headers["x-frame-options"] == "DENY"
    info = (await client.get(f"{API}/system/info")).json()
    assert set(info) == {"version", "llm_provider", "llm_model", "embedding_model", "status"}
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert {"OAuth2PasswordBearer", "ApiKey", "AdminKey"} <= set(schemes)
    assert settings.environment != "production" or not settings.db_echo


async def test_api5_function_level_the_workspace_proxy_lets_only_the_owner_through(
    app: FastAPI, client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    proxied = {
        r.path
        for r in iter_routes(app)
        if r.path.startswith("/workspaces/") and not isinstance(r.route, Mount)
    }
    assert proxied == PROXY_ROUTES, "a route under /workspaces/ without a decision in access.py"
    own = f"/workspaces/{world.workspace}/lab/tree"
    unknown = f"/workspaces/{uuid.uuid4()}/lab/tree"
    cases = [
        (own, {}, 401),
        (own, auth(world.other_student), 403),
        (own, auth(world.teacher), 403),
        (own, auth(world.admin), 403),
        (unknown, auth(world.student), 404),
        ("/workspaces/not-an-id/lab", auth(world.student), 404),
        # The owner's workspace is not running (the world has no engine).
        (own, auth(world.student), 409),
    ]
    problems = []
    for path, headers, expected in cases:
        for method in PROXY_METHODS:
            answer = await client.request(method, path, headers=headers)
            body = answer.json() if method != "HEAD" else {"code": "?"}
            if answer.status_code != expected or (method != "HEAD" and "code" not in body):
                problems.append(f"{method} {path}: {answer.status_code}, expected {expected}")
            if expected == 401 and answer.headers.get("www-authenticate") != "Bearer":
                problems.append(f"{method} {path}: 401 without WWW-Authenticate")
    assert not problems, "\n".join(problems)


# ================================================================== API9 (inventory)


async def test_api9_inventory_routes_equal_the_openapi_operations(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    spec = (await client.get("/openapi.json")).json()
    documented = sorted(
        f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item
    )
    assert route_keys(app) == documented
    system = {"/health", "/health/ready", "/metrics"}
    for key in documented:
        path = key.split(" ", 1)[1]
        assert path.startswith(f"{API}/") or path in system, key
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary") and operation.get("responses"), (method, path)
            assert not operation.get("deprecated"), (method, path)
    assert spec["info"]["version"]


async def test_api9_inventory_routes_outside_the_schema_say_why(app: FastAPI) -> None:
    # A JSON API route hidden from the schema would escape every table here: only protocol
    # endpoints (tus) may be, each with its reason in openapi_extra["x-unlisted"], and each is
    # tested where it is implemented.
    from fastapi.routing import APIRoute

    from studyhall.core.routes import iter_routes

    unlisted = [
        r
        for r in iter_routes(app)
        if isinstance(r.route, APIRoute)
        and not r.route.include_in_schema
        and r.path.startswith(f"{API}/")
    ]
    for r in unlisted:
        assert isinstance(r.route, APIRoute)
        reason = (r.route.openapi_extra or {}).get("x-unlisted")
        assert reason and len(reason) > 20, (
            f"{sorted(r.methods)} {r.path} is unlisted without a reason"
        )
    assert {m for r in unlisted for m in r.methods} >= {
        "HEAD",
        "PATCH",
        "OPTIONS",
        "POST",
        "DELETE",
    }


async def test_api9_inventory_documented_errors_match_the_auth_on_each_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    spec = (await client.get("/openapi.json")).json()
    for key in route_keys(app):
        method, path = key.split(" ", 1)
        responses = spec["paths"][path][method.lower()]["responses"]
        if ANONYMOUS not in ACCESS[key]:
            assert "401" in responses, key
        if ACCESS[key] != PUBLIC and ACCESS[key] != frozenset({STUDENT, TEACHER, ADMIN}):
            assert "403" in responses, key
        if "{" in path:
            assert "404" in responses, key


# ===================================================== API10 (unsafe consumption)


async def test_api10_unsafe_consumption_forged_or_malformed_provider_events_are_refused(
    client: httpx.AsyncClient, world: World, auth: Headers, stripe_peer: StripePeer
) -> None:
    checkout = await client.post(
        f"{API}/payments/checkout", json={"package_id": "small"}, headers=auth(world.student)
    )
    event = stripe_peer.succeeded_event(checkout.json()["payment_id"])
    payload = json.dumps(event).encode()
    before = (await client.get(f"{API}/wallet", headers=auth(world.student))).json()["balance"]
    forged = await client.post(
        f"{API}/payments/webhook",
        content=payload,
        headers={"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"},
    )
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_webhook_signature"
    unsigned = await client.post(f"{API}/payments/webhook", content=payload)
    assert unsigned.status_code == 400
    junk = b"this is not json"
    malformed = await client.post(
        f"{API}/payments/webhook",
        content=junk,
        headers={"Stripe-Signature": sign(junk)},
    )
    assert malformed.status_code == 400
    # A genuine event about a payment that is not ours (no checkout of ours, none of the
    # metadata our checkout sets) credits nobody.
    stranger = json.loads(payload)
    stranger["id"] = "evt_" + uuid.uuid4().hex
    stranger["data"]["object"]["id"] = "pi_unknown_" + uuid.uuid4().hex
    stranger["data"]["object"]["metadata"] = {}
    body = json.dumps(stranger).encode()
    ignored = await client.post(
        f"{API}/payments/webhook",
        content=body,
        headers={"Stripe-Signature": sign(body)},
    )
    assert ignored.status_code == 200 and ignored.json()["outcome"] == "ignored"
    after = (await client.get(f"{API}/wallet", headers=auth(world.student))).json()["balance"]
    assert after == before


async def test_api10_unsafe_consumption_a_failing_provider_is_a_clean_error(
    client: httpx.AsyncClient,
    world: World,
    auth: Headers,
    stripe_peer: StripePeer,
    settings: Settings,
    recorder: Recorder,
) -> None:
    # The payment provider is unreachable: 502 with a clear detail, no secret, no crash.
    billing = settings.billing.model_copy(update={"stripe_api_base": "http://127.0.0.1:9"})
    down = create_app(settings.model_copy(update={"billing": billing}), run_worker=False)
    try:
        async with recorder.client(down, timeout=60) as c:
            failed = await c.post(
                f"{API}/payments/checkout",
                json={"package_id": "small"},
                headers=auth(world.student),
            )
    finally:
        await down.state.db.dispose()
    assert failed.status_code == 502 and failed.json()["code"] == "payment_provider_error"
    assert "Traceback" not in failed.text
    # The tutor's model endpoint is down: 503 with a clear detail, and nothing is charged.
    llm = settings.llm.model_copy(
        update={
            "provider": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key": "sk-x",
            "max_retries": 0,
            "timeout_s": 2.0,
        }
    )
    app = create_app(settings.model_copy(update={"llm": llm}), run_worker=False)
    student = auth(world.student)
    try:
        async with recorder.client(app, timeout=30) as c:
            wallet = (await c.get(f"{API}/wallet", headers=student)).json()
            r = await c.post(
                f"{API}/chat/sessions/{world.chat_sessions[STUDENT]}/messages",
                json={"content": "What do plants need?"},
                headers=student,
            )
            assert r.status_code == 503, r.text
            assert r.json()["detail"] and "Traceback" not in r.text
            assert (await c.get(f"{API}/wallet", headers=student)).json() == wallet
    finally:
        from studyhall.tutor.providers.factory import aclose_provider

        await aclose_provider(app)
        await app.state.db.dispose()
