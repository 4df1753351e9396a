"""Admin pages for what the platform holds: every course, service API keys (a secret shown once,
revoked at once), wallets and top-ups, the tutor's system prompts, curriculum sources and
their crawls; nobody but admins opens them."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, create_course
from tests.knowledge.pdfgen import text_pdf
from tests.peers.http_site import HTTPSite, serve_site
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


async def test_an_admin_tops_up_a_wallet_once_and_sets_its_limits(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    admin = await make_user(Role.admin)
    student = await make_user(Role.student, full_name="Ada Lovelace")
    before = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    await signed_in(client, admin)
    users = await client.get("/admin/users", params={"q": "lovelace"})
    assert f"/admin/users/{student.id}/wallet" in users.text
    page = await client.get(f"/admin/users/{student.id}/wallet")
    assert page.status_code == 200 and "Ada Lovelace" in page.text
    token = csrf_of(page.text)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key
    form = {
        "csrf_token": token,
        "idempotency_key": key.group(1),
        "amount": "5000",
        "reason": "Exam week",
        "reference": "",
    }
    for _ in range(2):  # a double click: credited once
        sent = await client.post(f"/admin/users/{student.id}/wallet/topup", data=form)
        assert sent.status_code == 303, sent.text
    after = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    assert after["balance"] == before["balance"] + 5000
    changed = await client.post(
        f"/admin/users/{student.id}/wallet/topup", data={**form, "amount": "7000"}
    )
    assert changed.status_code == 409  # the same form's key with another amount
    too_much = await client.post(
        f"/admin/users/{student.id}/wallet/topup",
        data={**form, "idempotency_key": str(uuid.uuid4()), "amount": "-999999999"},
    )
    assert too_much.status_code == 422 and 'role="alert"' in too_much.text
    zero = await client.post(
        f"/admin/users/{student.id}/wallet/topup",
        data={**form, "idempotency_key": str(uuid.uuid4()), "amount": "0"},
    )
    assert zero.status_code == 422
    assert (await client.get(f"{API}/wallet", headers=auth(student))).json()["balance"] == after[
        "balance"
    ]

    shown = str(after["daily_limit"])
    kept = await client.post(
        f"/admin/users/{student.id}/wallet/limits",
        data={
            "csrf_token": token,
            "tier": "premium",
            "daily_limit": shown,
            "shown_daily_limit": shown,
        },
    )
    assert kept.status_code == 303
    wallet = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    assert wallet["tier"] == "premium" and wallet["daily_limit"] == 1_000_000  # the tier's
    pinned = await client.post(
        f"/admin/users/{student.id}/wallet/limits",
        data={
            "csrf_token": token,
            "tier": "premium",
            "daily_limit": "1234",
            "shown_daily_limit": "1000000",
        },
    )
    assert pinned.status_code == 303
    assert (await client.get(f"{API}/wallet", headers=auth(student))).json()["daily_limit"] == 1234
    back = await client.post(
        f"/admin/users/{student.id}/wallet/limits",
        data={
            "csrf_token": token,
            "tier": "premium",
            "daily_limit": "1234",
            "shown_daily_limit": "1234",
            "use_tier_limit": "true",
        },
    )
    assert back.status_code == 303
    wallet = (await client.get(f"{API}/wallet", headers=auth(student))).json()
    assert wallet["daily_limit"] == 1_000_000
    unknown = await client.post(
        f"/admin/users/{student.id}/wallet/limits",
        data={"csrf_token": token, "tier": "platinum", "daily_limit": "", "shown_daily_limit": ""},
    )
    assert unknown.status_code == 422 and 'role="alert"' in unknown.text
    history = await client.get(f"/admin/users/{student.id}/wallet")
    assert "5,000" in history.text
    assert (await client.get(f"/admin/users/{uuid.uuid4()}/wallet")).status_code == 404

    client.cookies.clear()
    await signed_in(client, student)
    token = csrf_of((await client.get("/wallet")).text)
    assert (await client.get(f"/admin/users/{student.id}/wallet")).status_code == 403
    self_credit = await client.post(
        f"/admin/users/{student.id}/wallet/topup",
        data={**form, "csrf_token": token, "idempotency_key": str(uuid.uuid4())},
    )
    assert self_credit.status_code == 403


async def test_an_admin_writes_and_switches_system_prompt_versions(
    client: httpx.AsyncClient, make_user: MakeUser, auth: Headers
) -> None:
    admin = await make_user(Role.admin)
    teacher = await make_user(Role.teacher)
    course = await create_course(client, auth(teacher))
    await signed_in(client, admin)
    token = csrf_of((await client.get("/admin/system-prompts")).text)
    url = "/admin/system-prompts"
    made = await client.post(
        url,
        data={
            "csrf_token": token,
            "name": "House style",
            "course_code": "",
            "content": "Answer briefly.\r\nCite pages.",
            "activate": "true",
        },
    )
    assert made.status_code == 303, made.text
    kept = await client.post(
        url,
        data={
            "csrf_token": token,
            "name": "Course voice",
            "course_code": course["code"].lower(),  # codes are matched as stored, upper-case
            "content": "Use the course's vocabulary.",
        },
    )
    assert kept.status_code == 303, kept.text
    listed = await client.get(f"{API}/admin/system-prompts", headers=auth(admin))
    by_name = {p["name"]: p for p in listed.json()["items"]}
    assert by_name["House style"]["is_active"] and by_name["House style"]["scope"] == "global"
    assert by_name["House style"]["content"] == "Answer briefly.\nCite pages."
    voice = by_name["Course voice"]
    assert voice["course_id"] == course["id"] and voice["is_active"] is False

    page = await client.get(url, params={"scope": "course"})
    assert f"course {course['code']}" in page.text and "House style" not in page.text
    on = await client.post(f"{url}/{voice['id']}/activate", data={"csrf_token": token})
    assert on.status_code == 303
    one = await client.get(f"{API}/admin/system-prompts/{voice['id']}", headers=auth(admin))
    assert one.json()["is_active"] is True
    off = await client.post(f"{url}/{voice['id']}/deactivate", data={"csrf_token": token})
    assert off.status_code == 303
    one = await client.get(f"{API}/admin/system-prompts/{voice['id']}", headers=auth(admin))
    assert one.json()["is_active"] is False

    unknown = await client.post(
        url, data={"csrf_token": token, "name": "x", "course_code": "NOPE42", "content": "y"}
    )
    assert unknown.status_code == 404 and 'role="alert"' in unknown.text
    assert 'value="NOPE42"' in unknown.text
    gone = await client.post(f"{url}/{voice['id']}/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    one = await client.get(f"{API}/admin/system-prompts/{voice['id']}", headers=auth(admin))
    assert one.status_code == 404
    missing = await client.post(f"{url}/{uuid.uuid4()}/activate", data={"csrf_token": token})
    assert missing.status_code == 404

    client.cookies.clear()
    await signed_in(client, teacher)
    token = csrf_of((await client.get("/teach/courses")).text)
    assert (await client.get(url)).status_code == 403
    refused = await client.post(
        url, data={"csrf_token": token, "name": "Mine", "content": "Obey me", "activate": "true"}
    )
    assert refused.status_code == 403


async def test_an_admin_adds_a_source_crawls_it_and_adds_a_pdf_to_the_library(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser, worker: Worker
) -> None:
    app.state.settings.knowledge.crawl_allow_private = True  # the portal is on 127.0.0.1
    admin = await make_user(Role.admin)
    pdf = text_pdf(["Fractions are parts of a whole."])

    def portal(site: HTTPSite) -> None:
        site.page("/index.html", '<a href="/maths/fractions.pdf">Fractions, grade 5</a>')
        site.pdf("/maths/fractions.pdf", pdf)

    with serve_site(portal) as site:
        await signed_in(client, admin)
        token = csrf_of((await client.get("/admin/sources")).text)
        bad = await client.post(
            "/admin/sources",
            data={"csrf_token": token, "name": "Portal", "url": "not a url", "max_depth": "x"},
        )
        assert bad.status_code == 422 and 'value="Portal"' in bad.text
        made = await client.post(
            "/admin/sources",
            data={
                "csrf_token": token,
                "name": "Local portal",
                "url": site.url("/index.html"),
                "language": "en",
                "max_depth": "1",
            },
        )
        assert made.status_code == 303, made.text
        source_url = made.headers["location"]
        assert "Local portal" in (await client.get("/admin/sources")).text
        crawl = await client.post(f"{source_url}/sync", data={"csrf_token": token})
        assert crawl.status_code == 303
        twice = await client.post(f"{source_url}/sync", data={"csrf_token": token})
        assert twice.status_code == 409 and 'role="alert"' in twice.text  # one pending crawl
        await worker.run_until_idle()
        shown = await client.get(source_url)
        assert 'data-run-status="succeeded"' in shown.text
        assert "Fractions, grade 5" in shown.text and 'data-reference-status="new"' in shown.text
        reference = re.search(r'action="/admin/references/([0-9a-f-]+)/ingest"', shown.text)
        assert reference
        queued = await client.post(
            f"/admin/references/{reference.group(1)}/ingest", data={"csrf_token": token}
        )
        assert queued.status_code == 303 and queued.headers["location"].endswith("#references")
        await worker.run_until_idle()
        after = await client.get(source_url)
        assert 'data-reference-status="ingested"' in after.text
        assert f"/admin/references/{reference.group(1)}/ingest" not in after.text

        client.cookies.clear()
        teacher = await make_user(Role.teacher)
        await signed_in(client, teacher)
        token = csrf_of((await client.get("/teach/courses")).text)
        assert (await client.get("/admin/sources")).status_code == 403
        assert (
            await client.post(f"{source_url}/sync", data={"csrf_token": token})
        ).status_code == 403
