"""The authenticated reads of issue 12 against a bare GET /health of the same server.

Starts the real server (uvicorn, `--workers`, default 1) on SQLite and on PostgreSQL, signs in a
student enrolled in a published course with one lesson, loads each URL from a separate process
at 64 connections and prints requests/s, p50/p99, errors and the ratio to /health measured just
before in the same server (the machine is shared: ratios are what compare across runs). The
last column checks issue 12's aim: ratio ≥ 0.4, zero errors and p99 under 100 ms.

    .venv/bin/python bench/api_throughput.py [--seconds 8] [--connections 64] [--workers 1,2]
        [--db sqlite,postgres] [--only me,wallet,courses,lesson]
        [--template http://127.0.0.1:8765 --template-pid PID]

`--template` also loads the FastAPI template's `/users/me` (full-stack-fastapi-template's backend,
started by you on this machine's PostgreSQL; its first superuser's credentials in
TEMPLATE_EMAIL/TEMPLATE_PASSWORD) and its health check beside StudyHall's, and prints
StudyHall's `/users/me` over the template's (issue 12: ≥ 5 at 16 connections).
"""

from __future__ import annotations

import argparse
import os
import subprocess

import httpx
from _harness import BIN, LoadResult, database, load, postgres_available, server, table

PASSWORD = "bench-password-123"
AIM_RATIO = 0.4
AIM_P99_MS = 100.0


