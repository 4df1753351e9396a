"""Mail flows end to end: API → job → real SMTP server → link → API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from studyhall.config import Settings, SMTPSettings
from studyhall.core.clock import clock
from studyhall.core.db import Database
from studyhall.core.mail import MailMessage, send_mail
from studyhall.identity.models import EmailToken, Role, User
from studyhall.jobs.models import Job, JobStatus
from studyhall.jobs.worker import Worker
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.identity.conftest import API, NEW_PASSWORD, Auth, Login, audit_rows, bearer
from tests.peers.smtp import SMTPPeer

REGISTER = {
    "email": "grace@example.org",
    "password": "Compiler-Nanosecond-1952",
    "full_name": "Grace Hopper",
}


async def _register(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(f"{API}/auth/register", json=REGISTER)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _jobs(db: Database) -> list[Job]:
    async with db.session(write=False) as session:
        return list(await session.scalars(select(Job).order_by(Job.created_at)))


async def test_register_mail_verifies_the_address(
    client: httpx.AsyncClient, db: Database, worker: Worker, smtp: SMTPPeer, settings: Settings
) -> None:
    user = await _register(client)
    [job] = await _jobs(db)
    assert job.kind == "identity.send_email"
    assert smtp.mails == []  # sent by the worker, not by the request
    assert await worker.run_until_idle() == 1
    mail = smtp.last_to("grace@example.org")
    assert mail.subject == "Confirm your email address"
    assert mail.message["From"] == settings.mail_from
    assert "http://testserver/verify-email?token=" in mail.text
    assert mail.message.get_body(preferencelist=("html",)) is not None
    token = mail.token()
    assert token not in str(job.payload)  # no secret in the jobs table

    response = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "verified", "email": "grace@example.org"}
    pair = (
        await client.post(
            f"{API}/auth/login",
            json={"email": REGISTER["email"], "password": REGISTER["password"]},
        )
    ).json()
    assert pair["user"]["is_verified"] is True
    assert pair["user"]["id"] == user["id"]
    # Single use.
    again = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert [r.action for r in await audit_rows(db)].count("auth.email_verified") == 1


async def test_verification_link_expires(
    client: httpx.AsyncClient, worker: Worker, smtp: SMTPPeer, settings: Settings
) -> None:
    await _register(client)
    await worker.run_until_idle()
    token = smtp.last_to("grace@example.org").token()
    clock.advance(timedelta(seconds=settings.email_token_ttl_s + 1))
    response = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


async def test_resend_replaces_the_earlier_link(
    client: httpx.AsyncClient, worker: Worker, smtp: SMTPPeer, login: Login
) -> None:
    await _register(client)
    await worker.run_until_idle()
    first = smtp.last_to("grace@example.org").token()
    pair = await login(REGISTER["email"], REGISTER["password"])
    response = await client.post(
        f"{API}/auth/verify-email/resend", headers=bearer(pair["access_token"])
    )
    assert response.status_code == 202
    await worker.run_until_idle()
    assert len(smtp.to("grace@example.org")) == 2
    second = smtp.last_to("grace@example.org").token()
    assert second != first
    old = await client.post(f"{API}/auth/verify-email", json={"token": first})
    assert old.status_code == 400
    new = await client.post(f"{API}/auth/verify-email", json={"token": second})
    assert new.status_code == 200


async def test_superseded_mail_is_not_sent(
    client: httpx.AsyncClient, worker: Worker, smtp: SMTPPeer, login: Login
) -> None:
    """A job whose token was replaced before it ran sends nothing: no dead link in the inbox."""
    await _register(client)
    pair = await login(REGISTER["email"], REGISTER["password"])
    await client.post(f"{API}/auth/verify-email/resend", headers=bearer(pair["access_token"]))
    assert await worker.run_until_idle() == 2
    [mail] = smtp.to("grace@example.org")
    response = await client.post(f"{API}/auth/verify-email", json={"token": mail.token()})
    assert response.status_code == 200


async def test_forgot_and_reset_password(
    client: httpx.AsyncClient,
    db: Database,
    worker: Worker,
    smtp: SMTPPeer,
    student: User,
    login: Login,
) -> None:
    before = await login(student.email)
    response = await client.post(f"{API}/auth/password/forgot", json={"email": student.email})
    assert response.status_code == 202
    await worker.run_until_idle()
    mail = smtp.last_to(student.email)
    assert mail.subject == "Reset your password"
    assert "http://testserver/reset-password?token=" in mail.text
    token = mail.token()

    weak = await client.post(
        f"{API}/auth/password/reset", json={"token": token, "new_password": "password123"}
    )
    assert weak.status_code == 422  # and the token still works afterwards
    reset = await client.post(
        f"{API}/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204, reset.text
    # Every session ends: the old refresh token and the old access token are dead.
    dead = await client.post(f"{API}/auth/refresh", json={"refresh_token": before["refresh_token"]})
    assert dead.status_code == 401
    stale = await client.get(f"{API}/users/me", headers=bearer(before["access_token"]))
    assert stale.status_code == 401
    old = await client.post(
        f"{API}/auth/login", json={"email": student.email, "password": TEST_PASSWORD}
    )
    assert old.status_code == 401
    await login(student.email, NEW_PASSWORD)
    # Single use.
    again = await client.post(
        f"{API}/auth/password/reset", json={"token": token, "new_password": "Another-Fresh-Pass-9"}
    )
    assert again.status_code == 400
    [row] = await audit_rows(db, "auth.password_reset")
    assert row.actor_id == student.id


async def test_reset_link_expires(
    client: httpx.AsyncClient, worker: Worker, smtp: SMTPPeer, student: User, settings: Settings
) -> None:
    await client.post(f"{API}/auth/password/forgot", json={"email": student.email})
    await worker.run_until_idle()
    token = smtp.last_to(student.email).token()
    clock.advance(timedelta(seconds=settings.password_reset_ttl_s + 1))
    response = await client.post(
        f"{API}/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400


async def test_a_verify_token_cannot_reset_a_password(
    client: httpx.AsyncClient, worker: Worker, smtp: SMTPPeer
) -> None:
    await _register(client)
    await worker.run_until_idle()
    token = smtp.last_to("grace@example.org").token()
    response = await client.post(
        f"{API}/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400


async def test_forgot_answers_alike_for_unknown_addresses(
    client: httpx.AsyncClient, db: Database, worker: Worker, smtp: SMTPPeer, student: User
) -> None:
    known = await client.post(f"{API}/auth/password/forgot", json={"email": student.email})
    unknown = await client.post(f"{API}/auth/password/forgot", json={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    await worker.run_until_idle()
    assert [m.rcpt_tos for m in smtp.mails] == [[student.email]]


async def test_forgot_is_limited_per_account_silently(
    client: httpx.AsyncClient,
    db: Database,
    worker: Worker,
    smtp: SMTPPeer,
    student: User,
    settings: Settings,
) -> None:
    assert settings.rate_limits.password_reset_per_account == "3/hour"
    for _ in range(4):
        response = await client.post(f"{API}/auth/password/forgot", json={"email": student.email})
        assert response.status_code == 202
    await worker.run_until_idle()
    async with db.session(write=False) as session:
        tokens = await session.scalar(
            select(func.count()).select_from(EmailToken).where(EmailToken.user_id == student.id)
        )
    assert tokens == 3  # the fourth request was limited (in its job), answered alike
    # Each request retired the earlier link, so only the newest one is mailed.
    assert len(smtp.to(student.email)) == 1


async def test_finding_08_forgot_password_answers_alike_through_the_same_work(
    client: httpx.AsyncClient, db: Database, worker: Worker, smtp: SMTPPeer, student: User
) -> None:
    """Forgot-password for an existing and an unknown address runs the same SQL statements and
    enqueues the same job; the lookup and the mail happen in the job. Before: the existing
    account's answer looked it up, made a token and queued a mail inline (41 vs 21 ms);
    the unknown one did none of it."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0].upper() + " " + _table_of(statement))

    async def forgot(email: str) -> tuple[httpx.Response, list[str], list[Job]]:
        statements.clear()
        before = {job.id for job in await _jobs(db)}
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            response = await client.post(f"{API}/auth/password/forgot", json={"email": email})
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        new = [job for job in await _jobs(db) if job.id not in before]
        return response, list(statements), new

    known, known_sql, known_jobs = await forgot(student.email)
    unknown, unknown_sql, unknown_jobs = await forgot("nobody@example.org")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known_sql == unknown_sql
    assert not any("email_tokens" in s or "users" in s for s in known_sql), known_sql
    assert [(j.kind, sorted(j.payload)) for j in known_jobs] == [
        ("identity.password_reset_request", ["email"])
    ]
    assert [(j.kind, sorted(j.payload)) for j in unknown_jobs] == [
        ("identity.password_reset_request", ["email"])
    ]
    assert smtp.mails == []
    await worker.run_until_idle()
    assert [m.rcpt_tos for m in smtp.mails] == [[student.email]]


