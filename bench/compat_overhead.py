"""The cost of the compatibility dialects' translation layer.

Starts a real StudyHall api process (`studyhall serve`, 1 worker), creates the objects the
requests need, then for 5 representative reads and writes per dialect measures requests per
second through the dialect route and through its canonical twin in the same time window: every
load worker alternates the two requests, so the machine's background load falls on both alike
(each kind's rate is concurrency ÷ its mean latency; the median over rounds is reported). Reported: req/s of each, and dialect ÷ canonical (aim ≥ 0.9).

    .venv/bin/python bench/compat_overhead.py [--db sqlite|postgres] [--seconds 3]
        [--rounds 3] [--concurrency 16] [--dialects chat-prompts,bacmr]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from _harness import BIN, database, postgres_available, server, table

PASSWORD = "Marigold-Quartz-Canyon-58"
ADMIN = "bench-admin@example.org"
ST = "/compat/subject-tutor"
AP = "/compat/apranova/api"
BM = "/compat/bacmr"
CP = "/compat/chat-prompts/api/v1"
EL = "/compat/elearning/api/v1"

Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@dataclass
class Pair:
    dialect: str
    name: str
    via_dialect: Request
    via_canonical: Request
    rates: dict[str, list[float]] = field(default_factory=lambda: {"dialect": [], "canonical": []})


async def _pair_rates(
    base: str, pair: Pair, *, seconds: float, concurrency: int
) -> tuple[float, float]:
    """Requests per second through the dialect and through the canonical route, measured in the
    same window: each of `concurrency` workers alternates the two requests, so whatever else
    the machine does slows both alike. A kind's rate is `concurrency / its mean latency`."""
    spent = {"dialect": 0.0, "canonical": 0.0}
    count = {"dialect": 0, "canonical": 0}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        deadline = time.perf_counter() + seconds

        async def worker(index: int) -> None:
            kinds = [("dialect", pair.via_dialect), ("canonical", pair.via_canonical)]
            if index % 2:
                kinds.reverse()
            while time.perf_counter() < deadline:
                for kind, request in kinds:
                    started = time.perf_counter()
                    response = await request(client, index)
                    spent[kind] += time.perf_counter() - started
                    if response.status_code >= 400:
                        errors.append(f"{kind} {response.status_code} {response.text[:120]}")
                        return
                    count[kind] += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    if errors:
        raise RuntimeError(f"requests failed: {errors[:3]}")
    rate = {k: concurrency * count[k] / spent[k] for k in spent}
    return rate["dialect"], rate["canonical"]


