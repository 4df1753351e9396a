"""Document 002's endpoints (chat-prompts) with requests built from its schemas, one case each."""

from __future__ import annotations

import uuid

import httpx

from studyhall.identity.models import Role, User
from tests.compat.conftest import STRONG_PASSWORD, fresh_email
from tests.compat.example_checks import Trial, case
from tests.conftest import TEST_PASSWORD

B = "/compat/chat-prompts/api/v1"


async def _session(t: Trial, user: User, headers: dict[str, str]) -> str:
    r = await t.client.post(
        f"{B}/chat_sessions/",
        json={"title": "Physics revision", "user_id": str(user.id)},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["session_id"])


async def _prompt(t: Trial, user: User, headers: dict[str, str]) -> str:
    session_id = await _session(t, user, headers)
    r = await t.client.post(
        f"{B}/prompts/",
        json={
            "prompt_text": "What is inertia?",
            "llm_responses": ["Resistance to change."],
            "user_id": str(user.id),
            "session_id": session_id,
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["prompt_id"])


async def _system_prompt(t: Trial, headers: dict[str, str]) -> str:
    r = await t.client.post(
        f"{B}/system_prompts/",
        json={"prompt_text": f"You are a tutor {uuid.uuid4().hex[:6]}."},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["prompt_id"])


async def _user_prompt(t: Trial, user: User, headers: dict[str, str]) -> str:
    r = await t.client.post(
        f"{B}/user_prompts/",
        json={"prompt_text": "Explain simply", "user_id": str(user.id)},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["prompt_id"])


async def _audit_log(t: Trial, user: User, headers: dict[str, str]) -> str:
    r = await t.client.post(
        f"{B}/audit_logs/",
        json={"action": "export.pdf", "details": {"pages": 3}, "user_id": str(user.id)},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["log_id"])


def _new_user() -> dict[str, str]:
    return {
        "name": "Ada Lovelace",
        "email": fresh_email("ada"),
        "role": "user",
        "password": STRONG_PASSWORD,
    }


@case(f"POST {B}/auth/register")
async def _register(t: Trial) -> httpx.Response:
    return await t.send(json=t.body(**_new_user()))


@case(f"POST {B}/auth/login")
async def _login(t: Trial) -> httpx.Response:
    # OAuth2PasswordRequestForm: a form, with the e-mail as `username`.
    user, _ = await t.user()
    return await t.send(json=None, data={"username": user.email, "password": TEST_PASSWORD})


@case(f"POST {B}/users/")
async def _user_create(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    return await t.send(json=t.body(**{**_new_user(), "role": "teacher"}), headers=admin)


@case(f"GET {B}/users/{{}}")
async def _user_read(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(user.id, headers=headers)


@case(f"PUT {B}/users/{{}}")
async def _user_update(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(
        user.id,
        json=t.body(name="Ada King", email=fresh_email("ada"), role="user"),
        headers=headers,
    )


@case(f"DELETE {B}/users/{{}}")
async def _user_delete(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    user, _ = await t.user()
    return await t.send(user.id, headers=admin)


@case(f"GET {B}/users/{{}}/quota")
async def _quota(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(user.id, headers=headers)


@case(f"PUT {B}/users/{{}}/quota")
async def _quota_update(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    user, _ = await t.user()
    return await t.send(user.id, json=t.body(daily_limit=2500), headers=admin)


@case(f"POST {B}/chat_sessions/")
async def _session_create(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(
        json=t.body(title="Physics revision", user_id=str(user.id)), headers=headers
    )


@case(f"GET {B}/chat_sessions/{{}}")
async def _session_read(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(await _session(t, user, headers), headers=headers)


@case(f"GET {B}/chat_sessions/user/{{}}")
async def _sessions_of_user(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    await _session(t, user, headers)
    return await t.send(user.id, headers=headers)


@case(f"PUT {B}/chat_sessions/{{}}")
async def _session_update(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(
        await _session(t, user, headers), json=t.body(title="Optics"), headers=headers
    )


@case(f"DELETE {B}/chat_sessions/{{}}")
async def _session_delete(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(await _session(t, user, headers), headers=headers)


@case(f"POST {B}/prompts/")
async def _prompt_create(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    session_id = await _session(t, user, headers)
    body = t.body(
        prompt_text="What is inertia?",
        llm_responses=["Resistance."],
        user_id=str(user.id),
        session_id=session_id,
    )
    return await t.send(json=body, headers=headers)


@case(f"GET {B}/prompts/{{}}")
async def _prompt_read(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(await _prompt(t, user, headers), headers=headers)


@case(f"GET {B}/prompts/session/{{}}")
async def _prompts_of_session(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    prompt_id = await _prompt(t, user, headers)
    session_id = (await t.client.get(f"{B}/prompts/{prompt_id}", headers=headers)).json()[
        "session_id"
    ]
    return await t.send(session_id, headers=headers)


@case(f"PUT {B}/prompts/{{}}")
async def _prompt_update(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    body = t.body(prompt_text="What is mass?", llm_responses=["A measure of inertia."])
    return await t.send(await _prompt(t, user, headers), json=body, headers=headers)


@case(f"DELETE {B}/prompts/{{}}")
async def _prompt_delete(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(await _prompt(t, user, headers), headers=headers)


@case(f"POST {B}/system_prompts/")
async def _system_create(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    return await t.send(
        json=t.body(prompt_text=f"You are a tutor {uuid.uuid4().hex[:6]}."), headers=admin
    )


@case(f"GET {B}/system_prompts/")
async def _system_list(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    await _system_prompt(t, admin)
    return await t.send(headers=admin)


@case(f"PUT {B}/system_prompts/{{}}")
async def _system_update(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    return await t.send(
        await _system_prompt(t, admin), json=t.body(prompt_text="Be brief."), headers=admin
    )


@case(f"DELETE {B}/system_prompts/{{}}")
async def _system_delete(t: Trial) -> httpx.Response:
    _, admin = await t.user(Role.admin)
    return await t.send(await _system_prompt(t, admin), headers=admin)


@case(f"POST {B}/user_prompts/")
async def _user_prompt_create(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(
        json=t.body(prompt_text="Explain like I'm 12", user_id=str(user.id)), headers=headers
    )


@case(f"GET {B}/user_prompts/user/{{}}")
async def _user_prompts(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    await _user_prompt(t, user, headers)
    return await t.send(user.id, headers=headers)


@case(f"PUT {B}/user_prompts/{{}}")
async def _user_prompt_update(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(
        await _user_prompt(t, user, headers), json=t.body(prompt_text="Shorter"), headers=headers
    )


@case(f"DELETE {B}/user_prompts/{{}}")
async def _user_prompt_delete(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(await _user_prompt(t, user, headers), headers=headers)


@case(f"POST {B}/audit_logs/")
async def _audit_create(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(
        json=t.body(action="export.pdf", details={"pages": 3}, user_id=str(user.id)),
        headers=headers,
    )


@case(f"GET {B}/audit_logs/{{}}")
async def _audit_read(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    return await t.send(await _audit_log(t, user, headers), headers=headers)


@case(f"GET {B}/audit_logs/user/{{}}")
async def _audit_of_user(t: Trial) -> httpx.Response:
    user, headers = await t.user()
    await _audit_log(t, user, headers)
    return await t.send(user.id, headers=headers)