def _table_of(statement: str) -> str:
    words = statement.replace('"', " ").split()
    for keyword in ("INTO", "FROM", "UPDATE"):
        if keyword in (w.upper() for w in words):
            index = [w.upper() for w in words].index(keyword)
            return words[index + 1] if index + 1 < len(words) else ""
    return ""


async def test_email_change_needs_new_verification_and_warns_the_old_address(
    client: httpx.AsyncClient,
    db: Database,
    worker: Worker,
    smtp: SMTPPeer,
    student: User,
    auth: Auth,
) -> None:
    old = student.email
    response = await client.patch(
        f"{API}/users/me", json={"email": "New.Address@Example.org"}, headers=auth(student)
    )
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "new.address@example.org"
    assert response.json()["is_verified"] is False
    await worker.run_until_idle()
    notice = smtp.last_to(old)
    assert notice.subject == "Your email address was changed"
    assert "new.address@example.org" in notice.text
    mail = smtp.last_to("new.address@example.org")
    verify = await client.post(f"{API}/auth/verify-email", json={"token": mail.token()})
    assert verify.status_code == 200
    assert verify.json()["email"] == "new.address@example.org"
    me = await client.get(f"{API}/users/me", headers=auth(student))
    assert me.json()["is_verified"] is True
    assert len(await audit_rows(db, "user.email_changed")) == 1


