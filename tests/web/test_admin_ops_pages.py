"""Admin pages for running the platform: stats drawn as SVG charts, jobs with retry, the audit
log."""

from __future__ import annotations

import re

import httpx

from studyhall.core.db import Database
from studyhall.identity.models import Role
from studyhall.jobs.models import JobStatus
from studyhall.jobs.service import enqueue
from tests.conftest import MakeUser
from tests.web.conftest import csrf_of, signed_in


async def test_an_admin_reads_stats_retries_a_job_and_reads_the_audit_log(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    admin = await make_user(Role.admin)
    target = await make_user(Role.student)
    for _ in range(3):
        await make_user(Role.teacher)
    async with db.session() as session:
        job = await enqueue(session, kind="web.test", payload={"secret": "mail body"})
        job.status = JobStatus.failed
        job.error = "boom"
    await signed_in(client, admin)

    stats = await client.get("/admin/stats")
    assert stats.status_code == 200
    chart = stats.text[stats.text.index('id="roles-title"') :]
    chart = chart[: chart.index("</svg>")]
    assert re.search(r"<desc[^>]*>[^<]*teacher: 3", chart)
    assert '<rect x="130"' in chart and "<script" not in chart

    jobs = await client.get("/admin/jobs", params={"status": "failed"})
    assert "web.test" in jobs.text and "boom" in jobs.text and "mail body" not in jobs.text
    token = csrf_of(jobs.text)
    retried = await client.post(f"/admin/jobs/{job.id}/retry", data={"csrf_token": token})
    assert retried.status_code == 303
    again = await client.post(f"/admin/jobs/{job.id}/retry", data={"csrf_token": token})
    assert again.status_code == 409 and 'role="alert"' in again.text
    queued = await client.get("/admin/jobs", params={"status": "queued", "kind": "web.test"})
    assert f'id="job-{job.id}"' in queued.text and "Retry" not in queued.text

    blocked = await client.post(
        f"/admin/users/{target.id}", data={"is_active": "false", "csrf_token": token}
    )
    assert blocked.status_code == 303
    audit = await client.get("/admin/audit", params={"target_type": "user"})
    assert audit.status_code == 200 and str(target.id) in audit.text

    client.cookies.clear()
    teacher = await make_user(Role.teacher)
    await signed_in(client, teacher)
    for path in ("/admin/stats", "/admin/jobs", "/admin/audit"):
        assert (await client.get(path)).status_code == 403, path
    token = csrf_of((await client.get("/profile")).text)
    refused = await client.post(f"/admin/jobs/{job.id}/retry", data={"csrf_token": token})
    assert refused.status_code == 403


async def test_an_admin_changes_a_role_and_sets_a_new_password(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.admin)
    person = await make_user(Role.student, full_name="Katherine Johnson")
    await signed_in(client, person)
    theirs = dict(client.cookies)  # an open session of theirs, to be ended
    client.cookies.clear()
    await signed_in(client, admin)
    listing = await client.get("/admin/users", params={"q": "Katherine"})
    assert f'action="/admin/users/{person.id}/password"' in listing.text
    assert f'id="role-{person.id}"' in listing.text
    token = csrf_of(listing.text)

    promoted = await client.post(
        f"/admin/users/{person.id}", data={"csrf_token": token, "role": "teacher", "q": "K J"}
    )
    assert promoted.status_code == 303 and promoted.headers["location"] == "/admin/users?q=K%20J"
    weak = await client.post(
        f"/admin/users/{person.id}/password", data={"csrf_token": token, "new_password": "password"}
    )
    assert weak.status_code == 422 and 'role="alert"' in weak.text
    new_password = "Orbital-Trajectory-1962"
    changed = await client.post(
        f"/admin/users/{person.id}/password",
        data={"csrf_token": token, "new_password": new_password},
    )
    assert changed.status_code == 303
    no_token = await client.post(
        f"/admin/users/{person.id}/password", data={"new_password": new_password + "x"}
    )
    assert no_token.status_code == 403

    client.cookies.clear()
    client.cookies.update(theirs)
    assert (await client.get("/home")).status_code == 303  # their session ended
    client.cookies.clear()
    form = await client.get("/sign-in")
    signed = await client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "login": person.email, "password": new_password},
    )
    assert signed.status_code == 303
    assert (await client.get("/teach/courses")).status_code == 200  # a teacher now
    token = csrf_of((await client.get("/profile")).text)
    refused = await client.post(
        f"/admin/users/{admin.id}/password",
        data={"csrf_token": token, "new_password": "Another-Strong-Pass-77"},
    )
    assert refused.status_code == 403