async def _setup(base: str, concurrency: int) -> list[Pair]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        # Accounts: registered through the dialects (one identity), logged in canonically.
        async def register_student(tag: str) -> dict[str, str]:
            name = f"{tag}{uuid.uuid4().hex[:8]}"
            r = await c.post(
                f"{ST}/register",
                json={
                    "username": name,
                    "email": f"{name}@example.org",
                    "password": PASSWORD,
                    "full_name": "Bench Student",
                },
            )
            r.raise_for_status()
            login = await c.post(
                "/api/v1/auth/login", json={"email": f"{name}@example.org", "password": PASSWORD}
            )
            login.raise_for_status()
            return {"name": name, **login.json(), "id": login.json()["user"]["id"]}

        students = [await register_student("bench") for _ in range(concurrency)]
        admin_login = await c.post(
            "/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}
        )
        admin_login.raise_for_status()
        admin = {"Authorization": f"Bearer {admin_login.json()['access_token']}"}
        teacher_email = f"prof{uuid.uuid4().hex[:8]}@example.org"
        teacher = await c.post(
            "/api/v1/admin/users",
            json={
                "email": teacher_email,
                "password": PASSWORD,
                "full_name": "Bench Professor",
                "username": teacher_email.split("@")[0],
                "role": "teacher",
                "is_verified": True,
            },
            headers=admin,
        )
        teacher.raise_for_status()
        prof_login = await c.post(
            "/api/v1/auth/login", json={"email": teacher_email, "password": PASSWORD}
        )
        prof = {"Authorization": f"Bearer {prof_login.json()['access_token']}"}
        code = f"BEN{uuid.uuid4().hex[:5].upper()}"
        subject = await c.post(
            f"{ST}/subjects",
            json={
                "subject_id": code,
                "name": "Bench subject",
                "professor_id": teacher_email.split("@")[0],
            },
            headers=admin,
        )
        subject.raise_for_status()
        course_id = (await c.get("/api/v1/courses", params={"search": code}, headers=prof)).json()[
            "items"
        ][0]["id"]
        for s in students:
            h = {"Authorization": f"Bearer {s['access_token']}"}
            (await c.post(f"{ST}/subjects/{code}/enroll", headers=h)).raise_for_status()
        # One chat session per student (chat-prompts renames it and stores prompts in it).
        sessions = []
        for s in students:
            h = {"Authorization": f"Bearer {s['access_token']}"}
            chat = await c.post("/api/v1/chat/sessions", json={"title": "Bench"}, headers=h)
            chat.raise_for_status()
            sessions.append(chat.json()["id"])
        # Its own account: a role change revokes the target's access tokens.
        target = (await register_student("target"))["id"]
        # Each side rotates its own sessions (a refresh token is single-use).
        second = []
        for s in students:
            again = await c.post(
                "/api/v1/auth/login",
                json={"email": f"{s['name']}@example.org", "password": PASSWORD},
            )
            again.raise_for_status()
            second.append(again.json()["refresh_token"])

    def bearer(i: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {students[i]['access_token']}"}

    refresh = {"dialect": [s["refresh_token"] for s in students]}
    refresh["canonical"] = second
    roles = {"dialect": 0, "canonical": 0}

    async def dialect_refresh(c: httpx.AsyncClient, i: int) -> httpx.Response:
        r = await c.post(f"{AP}/auth/token/refresh/", json={"refresh": refresh["dialect"][i]})
        if r.status_code == 200:
            refresh["dialect"][i] = r.json()["refresh"]
        return r

    async def canonical_refresh(c: httpx.AsyncClient, i: int) -> httpx.Response:
        r = await c.post("/api/v1/auth/refresh", json={"refresh_token": refresh["canonical"][i]})
        if r.status_code == 200:
            refresh["canonical"][i] = r.json()["refresh_token"]
        return r

    async def dialect_role(c: httpx.AsyncClient, i: int) -> httpx.Response:
        roles["dialect"] += 1
        role = "trainer" if roles["dialect"] % 2 else "student"
        return await c.post(
            f"{AP}/users/update-role/", json={"role": role, "user_id": target}, headers=admin
        )

    async def canonical_role(c: httpx.AsyncClient, i: int) -> httpx.Response:
        roles["canonical"] += 1
        role = "teacher" if roles["canonical"] % 2 else "student"
        return await c.patch(f"/api/v1/admin/users/{target}", json={"role": role}, headers=admin)

    def get(path: str, headers: Callable[[int], dict[str, str]]) -> Request:
        async def send(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await c.get(path, headers=headers(i))

        return send

    def write(
        method: str, path: str, body: dict[str, object], headers: Callable[[int], dict[str, str]]
    ) -> Request:
        async def send(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await c.request(method, path, json=body, headers=headers(i))

        return send

    def teacher(_: int) -> dict[str, str]:
        return prof

    def nobody(_: int) -> dict[str, str]:
        return {}

    def per_student(method: str, path: str, body: dict[str, object] | None = None) -> Request:
        """A request naming the student's own id (`{user}`) or chat session (`{session}`)."""

        async def send(c: httpx.AsyncClient, i: int) -> httpx.Response:
            filled = path.format(user=students[i]["id"], session=sessions[i])
            sent = None
            if body is not None:
                sent = {
                    k: (
                        v.format(user=students[i]["id"], session=sessions[i])
                        if k.endswith("_id")
                        else v
                    )
                    for k, v in body.items()
                }
            return await c.request(method, filled, json=sent, headers=bearer(i))

        return send

    email = {"email": "nobody@example.org"}
    prompt = {"prompt_text": "What is refraction?", "llm_responses": ["Light bending."]}
    return [
        Pair(
            "subject-tutor",
            "read own profile",
            get(f"{ST}/users/me", bearer),
            get("/api/v1/users/me", bearer),
        ),
        Pair(
            "subject-tutor",
            "list subjects",
            get(f"{ST}/subjects", bearer),
            get("/api/v1/courses", bearer),
        ),
        Pair(
            "subject-tutor",
            "list chat sessions",
            get(f"{ST}/sessions", bearer),
            get("/api/v1/chat/sessions", bearer),
        ),
        Pair(
            "subject-tutor",
            "update own profile",
            write("PUT", f"{ST}/users/me", {"full_name": "Renamed Student"}, bearer),
            write("PATCH", "/api/v1/users/me", {"full_name": "Renamed Student"}, bearer),
        ),
        Pair(
            "subject-tutor",
            "update a subject",
            write("PUT", f"{ST}/subjects/{code}", {"description": "Updated"}, teacher),
            write("PATCH", f"/api/v1/courses/{course_id}", {"description": "Updated"}, teacher),
        ),
        Pair("bacmr", "health", get(f"{BM}/health", nobody), get("/health", nobody)),
        Pair("bacmr", "read own profile", get(f"{BM}/me", bearer), get("/api/v1/users/me", bearer)),
        Pair(
            "bacmr",
            "wallet balance",
            get(f"{BM}/wallet/balance", bearer),
            get("/api/v1/wallet", bearer),
        ),
        Pair(
            "bacmr",
            "list reservations",
            get(f"{BM}/wallet/reservations", bearer),
            get("/api/v1/wallet/reservations", bearer),
        ),
        Pair(
            "bacmr",
            "update own profile",
            write("PATCH", f"{BM}/me", {"full_name": "Renamed Student"}, bearer),
            write("PATCH", "/api/v1/users/me", {"full_name": "Renamed Student"}, bearer),
        ),
        Pair(
            "apranova",
            "read own profile",
            get(f"{AP}/users/profile/", bearer),
            get("/api/v1/users/me", bearer),
        ),
        Pair(
            "apranova",
            "check an email",
            write("POST", f"{AP}/users/check-email/", email, nobody),
            write("POST", "/api/v1/auth/check-email", email, nobody),
        ),
        Pair("apranova", "refresh tokens", dialect_refresh, canonical_refresh),
        Pair(
            "apranova",
            "log out (foreign token)",
            write("POST", f"{AP}/users/logout/", {"refresh": "not-a-token"}, bearer),
            write("POST", "/api/v1/auth/logout", {"refresh_token": "not-a-token"}, bearer),
        ),
        Pair("apranova", "change a role (admin)", dialect_role, canonical_role),
        Pair(
            "chat-prompts",
            "read own user",
            per_student("GET", f"{CP}/users/{{user}}"),
            get("/api/v1/users/me", bearer),
        ),
        Pair(
            "chat-prompts",
            "read own quota",
            per_student("GET", f"{CP}/users/{{user}}/quota"),
            get("/api/v1/wallet", bearer),
        ),
        Pair(
            "chat-prompts",
            "list own chat sessions",
            per_student("GET", f"{CP}/chat_sessions/user/{{user}}"),
            get("/api/v1/chat/sessions", bearer),
        ),
        Pair(
            "chat-prompts",
            "rename a chat session",
            per_student("PUT", f"{CP}/chat_sessions/{{session}}", {"title": "Renamed"}),
            per_student("PATCH", "/api/v1/chat/sessions/{session}", {"title": "Renamed"}),
        ),
        Pair(
            "chat-prompts",
            "store a prompt",
            per_student(
                "POST", f"{CP}/prompts/", {**prompt, "user_id": "{user}", "session_id": "{session}"}
            ),
            per_student("POST", "/api/v1/chat/sessions/{session}/prompts", prompt),
        ),
        Pair(
            "elearning",
            "read own profile",
            get(f"{EL}/users/me", bearer),
            get("/api/v1/users/me", bearer),
        ),
        Pair(
            "elearning",
            "read a course",
            get(f"{EL}/content/modules/{course_id}", bearer),
            get(f"/api/v1/courses/{course_id}", bearer),
        ),
        Pair(
            "elearning",
            "list own courses",
            get(f"{EL}/content/courses/my-courses", bearer),
            get("/api/v1/courses/enrolled", bearer),
        ),
        Pair(
            "elearning",
            "own progress in a course",
            get(f"{EL}/content/users_progress/course/{course_id}", bearer),
            get(f"/api/v1/courses/{course_id}/progress", bearer),
        ),
        Pair(
            "elearning",
            "update own names",
            write("PUT", f"{EL}/users/me", {"first_name": "Bench", "last_name": "Student"}, bearer),
            write(
                "PATCH",
                "/api/v1/users/me",
                {"given_name": "Bench", "family_name": "Student"},
                bearer,
            ),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--dialects", default="", help="Comma-separated dialect names to measure (default: all)"
    )
    args = parser.parse_args()
    if args.db == "postgres" and not postgres_available():
        raise SystemExit("PostgreSQL is not reachable (STUDYHALL_BENCH_POSTGRES_URL)")
    env = {
        # The bench measures translation, not the abuse limits: lift the per-IP limits.
        "STUDYHALL_RATE_LIMITS__CHECK_EMAIL_PER_IP": "100000000/minute",
        "STUDYHALL_RATE_LIMITS__REGISTER_PER_IP": "100000000/minute",
        "STUDYHALL_RATE_LIMITS__LOGIN_PER_IP": "100000000/minute",
    }
    with database(args.db) as url, server(url, extra_env=env, start_timeout_s=300) as srv:
        subprocess.run(
            [str(BIN / "studyhall"), "create-admin", "--email", ADMIN, "--password", PASSWORD],
            env=srv.env,
            check=True,
            capture_output=True,
        )
        pairs = asyncio.run(_setup(srv.base_url, args.concurrency))
        if args.dialects:
            wanted = {name.strip() for name in args.dialects.split(",")}
            pairs = [p for p in pairs if p.dialect in wanted]

        async def run() -> None:
            for _ in range(args.rounds):
                for pair in pairs:
                    dialect, canonical = await _pair_rates(
                        srv.base_url, pair, seconds=args.seconds, concurrency=args.concurrency
                    )
                    pair.rates["dialect"].append(dialect)
                    pair.rates["canonical"].append(canonical)

        asyncio.run(run())
    rows = [["dialect", "request", "dialect req/s", "canonical req/s", "dialect ÷ canonical"]]
    ratios = []
    for pair in pairs:
        d = statistics.median(pair.rates["dialect"])
        c = statistics.median(pair.rates["canonical"])
        ratios.append(d / c)
        rows.append([pair.dialect, pair.name, f"{d:.0f}", f"{c:.0f}", f"{d / c:.2f}"])
    print(
        f"db={args.db} concurrency={args.concurrency} rounds={args.rounds}x{args.seconds:.0f}s (median of rounds)"
    )
    print(table(rows))
    print(f"lowest ratio {min(ratios):.2f}, median ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