async def test_link_for_an_abandoned_address_stops_working(
    client: httpx.AsyncClient, worker: Worker, smtp: SMTPPeer, student: User, auth: Auth
) -> None:
    await client.patch(
        f"{API}/users/me", json={"email": "first@example.org"}, headers=auth(student)
    )
    await worker.run_until_idle()
    token = smtp.last_to("first@example.org").token()
    await client.patch(
        f"{API}/users/me", json={"email": "second@example.org"}, headers=auth(student)
    )
    response = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert response.status_code == 400


async def test_smtp_down_then_up_retries_the_job(
    client: httpx.AsyncClient, db: Database, worker: Worker, smtp: SMTPPeer
) -> None:
    await smtp.stop()  # connection refused
    await _register(client)
    assert await worker.run_until_idle() == 1
    [job] = await _jobs(db)
    assert job.status == JobStatus.queued
    assert job.attempts == 1
    assert job.error and "ConnectionRefusedError" in job.error

    await smtp.start()  # same port
    smtp.fail_with = "451 Requested action aborted: try again later"
    clock.advance(timedelta(minutes=5))
    assert await worker.run_until_idle() == 1
    [job] = await _jobs(db)
    assert job.status == JobStatus.queued and job.attempts == 2
    assert job.error and "451" in job.error

    smtp.fail_with = None
    clock.advance(timedelta(minutes=5))
    assert await worker.run_until_idle() == 1
    [job] = await _jobs(db)
    assert job.status == JobStatus.succeeded and job.attempts == 3
    token = smtp.last_to("grace@example.org").token()
    response = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert response.status_code == 200


async def test_outbox_without_smtp_host(settings: Settings, tmp_path: Path) -> None:
    local = settings.model_copy(update={"smtp": SMTPSettings(), "data_dir": tmp_path})
    await send_mail(local, MailMessage(to="x@example.org", subject="Hi", text="Hello there"))
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    content = eml.read_text()
    assert "To: x@example.org" in content and "Subject: Hi" in content
    assert "Hello there" in content


async def test_smtp_authentication(settings: Settings) -> None:
    peer = SMTPPeer(username="mailer", password="s3cret-pass")
    await peer.start()
    try:
        smtp = SMTPSettings(
            host="127.0.0.1",
            port=peer.port,
            starttls=False,
            username="mailer",
            password="s3cret-pass",
        )
        await send_mail(
            settings.model_copy(update={"smtp": smtp}),
            MailMessage(to="y@example.org", subject="Auth", text="Body"),
        )
        assert peer.logins == 1
        assert peer.last_to("y@example.org").subject == "Auth"
        wrong = smtp.model_copy(update={"password": "nope"})
        with pytest.raises(Exception, match=r"535|Authentication"):
            await send_mail(
                settings.model_copy(update={"smtp": wrong}),
                MailMessage(to="y@example.org", subject="Auth", text="Body"),
            )
    finally:
        await peer.stop()


async def test_admin_created_unverified_user_gets_a_mail(
    client: httpx.AsyncClient, worker: Worker, smtp: SMTPPeer, admin: User, auth: Auth
) -> None:
    response = await client.post(
        f"{API}/admin/users",
        json={
            "email": "teacher.new@example.org",
            "password": "Blackboard-Chalk-Tray-5",
            "full_name": "New Teacher",
            "role": "teacher",
        },
        headers=auth(admin),
    )
    assert response.status_code == 201
    await worker.run_until_idle()
    assert smtp.last_to("teacher.new@example.org").subject == "Confirm your email address"


async def test_deleted_user_pending_mail_is_dropped(
    client: httpx.AsyncClient, db: Database, worker: Worker, smtp: SMTPPeer, make_user: MakeUser
) -> None:
    user = await make_user(Role.student)
    await client.post(f"{API}/auth/password/forgot", json={"email": user.email})
    async with db.session() as session:
        row = await session.get(User, user.id)
        assert row is not None
        await session.delete(row)
    assert await worker.run_until_idle() == 1
    assert smtp.mails == []
