"""/users: own profile, saved prompts, other users' public profiles."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.audit.models import AuditLog
from studyhall.core.db import Database
from studyhall.core.errors import Conflict
from studyhall.identity import deletion
from studyhall.identity import service as identity_service
from studyhall.identity.models import RefreshToken, Role, SavedPrompt, User
from tests.conftest import MakeUser
from tests.identity.conftest import API, Auth, Login, audit_rows, bearer


async def test_get_me(client: httpx.AsyncClient, student: User, auth: Auth) -> None:
    response = await client.get(f"{API}/users/me", headers=auth(student))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "email",
        "username",
        "full_name",
        "given_name",
        "family_name",
        "role",
        "is_verified",
        "hint_level",
        "track",
        "preferences",
        "created_at",
    }
    assert body["id"] == str(student.id)
    assert body["hint_level"] == 3
    assert body["preferences"] == {"theme": "system", "notifications": True, "language": "en"}


async def test_a_bootcamp_track_is_chosen_at_sign_up_and_changed_by_an_admin(
    client: httpx.AsyncClient, admin: User, auth: Auth
) -> None:
    r = await client.post(
        f"{API}/auth/register",
        json={
            "email": "tracked@example.org",
            "password": "Marigold-Quartz-Canyon-58",
            "full_name": "Tracked Learner",
            "track": "DP",
        },
    )
    assert r.status_code == 201 and r.json()["track"] == "DP"
    user_id = r.json()["id"]
    r = await client.patch(
        f"{API}/admin/users/{user_id}", json={"track": "FSD"}, headers=auth(admin)
    )
    assert r.status_code == 200 and r.json()["track"] == "FSD"
    r = await client.post(
        f"{API}/auth/register",
        json={
            "email": "badtrack@example.org",
            "password": "Marigold-Quartz-Canyon-58",
            "full_name": "Bad Track",
            "track": "no spaces allowed",
        },
    )
    assert r.status_code == 422


async def test_get_me_needs_auth(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/users/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Not authenticated", "code": "not_authenticated"}


async def test_patch_me(client: httpx.AsyncClient, student: User, auth: Auth) -> None:
    response = await client.patch(
        f"{API}/users/me",
        json={
            "full_name": "  Marie Curie ",
            "username": "MCurie",
            "preferences": {"theme": "dark", "language": "fr"},
        },
        headers=auth(student),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["full_name"] == "Marie Curie"
    assert body["username"] == "mcurie"
    assert body["preferences"] == {"theme": "dark", "notifications": True, "language": "fr"}
    assert body["is_verified"] is True  # email unchanged
    # Preferences merge: a later partial update keeps the rest.
    response = await client.patch(
        f"{API}/users/me", json={"preferences": {"notifications": False}}, headers=auth(student)
    )
    assert response.json()["preferences"] == {
        "theme": "dark",
        "notifications": False,
        "language": "fr",
    }
    again = await client.get(f"{API}/users/me", headers=auth(student))
    assert again.json()["preferences"]["notifications"] is False


async def test_patch_me_refuses_protected_fields(
    client: httpx.AsyncClient, db: Database, student: User, auth: Auth
) -> None:
    for field, value in (
        ("role", "admin"),
        ("is_active", False),
        ("is_verified", True),
        ("hint_level", 5),
        ("balance", 1_000_000),
        ("auth_version", 99),
    ):
        response = await client.patch(
            f"{API}/users/me", json={"full_name": "X", field: value}, headers=auth(student)
        )
        assert response.status_code == 403, field
        assert response.json()["code"] == "field_not_writable"
        assert field in response.json()["detail"]
    async with db.session(write=False) as session:
        user = await session.get(User, student.id)
        assert user is not None
        assert user.role == Role.student and user.is_active and user.full_name != "X"
    unknown = await client.patch(f"{API}/users/me", json={"nickname": "x"}, headers=auth(student))
    assert unknown.status_code == 422
    bad = await client.patch(
        f"{API}/users/me", json={"preferences": {"theme": "neon"}}, headers=auth(student)
    )
    assert bad.status_code == 422


async def test_patch_me_conflicts(
    client: httpx.AsyncClient, student: User, make_user: MakeUser, auth: Auth
) -> None:
    other = await make_user(Role.student)
    email = await client.patch(
        f"{API}/users/me", json={"email": other.email}, headers=auth(student)
    )
    assert email.status_code == 409
    assert email.json()["code"] == "email_taken"
    username = await client.patch(
        f"{API}/users/me", json={"username": other.username}, headers=auth(student)
    )
    assert username.status_code == 409
    assert username.json()["code"] == "username_taken"
    same = await client.patch(
        f"{API}/users/me",
        json={"email": student.email, "username": student.username},
        headers=auth(student),
    )
    assert same.status_code == 200
    assert same.json()["is_verified"] is True


async def test_delete_me(
    client: httpx.AsyncClient, db: Database, student: User, login: Login
) -> None:
    pair = await login(student.email)
    headers = bearer(pair["access_token"])
    created = await client.post(
        f"{API}/users/me/prompts", json={"title": "t", "prompt_text": "p"}, headers=headers
    )
    assert created.status_code == 201
    response = await client.delete(f"{API}/users/me", headers=headers)
    assert response.status_code == 204
    gone = await client.get(f"{API}/users/me", headers=headers)
    assert gone.status_code == 401
    refresh = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 401
    async with db.session(write=False) as session:
        assert await session.get(User, student.id) is None
        tokens = await session.scalars(
            select(RefreshToken).where(RefreshToken.user_id == student.id)
        )
        assert list(tokens) == []
        prompts = await session.scalars(
            select(SavedPrompt).where(SavedPrompt.user_id == student.id)
        )
        assert list(prompts) == []
        # The audit trail stays (ids only).
        kept = await session.scalars(select(AuditLog).where(AuditLog.actor_id == student.id))
        assert {r.action for r in kept} >= {"auth.login", "user.deleted"}


# Saved prompts


async def test_prompts_crud(client: httpx.AsyncClient, student: User, auth: Auth) -> None:
    headers = auth(student)
    ids = []
    for i in range(3):
        response = await client.post(
            f"{API}/users/me/prompts",
            json={"title": f"Prompt {i}", "prompt_text": f"Explain topic {i}"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    listing = await client.get(f"{API}/users/me/prompts?limit=2", headers=headers)
    assert listing.status_code == 200
    page = listing.json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [p["title"] for p in page["items"]] == ["Prompt 2", "Prompt 1"]
    rest = (await client.get(f"{API}/users/me/prompts?limit=2&offset=2", headers=headers)).json()
    assert [p["title"] for p in rest["items"]] == ["Prompt 0"]

    one = await client.get(f"{API}/users/me/prompts/{ids[0]}", headers=headers)
    assert one.json()["prompt_text"] == "Explain topic 0"
    patched = await client.patch(
        f"{API}/users/me/prompts/{ids[0]}", json={"title": "Renamed"}, headers=headers
    )
    assert patched.status_code == 200
    assert patched.json()["title"] == "Renamed"
    assert patched.json()["prompt_text"] == "Explain topic 0"
    deleted = await client.delete(f"{API}/users/me/prompts/{ids[0]}", headers=headers)
    assert deleted.status_code == 204
    missing = await client.get(f"{API}/users/me/prompts/{ids[0]}", headers=headers)
    assert missing.status_code == 404


async def test_prompts_of_others_are_404(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Auth
) -> None:
    owner = await make_user(Role.student)
    other = await make_user(Role.teacher)
    created = await client.post(
        f"{API}/users/me/prompts", json={"title": "mine", "prompt_text": "x"}, headers=auth(owner)
    )
    prompt_id = created.json()["id"]
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{API}/users/me/prompts/{prompt_id}",
            json={"title": "stolen"} if method == "PATCH" else None,
            headers=auth(other),
        )
        assert response.status_code == 404, method
    listing = await client.get(f"{API}/users/me/prompts", headers=auth(other))
    assert listing.json()["total"] == 0
    mine = await client.get(f"{API}/users/me/prompts/{prompt_id}", headers=auth(owner))
    assert mine.json()["title"] == "mine"


async def test_prompt_validation(client: httpx.AsyncClient, student: User, auth: Auth) -> None:
    for body in (
        {"title": "", "prompt_text": "x"},
        {"title": "t"},
        {"title": "t", "prompt_text": "x", "user_id": str(uuid.uuid4())},
    ):
        response = await client.post(f"{API}/users/me/prompts", json=body, headers=auth(student))
        assert response.status_code == 422, body


# Public profiles


async def _course_with_student(
    client: httpx.AsyncClient, teacher: User, student: User, auth: Auth
) -> str:
    course = await client.post(
        f"{API}/courses",
        json={"code": f"T{uuid.uuid4().hex[:5].upper()}", "title": "Physics", "is_published": True},
        headers=auth(teacher),
    )
    assert course.status_code == 201, course.text
    course_id: str = course.json()["id"]
    enroll = await client.post(f"{API}/courses/{course_id}/enroll", headers=auth(student))
    assert enroll.status_code == 201, enroll.text
    return course_id


async def test_user_profile_for_admin_and_teacher_of_the_student(
    client: httpx.AsyncClient, make_user: MakeUser, admin: User, auth: Auth
) -> None:
    student = await make_user(Role.student)
    teacher = await make_user(Role.teacher)
    stranger = await make_user(Role.teacher)
    course_id = await _course_with_student(client, teacher, student, auth)

    as_admin = await client.get(f"{API}/users/{student.id}", headers=auth(admin))
    assert as_admin.status_code == 200, as_admin.text
    body = as_admin.json()
    assert body == {
        "id": str(student.id),
        "username": student.username,
        "full_name": student.full_name,
        "role": "student",
        "enrolled_course_ids": [course_id],
    }
    as_teacher = await client.get(f"{API}/users/{student.id}", headers=auth(teacher))
    assert as_teacher.status_code == 200
    assert as_teacher.json()["enrolled_course_ids"] == [course_id]
    # A teacher without the student in a course sees nothing, same as for an unknown id.
    hidden = await client.get(f"{API}/users/{student.id}", headers=auth(stranger))
    unknown = await client.get(f"{API}/users/{uuid.uuid4()}", headers=auth(stranger))
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    as_student = await client.get(f"{API}/users/{teacher.id}", headers=auth(student))
    assert as_student.status_code == 403
    anonymous = await client.get(f"{API}/users/{student.id}")
    assert anonymous.status_code == 401


async def test_service_accounts_have_no_public_profile(
    client: httpx.AsyncClient, make_user: MakeUser, admin: User, auth: Auth
) -> None:
    service_user = await make_user(Role.teacher, is_service=True)
    response = await client.get(f"{API}/users/{service_user.id}", headers=auth(admin))
    assert response.status_code == 404


async def test_get_does_not_write(
    client: httpx.AsyncClient, db: Database, student: User, auth: Auth
) -> None:
    """GET runs in a read-only transaction: reading one's profile changes nothing."""
    before = await audit_rows(db)
    await client.get(f"{API}/users/me", headers=auth(student))
    async with db.session(write=False) as session:
        user = await session.get(User, student.id)
        assert user is not None and user.last_active_at is None
    assert await audit_rows(db) == before


async def test_deletion_hooks_run_in_the_same_unit_of_work(
    client: httpx.AsyncClient, student: User, auth: Auth
) -> None:
    """Other domains remove their personal data through on_user_deleted; a failing hook
    rolls the whole deletion back."""
    seen: list[uuid.UUID] = []

    async def failing(session: AsyncSession, *, user_id: uuid.UUID) -> None:
        seen.append(user_id)
        raise Conflict("Clean-up refused", code="cleanup_refused")

    identity_service.on_user_deleted(failing)
    try:
        response = await client.delete(f"{API}/users/me", headers=auth(student))
        assert response.status_code == 409
        assert response.json() == {"detail": "Clean-up refused", "code": "cleanup_refused"}
    finally:
        deletion._deletion_hooks.remove(failing)
    assert seen == [student.id]
    still = await client.get(f"{API}/users/me", headers=auth(student))
    assert still.status_code == 200
