"""Pages for everyone: sign in, register, the mailed links, CSRF, sessions and the offline docs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.identity.models import Role, User
from studyhall.jobs.worker import Worker
from tests.conftest import TEST_PASSWORD, MakeUser
from tests.peers.smtp import SMTPPeer
from tests.web.conftest import csrf_of, get_form, post_form

PASSWORD = "Compiler-Nanosecond-1952"


async def _user(db: Database, email: str) -> User:
    async with db.session(write=False) as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        return user


async def _sign_in(client: httpx.AsyncClient, login: str, password: str = TEST_PASSWORD) -> None:
    response = await post_form(client, "/sign-in", {"login": login, "password": password})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/home"


async def test_register_verify_through_the_mailed_link(
    client: httpx.AsyncClient, db: Database, worker: Worker, smtp: SMTPPeer
) -> None:
    response = await post_form(
        client,
        "/register",
        {"full_name": "Grace Hopper", "email": "grace@example.org", "password": PASSWORD},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/home"
    cookies = response.headers.get_list("set-cookie")
    for name in ("sh_access", "sh_refresh"):
        [cookie] = [c for c in cookies if c.startswith(name + "=")]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie  # not in production: the test server is plain HTTP
    home = await client.get("/home")
    assert "Grace Hopper" in home.text and "Send the link again" in home.text

    assert await worker.run_until_idle() == 1
    link = re.search(
        r"http://testserver(/verify-email\?token=\S+)", smtp.last_to("grace@example.org").text
    )
    assert link
    # Opening the link only shows a button: a mail scanner's visit does not use the token up.
    opened = await client.get(link.group(1))
    assert opened.status_code == 200
    assert not (await _user(db, "grace@example.org")).is_verified
    token = re.search(r'name="token" value="([^"]+)"', opened.text)
    assert token
    confirmed = await client.post(
        "/verify-email", data={"token": token.group(1), "csrf_token": csrf_of(opened.text)}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert "grace@example.org is confirmed" in confirmed.text
    assert (await _user(db, "grace@example.org")).is_verified
    again = await client.post(
        "/verify-email", data={"token": token.group(1), "csrf_token": csrf_of(opened.text)}
    )
    assert again.status_code == 400  # the link works once


async def test_register_shows_the_services_refusals(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    taken = await make_user(Role.student)
    response = await post_form(
        client,
        "/register",
        {"full_name": "Someone", "email": taken.email, "password": PASSWORD},
    )
    assert response.status_code == 409
    assert 'role="alert"' in response.text
    weak = await post_form(
        client,
        "/register",
        {"full_name": "Someone", "email": "new@example.org", "password": "password"},
    )
    assert weak.status_code == 422
    assert "sh_access" not in weak.headers.get("set-cookie", "")


async def test_a_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(Role.student)
    await get_form(client, "/sign-in")  # the browser has its CSRF cookie
    for data in (
        {"login": user.email, "password": TEST_PASSWORD},
        {"login": user.email, "password": TEST_PASSWORD, "csrf_token": "x" * 43},
    ):
        response = await client.post("/sign-in", data=data)
        assert response.status_code == 403, response.text
        assert "security token" in response.text
        assert "sh_access" not in response.headers.get("set-cookie", "")
    # A cross-site page cannot read the cookie, and without a cookie no token matches.
    client.cookies.clear()
    response = await client.post(
        "/sign-in", data={"login": user.email, "password": TEST_PASSWORD, "csrf_token": "x" * 43}
    )
    assert response.status_code == 403


async def test_sign_in_session_and_sign_out(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user(Role.teacher)
    wrong = await post_form(client, "/sign-in", {"login": user.email, "password": "nope-nope"})
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text
    await _sign_in(client, user.email)
    assert (await client.get("/session/check")).status_code == 204
    home = await client.get("/home")
    assert user.full_name in home.text
    token = csrf_of(home.text)
    out = await client.post("/sign-out", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    after = await client.get("/home")
    assert after.status_code == 303 and after.headers["location"] == "/sign-in?next=/home"


async def test_an_expired_access_cookie_is_renewed_with_the_refresh_cookie(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(Role.student)
    await _sign_in(client, user.email)
    client.cookies.set("sh_access", "expired.or.forged", domain="testserver.local")
    client.cookies.delete("sh_access")
    response = await client.get("/home")
    assert response.status_code == 200 and user.full_name in response.text
    assert any(c.startswith("sh_access=") for c in response.headers.get_list("set-cookie"))


async def test_blocking_a_user_ends_their_open_page(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    user = await make_user(Role.student)
    await _sign_in(client, user.email)
    assert (await client.get("/session/check", headers={"HX-Request": "true"})).status_code == 204
    async with db.session() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.is_active = False
        row.auth_version += 1
    check = await client.get("/session/check", headers={"HX-Request": "true"})
    assert check.headers["HX-Redirect"] == "/sign-in"
    assert (await client.get("/home")).status_code == 303


async def test_forgot_and_reset_password_through_the_mailed_link(
    client: httpx.AsyncClient, make_user: MakeUser, worker: Worker, smtp: SMTPPeer
) -> None:
    user = await make_user(Role.student)
    sent = await post_form(client, "/forgot-password", {"email": user.email})
    assert sent.status_code == 200 and "a reset link has been sent" in sent.text
    assert await worker.run_until_idle() == 2  # the request's job, then its mail
    link = re.search(
        r"http://testserver(/reset-password\?token=\S+)", smtp.last_to(user.email).text
    )
    assert link
    opened = await client.get(link.group(1))
    token = re.search(r'name="token" value="([^"]+)"', opened.text)
    assert token
    new_password = "Violet-Tangerine-Lamp-77"
    done = await client.post(
        "/reset-password",
        data={
            "token": token.group(1),
            "new_password": new_password,
            "csrf_token": csrf_of(opened.text),
        },
    )
    assert done.status_code == 200, done.text
    await _sign_in(client, user.email, new_password)
    client.cookies.delete("sh_access")
    client.cookies.delete("sh_refresh")
    old = await post_form(client, "/sign-in", {"login": user.email, "password": TEST_PASSWORD})
    assert old.status_code == 401


async def test_sign_in_never_redirects_to_another_site(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(Role.student)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = await post_form(
            client,
            "/sign-in",
            {"login": user.email, "password": TEST_PASSWORD, "next": target},
        )
        assert response.status_code == 303
        assert urlsplit(response.headers["location"]).netloc == ""
        assert response.headers["location"] == "/home"
        client.cookies.delete("sh_access")
        client.cookies.delete("sh_refresh")


async def test_pages_follow_the_language_and_arabic_is_right_to_left(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    page = await client.get("/sign-in", headers={"Accept-Language": "ar,en;q=0.5"})
    assert 'lang="ar" dir="rtl"' in page.text
    assert "تسجيل الدخول" in page.text
    french = await client.get("/sign-in", headers={"Accept-Language": "fr-CH, fr;q=0.9"})
    assert 'lang="fr" dir="ltr"' in french.text and "Se connecter" in french.text
    user = await make_user(Role.student)
    await _sign_in(client, user.email)
    saved = await post_form(
        client,
        "/profile",
        {"full_name": user.full_name, "theme": "dark", "language": "es"},
    )
    assert saved.status_code == 200, saved.text
    assert 'lang="es"' in saved.text and 'data-theme="dark"' in saved.text
    # The preference wins over the browser's list from now on.
    later = await client.get("/profile", headers={"Accept-Language": "fr"})
    assert 'lang="es"' in later.text


async def test_pages_send_a_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/sign-in")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text  # no inline script, so the policy holds


async def test_cookies_are_secure_in_production(
    app: object, client: httpx.AsyncClient, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"environment": "production"})  # type: ignore[attr-defined]
    page = await client.get("/sign-in")
    [csrf] = [c for c in page.headers.get_list("set-cookie") if c.startswith("sh_csrf=")]
    assert "Secure" in csrf and "HttpOnly" in csrf and "SameSite=lax" in csrf


async def test_api_docs_work_offline_from_packaged_files(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page.text)
        assets = [a or b for a, b in urls]
        assert assets, path
        for url in assets:
            assert not urlsplit(url).netloc, f"{path} loads {url} from another host"
            if url.startswith("/static/"):
                asset = await client.get(url)
                assert asset.status_code == 200, url
                assert len(asset.content) > 500, url