def _login(http: httpx.Client, email: str) -> str:
    response = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def _student(base_url: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A student's token and the read paths: the student is enrolled in a published course
    that has a lesson, so each read takes the path a student's client takes."""
    subprocess.run(
        [
            str(BIN / "studyhall"),
            "create-admin",
            "--email",
            "bench@example.org",
            "--password",
            PASSWORD,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    with httpx.Client(base_url=base_url, timeout=30) as http:
        admin = {"Authorization": f"Bearer {_login(http, 'bench@example.org')}"}
        course = http.post(
            "/api/v1/courses",
            json={"title": "Bench course", "is_published": True, "description": "x" * 200},
            headers=admin,
        )
        course.raise_for_status()
        course_id = course.json()["id"]
        lesson = http.post(
            f"/api/v1/courses/{course_id}/lessons",
            json={"title": "Bench lesson", "content": "Some *markdown*.\n" * 100},
            headers=admin,
        )
        lesson.raise_for_status()
        http.post(
            "/api/v1/admin/users",
            json={
                "email": "student@example.org",
                "password": PASSWORD,
                "full_name": "Bench Student",
                "role": "student",
                "is_verified": True,
            },
            headers=admin,
        ).raise_for_status()
        token = _login(http, "student@example.org")
        student = {"Authorization": f"Bearer {token}"}
        http.post(f"/api/v1/courses/{course_id}/enroll", headers=student).raise_for_status()
        paths = {
            "me": "/api/v1/users/me",
            "wallet": "/api/v1/wallet",
            "courses": "/api/v1/courses",
            "lesson": f"/api/v1/lessons/{lesson.json()['id']}",
        }
        for path in paths.values():  # warm-up: wallet created, caches built, all answer 200
            http.get(path, headers=student).raise_for_status()
    return token, paths


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of the server process and its workers, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            pids += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    total = 0
    for each in pids:
        try:
            with open(f"/proc/{each}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _loaded(
    url: str, pid: int, args: argparse.Namespace, headers: dict[str, str]
) -> tuple[LoadResult, float]:
    """Load one URL; also the server's CPU milliseconds per request, a figure that moves much
    less with the machine's load than requests/s."""
    before = _cpu_s(pid)
    result = load(url, headers=headers, connections=args.connections, seconds=args.seconds)
    requests = result.rps * args.seconds
    return result, (_cpu_s(pid) - before) * 1000 / requests if requests else 0.0


def _row(
    kind: str, workers: int, name: str, measured: tuple[LoadResult, float], health: LoadResult
) -> list[str]:
    result, cpu_ms = measured
    cpu = f"{cpu_ms:.2f}"
    if result is health:
        return [
            kind,
            str(workers),
            name,
            f"{result.rps:,.0f}",
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            str(result.errors),
            cpu,
            "",
            "",
        ]
    ratio = result.rps / health.rps if health.rps else 0.0
    met = ratio >= AIM_RATIO and result.errors == 0 and result.p99_ms < AIM_P99_MS
    return [
        kind,
        str(workers),
        name,
        f"{result.rps:,.0f}",
        f"{result.p50_ms:.1f}",
        f"{result.p99_ms:.1f}",
        str(result.errors),
        cpu,
        f"{ratio:.2f}",
        "met" if met else "NOT met",
    ]


def _template(
    args: argparse.Namespace,
) -> tuple[tuple[LoadResult, float], tuple[LoadResult, float]]:
    """The template's health check and `/users/me`, signed in as its first superuser."""
    with httpx.Client(base_url=args.template, timeout=30) as http:
        response = http.post(
            "/api/v1/login/access-token",
            data={
                "username": os.environ["TEMPLATE_EMAIL"],
                "password": os.environ["TEMPLATE_PASSWORD"],
            },
        )
        response.raise_for_status()
        auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
    health = _loaded(args.template + "/api/v1/utils/health-check/", args.template_pid, args, {})
    return health, _loaded(args.template + "/api/v1/users/me", args.template_pid, args, auth)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", default="1", help="comma-separated, e.g. 1,2")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--only", default="me,wallet,courses,lesson")
    parser.add_argument("--template", default="", help="base URL of a running template backend")
    parser.add_argument("--template-pid", type=int, default=0, help="its process, for CPU/req")
    args = parser.parse_args()
    if args.template and not args.template_pid:
        parser.error(
            "--template needs --template-pid (the uvicorn process, for its CPU per request)"
        )
    kinds = [k for k in args.db.split(",") if k != "postgres" or postgres_available()]
    wanted = args.only.split(",")
    header = ["db", "workers", "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req"]
    rows = [[*header, "÷ /health", f"aim (≥ {AIM_RATIO}, p99 < {AIM_P99_MS:.0f} ms, 0 errors)"]]
    tool = "?"
    for kind in kinds:
        for workers in (int(w) for w in args.workers.split(",")):
            with database(kind) as url, server(url, workers=workers, start_timeout_s=300) as srv:
                token, paths = _student(srv.base_url, srv.env)
                auth = {"Authorization": f"Bearer {token}"}
                for name in wanted:
                    # /health just before each read: both share the machine's load of the moment.
                    pid = srv.process.pid
                    health = _loaded(srv.base_url + "/health", pid, args, {})
                    result = _loaded(srv.base_url + paths[name], pid, args, auth)
                    tool = result[0].tool
                    label = (
                        paths[name].rsplit("/", 1)[0] + "/{id}" if name == "lesson" else paths[name]
                    )
                    rows += [
                        _row(kind, workers, "/health", health, health[0]),
                        _row(kind, workers, label, result, health[0]),
                    ]
    template_me = 0.0
    if args.template:
        health, me = _template(args)
        template_me = me[0].rps
        rows += [
            _row("template", 1, "/utils/health-check/", health, health[0]),
            _row("template", 1, "/api/v1/users/me", me, health[0]),
        ]
    print(f"load tool: {tool}, {args.connections} connections, {args.seconds:.0f} s per run")
    print(f"load average before printing: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(table(rows))
    if template_me:
        for row in rows[1:]:
            if row[0] != "template" and row[2] == "/api/v1/users/me":
                ratio = float(row[3].replace(",", "")) / template_me
                print(
                    f"{row[0]} /users/me ÷ the template's: {ratio:.2f} (aim ≥ 5 at 16 connections)"
                )


if __name__ == "__main__":
    main()
