"""Admin pages for courses and service API keys: every course is listed and searchable, a key's
secret is shown once and works, a revoked key stops at once; nobody else opens these pages."""

from __future__ import annotations

import re

import httpx

from studyhall.identity.models import Role
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, create_course
from tests.web.conftest import csrf_of, signed_in


async def test_an_admin_lists_and_searches_every_course(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    admin = await make_user(Role.admin)
    teacher = await make_user(Role.teacher)
    draft = await create_course(client, auth(teacher), title="Hidden draft", is_published=False)
    await create_course(client, auth(teacher), title="Open algebra")
    await signed_in(client, admin)
    listing = await client.get("/admin/courses")
    assert listing.status_code == 200
    assert f'/teach/courses/{draft["id"]}/edit">Hidden draft' in listing.text  # drafts too
    found = await client.get("/admin/courses", params={"q": "algebra"})
    assert "Open algebra" in found.text and "Hidden draft" not in found.text
    editor = await client.get(f"/teach/courses/{draft['id']}/edit")
    assert editor.status_code == 200 and "Course settings" in editor.text  # admins change it


async def test_an_admin_issues_a_key_shown_once_and_revokes_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.admin)
    await signed_in(client, admin)
    form = await client.get("/admin/api-keys")
    assert form.status_code == 200
    token = csrf_of(form.text)
    created = await client.post(
        "/admin/api-keys",
        data={
            "csrf_token": token,
            "name": "Timetable sync",
            "scopes": ["read", "write"],
            "acts_as_role": "teacher",
            "expires_on": "2099-01-31",
        },
    )
    assert created.status_code == 201, created.text
    secret = re.search(r'id="secret" readonly value="([^"]+)"', created.text)
    assert secret and "shown only this once" in created.text
    key = secret.group(1)
    assert key not in (await client.get("/admin/api-keys")).text  # never again
    me = await client.get(f"{API}/users/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["role"] == "teacher"
    keys = await client.get(f"{API}/admin/api-keys", headers={"X-API-Key": key})
    assert keys.status_code == 403  # a teacher-role key is no admin

    listing = await client.get("/admin/api-keys")
    assert "Timetable sync" in listing.text and "2099-01-31" in listing.text
    key_id = re.search(r'action="/admin/api-keys/([0-9a-f-]+)/revoke"', listing.text)
    assert key_id
    no_scope = await client.post(
        "/admin/api-keys",
        data={"csrf_token": token, "name": "Nothing", "acts_as_role": "teacher"},
    )
    assert no_scope.status_code == 422 and 'role="alert"' in no_scope.text
    assert 'value="Nothing"' in no_scope.text

    without_token = await client.post(f"/admin/api-keys/{key_id.group(1)}/revoke")
    assert without_token.status_code == 403
    revoked = await client.post(
        f"/admin/api-keys/{key_id.group(1)}/revoke", data={"csrf_token": token}
    )
    assert revoked.status_code == 303
    assert (await client.get(f"{API}/users/me", headers={"X-API-Key": key})).status_code == 401
    assert "Timetable sync" not in (await client.get("/admin/api-keys")).text


async def test_only_admins_open_the_platform_pages(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    teacher = await make_user(Role.teacher)
    await signed_in(client, teacher)
    token = csrf_of((await client.get("/teach/courses")).text)
    for path in ("/admin/courses", "/admin/api-keys"):
        assert (await client.get(path)).status_code == 403
    issued = await client.post(
        "/admin/api-keys",
        data={"csrf_token": token, "name": "x", "scopes": "admin", "acts_as_role": "admin"},
    )
    assert issued.status_code == 403
    client.cookies.clear()
    anonymous = await client.get("/admin/api-keys")
    assert anonymous.status_code == 303 and "/sign-in" in anonymous.headers["location"]
